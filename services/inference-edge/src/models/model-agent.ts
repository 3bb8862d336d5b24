import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type DesiredModel,
  type DesiredState,
  desiredStateSchema,
  enrolResultSchema,
  type ModelHealth,
  type NodeHealthReport,
  verifyModelSignature,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { EdgeError, isEdgeError } from '../errors.ts';
import type { LoadedModel } from '../inference/messages.ts';
import { downloadBlob } from './blob-download.ts';
import { readEventStream } from './event-stream.ts';
import type { ModelCache } from './model-cache.ts';
import type { ModelHealthTracker } from './model-health.ts';

/** What the agent needs of the inference pool: the live models and a hot swap. */
export interface SwappablePool {
  readonly models: readonly LoadedModel[];
  readonly modelDirs: Readonly<Record<string, string>>;
  swapModel(name: string, dir: string): Promise<{ previous: string | undefined; current: LoadedModel }>;
}

export interface ModelAgentOptions {
  hubUrl: string;
  nodeId: string;
  storeId: string;
  nodePool?: string | undefined;
  labels?: Record<string, string> | undefined;
  /** A node token; else the one kept in `tokenFile`; else one enrolled with `enrolmentToken`. */
  token?: string | undefined;
  enrolmentToken?: string | undefined;
  /** Where an enrolled node token is kept (mode 0600). */
  tokenFile: string;
  /** The pinned hub public key (PEM): nothing it has not signed is downloaded into the cache or loaded. */
  publicKeyPem: string;
  cache: ModelCache;
  pool: SwappablePool;
  /** The models this node runs; desired versions of other models are ignored. */
  models: readonly string[];
  health: ModelHealthTracker;
  logger: Logger;
  /** Long-poll wait of `GET /v1/nodes/{id}/models`. @defaultValue 30 s */
  waitSeconds?: number;
  /**
   * Learn of changes over the hub's push channel (`GET /v1/nodes/{id}/models/events`, SSE) first,
   * long-polling only when it is unavailable. @defaultValue true
   */
  push?: boolean;
  /**
   * A push stream that brings no byte (not even the hub's 15 s heartbeat) for this long is taken
   * for one a proxy buffers: the agent long-polls instead. @defaultValue 45 s
   */
  pushIdleTimeoutMs?: number;
  /** After the push channel proved unavailable, how long to long-poll before trying it again. @defaultValue 5 min */
  pushRetryAfterMs?: number;
  /** Health report period. @defaultValue 10 s */
  healthIntervalMs?: number;
  /** Longest wait between tries while the hub is unreachable. @defaultValue 30 s */
  maxBackoffMs?: number;
  /** Swap outcomes, for metrics. */
  onSwap?: (model: string, outcome: 'switched' | 'failed') => void;
  fetch?: typeof fetch;
}

interface Failure {
  version: string;
  code: string;
  message: string;
}

/** The push channel cannot be used from here (older hub, a proxy in the way): long-poll instead. */
class PushUnavailable extends Error {}

/**
 * The edge's model agent: keeps the models this node runs at the versions the hub wants.
 *
 * It learns its desired state over the hub's push channel — one long-lived server-sent-event
 * stream (`GET /v1/nodes/{id}/models/events`) that sends the state on connect and again the moment
 * it changes, resumed with `Last-Event-ID` (the ETag) so a reconnect misses nothing — and falls
 * back to long-polling (`GET /v1/nodes/{id}/models`, `If-None-Match` + `?wait=`) when the stream is
 * unavailable: a hub without the route (404), an answer that is not an event stream (a proxy that
 * rewrites it), or a stream where not even the hub's heartbeat arrives (a proxy that buffers it).
 * It tries the stream again after `pushRetryAfterMs`. For every
 * model whose desired version is not live: checks the hub's ed25519 signature with the pinned key,
 * downloads the file with resume (unless cached), checks its sha256, installs it in the cache
 * atomically, then has the inference pool load and warm it up on every thread and switch (frames
 * in flight finish on the old version). A version that fails any step is not switched in: the
 * previous one keeps serving, and the failure goes into the next health report (which the hub's
 * rollout reads to stop and roll back). It does not retry a failed version until the desired
 * version changes. Health (per-version runs, error rate, p50/p99) is reported after every change
 * and every `healthIntervalMs`.
 */
export class ModelAgent {
  readonly #o: ModelAgentOptions;
  readonly #log: Logger;
  readonly #fetch: typeof fetch;
  readonly #failures = new Map<string, Failure>();
  /** Package folders of versions this node has run (bundled, cached), for switches without a download. */
  readonly #knownDirs = new Map<string, string>();
  #loading = new Set<string>();
  #token: string | undefined;
  #etag: string | undefined;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #reconciling: Promise<void> = Promise.resolve();
  /** Until when the push channel is not tried (it proved unavailable). */
  #pollUntil = 0;
  #channel: 'push' | 'poll' | undefined;
  /** The newest state pushed and not yet applied; applied one at a time, the newest wins. */
  #pushed: DesiredState | undefined;
  #applying: Promise<void> | undefined;

  constructor(opts: ModelAgentOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'model-agent' });
    this.#fetch = opts.fetch ?? fetch;
    this.#token = opts.token;
  }

  /** Starts syncing and reporting; returns at once. */
  start(): void {
    if (this.#loop || this.#closed) return;
    this.#remember();
    this.#loop = this.#run();
    this.#timer = setInterval(
      () => void this.reportHealth().catch((err) => this.#log.debug({ err }, 'health report failed')),
      this.#o.healthIntervalMs ?? 10_000,
    );
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#abort.abort();
    await this.#loop?.catch(() => {});
    await this.#applying?.catch(() => {});
    await this.#reconciling.catch(() => {});
  }

  /** How the agent last learned its desired state: the push stream or the long-poll. */
  get channel(): 'push' | 'poll' | undefined {
    return this.#channel;
  }

  /** Failures by model (the version that failed and why). */
  get failures(): ReadonlyMap<string, Failure> {
    return this.#failures;
  }

  async #run(): Promise<void> {
    let backoff = 500;
    await this.reportHealth().catch((err) => this.#log.debug({ err }, 'first health report failed'));
    while (!this.#closed) {
      try {
        if ((this.#o.push ?? true) && Date.now() >= this.#pollUntil) {
          const retryMs = await this.#stream();
          backoff = 500;
          // The hub ended the stream (it is restarting, or a proxy cut it): reconnect as it asked.
          if (!this.#closed) await sleep(retryMs, this.#abort.signal);
          continue;
        }
        this.#channel = 'poll';
        const changed = await this.syncOnce(this.#o.waitSeconds ?? 30);
        if (changed)
          await this.reportHealth().catch((err) => this.#log.debug({ err }, 'health report failed'));
        backoff = 500;
      } catch (err) {
        if (this.#closed) return;
        if (err instanceof PushUnavailable) {
          const ms = this.#o.pushRetryAfterMs ?? 300_000;
          this.#pollUntil = Date.now() + ms;
          this.#log.warn(
            { reason: err.message, retryPushInMs: ms },
            'push channel unavailable; long-polling',
          );
          continue;
        }
        this.#log.warn({ err }, 'model sync failed; keeping the models this node has');
        await sleep(backoff + Math.random() * backoff, this.#abort.signal);
        backoff = Math.min(backoff * 2, this.#o.maxBackoffMs ?? 30_000);
      }
    }
  }

  /**
   * One push stream: applies every desired state it brings until the hub ends it (resolves the
   * reconnection delay the hub asked for) or it fails. Throws `PushUnavailable` when the stream
   * cannot work from here, and the usual `EDGE_ERR_HUB_UNREACHABLE` when the hub cannot be reached.
   */
  async #stream(): Promise<number> {
    const route = `/v1/nodes/${encodeURIComponent(this.#o.nodeId)}/models/events`;
    const idleMs = this.#o.pushIdleTimeoutMs ?? 45_000;
    const abort = new AbortController();
    const onClose = () => abort.abort();
    this.#abort.signal.addEventListener('abort', onClose, { once: true });
    let idle = false;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        idle = true;
        abort.abort();
      }, idleMs);
    };
    let retryMs = 3000;
    try {
      arm();
      let res: Response;
      try {
        res = await this.#fetch(`${this.#o.hubUrl}${route}`, {
          headers: {
            accept: 'text/event-stream',
            ...(this.#etag ? { 'last-event-id': this.#etag } : {}),
            ...(await this.#auth()),
          },
          signal: abort.signal,
        });
      } catch (err) {
        if (idle) throw new PushUnavailable(`no answer to ${route} within ${idleMs} ms`);
        throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `GET ${route}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      // A hub without the push channel, or something in between that does not pass it through.
      if ([404, 405, 406, 501].includes(res.status)) {
        await res.body?.cancel().catch(() => {});
        throw new PushUnavailable(`GET ${route}: HTTP ${res.status}`);
      }
      if (res.status >= 400) {
        const text = await res.text().catch(() => '');
        if (res.status === 401 && !this.#o.token) this.#token = undefined;
        throw new EdgeError(
          'EDGE_ERR_HUB_UNREACHABLE',
          `GET ${route}: HTTP ${res.status} ${text.slice(0, 300)}`,
        );
      }
      const type = res.headers.get('content-type') ?? '';
      if (!res.body || !/^text\/event-stream/i.test(type)) {
        await res.body?.cancel().catch(() => {});
        throw new PushUnavailable(`GET ${route}: answered ${type || 'no content type'}, not an event stream`);
      }
      try {
        for await (const ev of readEventStream(res.body as unknown as AsyncIterable<Uint8Array>, {
          onBytes: arm,
          onRetry: (ms) => {
            retryMs = ms;
          },
        })) {
          if (ev.event !== 'desired-state') continue;
          const desired = desiredStateSchema.parse(JSON.parse(ev.data));
          if (this.#channel !== 'push')
            this.#log.info({ hub: this.#o.hubUrl }, 'model sync over the push channel');
          this.#channel = 'push';
          this.#pushed = desired;
          void this.#applyPushed();
        }
      } catch (err) {
        if (idle) throw new PushUnavailable(`no byte on the stream for ${idleMs} ms (a proxy buffering it?)`);
        if (this.#closed) return retryMs;
        throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `GET ${route}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      return retryMs;
    } finally {
      clearTimeout(watchdog);
      this.#abort.signal.removeEventListener('abort', onClose);
      abort.abort();
    }
  }

  /** Applies pushed states one at a time, always the newest; reports health after each. */
  #applyPushed(): Promise<void> {
    this.#applying ??= (async () => {
      try {
        for (let d = this.#pushed; d; d = this.#pushed) {
          this.#pushed = undefined;
          try {
            await this.reconcile(d);
            // The ETag this node has applied: sent as Last-Event-ID and If-None-Match from now on.
            this.#etag = d.etag;
          } catch (err) {
            this.#log.warn({ err }, 'pushed desired state not applied; keeping the models this node has');
          }
          await this.reportHealth().catch((err) => this.#log.debug({ err }, 'health report failed'));
        }
      } finally {
        this.#applying = undefined;
      }
    })();
    return this.#applying;
  }

  /**
   * One desired-state request (long-polled for `waitSeconds`) and, when it changed, one
   * reconciliation. Returns whether anything changed.
   */
  async syncOnce(waitSeconds = 0): Promise<boolean> {
    const res = await this.#request(
      'GET',
      `/v1/nodes/${encodeURIComponent(this.#o.nodeId)}/models${waitSeconds > 0 ? `?wait=${waitSeconds}` : ''}`,
      undefined,
      this.#etag ? { 'if-none-match': this.#etag } : {},
    );
    if (res.status === 304) return false;
    const desired = desiredStateSchema.parse(await res.json());
    await this.reconcile(desired);
    this.#etag = res.headers.get('etag') ?? desired.etag;
    return true;
  }

  /** Brings the live models to `desired` (one reconciliation at a time). */
  reconcile(desired: DesiredState): Promise<void> {
    const run = this.#reconciling.then(() => this.#reconcile(desired));
    this.#reconciling = run.catch(() => {});
    return run;
  }

  async #reconcile(desired: DesiredState): Promise<void> {
    for (const d of desired.models) {
      if (!this.#o.models.includes(d.name)) {
        this.#log.debug({ model: d.name }, 'desired model not run by this node; ignored');
        continue;
      }
      const live = this.#o.pool.models.find((m) => m.name === d.name)?.version;
      if (live === d.version) {
        this.#failures.delete(d.name);
        continue;
      }
      if (this.#failures.get(d.name)?.version === d.version) continue;
      try {
        this.#loading.add(d.name);
        await this.#switch(d);
        this.#failures.delete(d.name);
        this.#o.onSwap?.(d.name, 'switched');
      } catch (err) {
        const code = isEdgeError(err) ? err.code : 'EDGE_ERR_INTERNAL';
        const message = (err as Error).message;
        this.#failures.set(d.name, { version: d.version, code, message });
        this.#o.onSwap?.(d.name, 'failed');
        this.#log.error(
          { model: d.name, version: d.version, code, err },
          'model version refused; previous kept',
        );
      } finally {
        this.#loading.delete(d.name);
      }
    }
    await this.#evict(desired).catch((err) => this.#log.warn({ err }, 'cache eviction failed'));
  }

  async #switch(d: DesiredModel): Promise<void> {
    const key = `${d.name}@${d.version}`;
    // The signature covers name, version, digest and manifest: check it before any byte is fetched.
    if (!verifyModelSignature(this.#o.publicKeyPem, d))
      throw new EdgeError('EDGE_ERR_MODEL_SIGNATURE_INVALID', key);
    let dir = this.#knownDirs.get(key);
    if (!dir || !(await this.#o.cache.has(d.name, d.version))) {
      dir = (await this.#o.cache.has(d.name, d.version))
        ? this.#o.cache.entryDir(d.name, d.version)
        : await this.#download(d);
    }
    const t0 = performance.now();
    const { previous, current } = await this.#o.pool.swapModel(d.name, dir);
    this.#knownDirs.set(key, dir);
    if (dir.startsWith(this.#o.cache.dir)) await this.#o.cache.setActive(d.name, d.version);
    this.#o.health.retain(d.name, [current.version, ...(previous ? [previous] : [])]);
    this.#log.info(
      { model: d.name, from: previous, to: current.version, switchMs: Math.round(performance.now() - t0) },
      'model version live',
    );
  }

  async #download(d: DesiredModel): Promise<string> {
    const partial = this.#o.cache.partialPath(d.digest);
    await mkdir(path.dirname(partial), { recursive: true });
    const r = await downloadBlob({
      url: `${this.#o.hubUrl}/v1/blobs/${d.digest}`,
      headers: await this.#auth(),
      digest: d.digest,
      sizeBytes: d.sizeBytes,
      partialFile: partial,
      signal: this.#abort.signal,
      fetch: this.#fetch,
    });
    this.#log.info({ model: d.name, version: d.version, ...r }, 'model version downloaded');
    return this.#o.cache.install(d, partial);
  }

  /** Keeps the live, previous and desired versions; evicts the least recently used others over the limit. */
  async #evict(desired: DesiredState): Promise<void> {
    const keep = new Set<string>();
    const s = this.#o.cache.state;
    for (const m of this.#o.pool.models) keep.add(`${m.name}@${m.version}`);
    for (const [n, v] of Object.entries(s.previous)) keep.add(`${n}@${v}`);
    for (const [n, v] of Object.entries(s.active)) keep.add(`${n}@${v}`);
    for (const d of desired.models) keep.add(`${d.name}@${d.version}`);
    await this.#o.cache.evict(keep);
  }

  /** The per-model health this node reports to the hub. */
  healthReport(): NodeHealthReport {
    const models: ModelHealth[] = this.#o.pool.models
      .filter((m) => this.#o.models.includes(m.name))
      .map((m) => {
        const h = this.#o.health.get(m.name, m.version);
        const failure = this.#failures.get(m.name);
        return {
          name: m.name,
          version: m.version,
          state: this.#loading.has(m.name) ? 'loading' : failure ? 'failed' : 'ready',
          ...h,
          ...(failure
            ? {
                failedVersion: failure.version,
                error: { code: failure.code, message: failure.message.slice(0, 500) },
              }
            : {}),
        };
      });
    return {
      storeId: this.#o.storeId,
      ...(this.#o.nodePool ? { nodePool: this.#o.nodePool } : {}),
      ...(this.#o.labels ? { labels: this.#o.labels } : {}),
      models,
    };
  }

  async reportHealth(): Promise<void> {
    if (this.#o.pool.models.length === 0) return;
    await this.#request('PUT', `/v1/nodes/${encodeURIComponent(this.#o.nodeId)}/health`, this.healthReport());
  }

  #remember(): void {
    for (const m of this.#o.pool.models) {
      const dir = this.#o.pool.modelDirs[m.name];
      if (dir) this.#knownDirs.set(`${m.name}@${m.version}`, dir);
    }
  }

  async #auth(): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await this.#ensureToken()}` };
  }

  /** The node token: configured, kept from an earlier enrolment, or enrolled now. */
  async #ensureToken(): Promise<string> {
    if (this.#token) return this.#token;
    const kept = await readFile(this.#o.tokenFile, 'utf8').then(
      (t) => t.trim() || undefined,
      () => undefined,
    );
    if (kept) {
      this.#token = kept;
      return kept;
    }
    if (!this.#o.enrolmentToken)
      throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', 'no hub token: set hubToken or hubEnrolmentToken');
    const res = await this.#send('POST', '/v1/nodes/enrol', {
      enrolmentToken: this.#o.enrolmentToken,
      nodeId: this.#o.nodeId,
      storeId: this.#o.storeId,
      ...(this.#o.nodePool ? { nodePool: this.#o.nodePool } : {}),
      ...(this.#o.labels ? { labels: this.#o.labels } : {}),
    });
    const { token } = enrolResultSchema.parse(await res.json());
    await mkdir(path.dirname(this.#o.tokenFile), { recursive: true });
    const tmp = `${this.#o.tokenFile}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, `${token}\n`, { mode: 0o600 });
    await rename(tmp, this.#o.tokenFile);
    this.#log.info({ hub: this.#o.hubUrl }, 'enrolled with the hub');
    this.#token = token;
    return token;
  }

  async #request(
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return this.#send(method, route, body, { ...headers, ...(await this.#auth()) });
  }

  async #send(
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.#o.hubUrl}${route}`, {
        method,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: this.#abort.signal,
      });
    } catch (err) {
      throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `${method} ${route}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (res.status >= 400) {
      const text = await res.text().catch(() => '');
      // A revoked or unknown token: forget it, so an enrolment token (if any) can enrol again.
      if (res.status === 401 && !this.#o.token) this.#token = undefined;
      throw new EdgeError(
        'EDGE_ERR_HUB_UNREACHABLE',
        `${method} ${route}: HTTP ${res.status} ${text.slice(0, 300)}`,
      );
    }
    return res;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
