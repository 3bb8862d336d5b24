import {
  CoreV1Api,
  type KubeConfig,
  ListWatch,
  type V1Node,
  type V1NodeList,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OrchestratorMetrics } from '../metrics.ts';

export type NodeEventType = 'add' | 'update' | 'delete';

export interface NodeInformerOptions {
  kubeConfig: KubeConfig;
  /** Only these Nodes (a label selector, e.g. `apps.openyurt.io/nodepool`); empty: all. */
  labelSelector?: string | undefined;
  logger: Logger;
  metrics: OrchestratorMetrics;
  /** First wait before a failed list/watch is started again; doubles up to 30 s. @defaultValue 500 ms */
  restartDelayMs?: number;
  /** Longest life of one watch request, asked of the server (`timeoutSeconds`). @defaultValue 5–10 min, random */
  watchTimeoutSeconds?: () => number;
}

/**
 * The cluster's Nodes, through `@kubernetes/client-node`'s informer (`ListWatch`): one list, then
 * a watch from the list's resourceVersion — never polling. The informer keeps the cache, replays a
 * re-list as add/update/delete of what changed, and re-lists by itself when the server says the
 * resourceVersion is too old (410 Gone / `Expired`).
 *
 * Two things the informer does not do by itself, done here:
 * - It gives up on any other failure (a reset connection, a 5xx, the API server restarting): it
 *   reports an `error` and stops. We start it again with exponential back-off; it resumes the
 *   watch from its last resourceVersion, or re-lists when that has expired, so no change is lost.
 * - It does not ask for bookmarks, so after a quiet hour its resourceVersion may be too old to
 *   resume from and every reconnect would re-list. The watch here asks for them
 *   (`allowWatchBookmarks=true`), bounds each request with `timeoutSeconds` as client-go's
 *   reflector does, and aborts a stream that outlives that by 30 s (a half-open connection
 *   would otherwise be waited on forever).
 */
export class NodeInformer {
  readonly #o: NodeInformerOptions;
  readonly #informer: ListWatch<V1Node>;
  readonly #listeners = new Set<(type: NodeEventType, node: V1Node) => void>();
  #synced = false;
  #lastError: unknown;
  #restartDelay: number;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Re-lists done (the first one included). */
  lists = 0;

  constructor(opts: NodeInformerOptions) {
    this.#o = opts;
    this.#restartDelay = opts.restartDelayMs ?? 500;
    const api = opts.kubeConfig.makeApiClient(CoreV1Api);
    const selector = opts.labelSelector || undefined;
    const list = async (): Promise<V1NodeList> => {
      const result = await api.listNode(selector ? { labelSelector: selector } : {});
      this.lists++;
      this.#synced = true;
      this.#restartDelay = opts.restartDelayMs ?? 500;
      opts.metrics.k8sLists.inc({ resource: 'nodes' });
      return result;
    };
    const watch = new BookmarkingWatch(opts.kubeConfig, opts.watchTimeoutSeconds ?? randomWatchTimeout);
    this.#informer = new ListWatch<V1Node>('/api/v1/nodes', watch, list, false, selector);
    for (const type of ['add', 'update', 'delete'] as const)
      this.#informer.on(type, (node) => {
        opts.metrics.k8sNodeEvents.inc({ type });
        this.#restartDelay = opts.restartDelayMs ?? 500;
        for (const l of this.#listeners) l(type, node);
      });
    this.#informer.on('error', (err) => this.#onError(err));
  }

  /** Listens to Node changes (a re-list reports what changed while nobody watched). */
  onChange(listener: (type: NodeEventType, node: V1Node) => void): void {
    this.#listeners.add(listener);
  }

  /** Starts the list + watch; resolves once the first list is in the cache, rejects after `timeoutMs`. */
  async start(timeoutMs = 30_000): Promise<void> {
    void this.#informer.start();
    const deadline = Date.now() + timeoutMs;
    while (!this.#synced) {
      if (this.#closed) throw new Error('node informer closed before its first list');
      if (Date.now() > deadline)
        throw new Error(
          `could not list Kubernetes Nodes in ${timeoutMs} ms: ${describe(this.#lastError) || 'no answer'}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  get(name: string): V1Node | undefined {
    return this.#informer.get(name);
  }

  list(): readonly V1Node[] {
    return this.#informer.list();
  }

  /** The resourceVersion the informer would resume its watch from. */
  resourceVersion(): string {
    return this.#informer.latestResourceVersion();
  }

  #onError(err: unknown): void {
    if (this.#closed) return;
    this.#lastError = err;
    this.#o.metrics.k8sWatchRestarts.inc();
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(delay * 2, 30_000);
    this.#o.logger.warn(
      { err: describe(err), retryInMs: delay, resourceVersion: this.resourceVersion() },
      'Kubernetes Node list/watch failed; starting it again',
    );
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (!this.#closed) void this.#informer.start();
    }, delay);
    this.#restartTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    await this.#informer.stop();
  }
}

/** client-go's reflector: a watch lasts a random 5–10 minutes, then is resumed from its resourceVersion. */
const randomWatchTimeout = () => 300 + Math.floor(Math.random() * 300);

/** The library's Watch, asking for bookmarks and a server-side timeout, with a client-side watchdog. */
class BookmarkingWatch extends Watch {
  readonly #timeoutSeconds: () => number;

  constructor(kc: KubeConfig, timeoutSeconds: () => number) {
    super(kc);
    this.#timeoutSeconds = timeoutSeconds;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const timeoutSeconds = this.#timeoutSeconds();
    let controller: AbortController | undefined;
    let expired = false;
    const watchdog = setTimeout(
      () => {
        expired = true;
        controller?.abort();
      },
      (timeoutSeconds + 30) * 1000,
    );
    watchdog.unref();
    controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
      callback,
      (err) => {
        clearTimeout(watchdog);
        done(err);
      },
    );
    if (expired) controller.abort();
    return controller;
  }
}

function describe(err: unknown): string {
  if (!err) return '';
  const e = err as { message?: string; statusCode?: number; code?: number | string };
  return (
    [e.statusCode ?? e.code, e.message].filter((x) => x !== undefined && x !== '').join(' ') || String(err)
  );
}
