import { createHash } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';
import { type NodeAssignment, nodeAssignmentSchema } from '@storevision/contracts';
import type { Logger } from 'pino';
import type { OrchestratorMetrics } from '../metrics.ts';

/** Labels and keys of the assignment ConfigMaps (documented in the README). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'storevision-orchestrator';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const COMPONENT = 'node-assignment';
/** The set of ConfigMaps one orchestrator owns (its name prefix): two releases in a namespace never touch each other's. */
export const SET_LABEL = 'storevision.io/assignment-set';
export const NODE_LABEL = 'storevision.io/node';
export const STORE_LABEL = 'storevision.io/store';
export const VERSION_ANNOTATION = 'storevision.io/assignment-version';
export const NODE_ANNOTATION = 'storevision.io/node';
export const DATA_KEY = 'assignment.json';

export interface AssignmentConfigMapsOptions {
  api: CoreV1Api;
  namespace: string;
  /** ConfigMap names are `<prefix>-<node>`. */
  prefix: string;
  logger: Logger;
  metrics: OrchestratorMetrics;
  /** The node's Node object (for the ownerReference); no Node, no ConfigMap. */
  owner: (nodeId: string) => { name: string; uid: string } | undefined;
  /** Conflicts (409) one write resolves by re-reading before it gives up and retries later. @defaultValue 8 */
  maxConflicts?: number;
  /** First wait after a failed write; doubles up to 30 s. @defaultValue 250 ms */
  retryDelayMs?: number;
}

interface NodeState {
  /** What the ConfigMap should say; null: it should not exist. */
  desired: NodeAssignment | null;
  /** The desired state last written (identity). */
  done: NodeAssignment | null | undefined;
  /** The ConfigMap as last read or written; null: known not to exist; undefined: unknown. */
  cm: V1ConfigMap | null | undefined;
  running: Promise<void> | undefined;
}

/**
 * The placement output as Kubernetes objects: one ConfigMap per node, `<prefix>-<node>` in the
 * orchestrator's namespace, holding the node's assignment (`data["assignment.json"]`, the same
 * JSON as `GET /v1/nodes/{node}/assignment`), labelled as ours, and owned by the Node object (the
 * garbage collector removes it with the Node).
 *
 * Writes use optimistic concurrency: an update carries the `resourceVersion` we last saw; when
 * someone else changed the object since (a 409 Conflict), it is read again, our part is applied
 * to what is there (labels and data keys of others are kept) and written again. A create that
 * loses a race (409 AlreadyExists) turns into that read-and-update. Writes of one node are
 * serialised and coalesced — only the newest assignment is written — and failures other than
 * conflicts are retried with back-off until they succeed or a newer assignment replaces them.
 */
export class AssignmentConfigMaps {
  readonly #o: AssignmentConfigMapsOptions;
  readonly #nodes = new Map<string, NodeState>();
  #loaded = false;
  #closed = false;

  constructor(opts: AssignmentConfigMapsOptions) {
    this.#o = opts;
  }

  get selector(): string {
    return `${MANAGED_BY_LABEL}=${MANAGED_BY},${SET_LABEL}=${this.#o.prefix}`;
  }

  /** The ConfigMap name of a node. */
  name(nodeId: string): string {
    return configMapName(this.#o.prefix, nodeId);
  }

  /**
   * Reads the ConfigMaps this orchestrator wrote before (a restart): their assignments, so the
   * versions go on from where they were, and their resourceVersions, so the next write is an
   * update without a read.
   */
  async load(): Promise<Map<string, NodeAssignment>> {
    const { api, namespace } = this.#o;
    const list = await api.listNamespacedConfigMap({ namespace, labelSelector: this.selector });
    const out = new Map<string, NodeAssignment>();
    for (const cm of list.items) {
      const nodeId = cm.metadata?.annotations?.[NODE_ANNOTATION];
      if (!nodeId || cm.metadata?.name !== this.name(nodeId)) continue;
      this.#state(nodeId).cm = cm;
      const parsed = nodeAssignmentSchema.safeParse(safeJson(cm.data?.[DATA_KEY]));
      if (parsed.success) out.set(nodeId, parsed.data);
    }
    this.#loaded = true;
    return out;
  }

  /** Writes (eventually) the node's newest assignment. */
  publish(a: NodeAssignment): void {
    const st = this.#state(a.nodeId);
    st.desired = a;
    this.#kick(a.nodeId, st);
  }

  /** Deletes (eventually) the node's ConfigMap (its Node was deleted). */
  remove(nodeId: string): void {
    const st = this.#state(nodeId);
    st.desired = null;
    this.#kick(nodeId, st);
  }

  /** Waits until every write in progress has ended (tests; shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#nodes.values()].map((s) => s.running).filter(Boolean);
      if (!running.length) return;
      await Promise.all(running);
    }
  }

  async close(timeoutMs = 5000): Promise<void> {
    const idle = this.idle();
    await Promise.race([idle, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.#closed = true;
  }

  #state(nodeId: string): NodeState {
    let st = this.#nodes.get(nodeId);
    if (!st) {
      st = { desired: null, done: null, cm: this.#loaded ? null : undefined, running: undefined };
      this.#nodes.set(nodeId, st);
    }
    return st;
  }

  #kick(nodeId: string, st: NodeState): void {
    if (st.running || this.#closed) return;
    st.running = this.#run(nodeId, st).finally(() => {
      st.running = undefined;
      // a publish that came while the last attempt's result was being recorded
      if (st.desired !== st.done && !this.#closed) this.#kick(nodeId, st);
    });
  }

  async #run(nodeId: string, st: NodeState): Promise<void> {
    let delay = this.#o.retryDelayMs ?? 250;
    while (st.desired !== st.done && !this.#closed) {
      const target = st.desired;
      try {
        await this.#write(nodeId, st, target);
        st.done = target;
        delay = this.#o.retryDelayMs ?? 250;
      } catch (err) {
        this.#o.metrics.k8sConfigMapWrites.inc({ result: 'error' });
        this.#o.logger.warn(
          { err: errText(err), nodeId, configMap: this.name(nodeId), retryInMs: delay },
          'could not write the node assignment ConfigMap; retrying',
        );
        st.cm = undefined; // read it again next time: we no longer know what is there
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  /** One desired state, written with as many conflict rounds as it takes (up to `maxConflicts`). */
  async #write(nodeId: string, st: NodeState, a: NodeAssignment | null): Promise<void> {
    const { api, namespace, metrics } = this.#o;
    const name = this.name(nodeId);
    const count = (result: string) => metrics.k8sConfigMapWrites.inc({ result });
    const owner = a ? this.#o.owner(nodeId) : undefined;
    if (a && !owner) {
      // Only an edge whose Node object is gone (or never existed) gets here: nothing would own
      // the ConfigMap, and the edge is not planned anyway. Written once its Node appears.
      this.#o.logger.debug({ nodeId }, 'no Kubernetes Node for this assignment: ConfigMap not written');
      return;
    }
    const maxConflicts = this.#o.maxConflicts ?? 8;
    for (let conflicts = 0; ; ) {
      if (st.cm === undefined) st.cm = await readOrNull(api, namespace, name);
      const cur = st.cm;
      if (a === null) {
        if (cur === null) return;
        try {
          await api.deleteNamespacedConfigMap({
            name,
            namespace,
            body: { preconditions: { resourceVersion: cur.metadata?.resourceVersion } },
          });
          count('deleted');
        } catch (err) {
          if (statusOf(err) === 409) {
            count('conflict');
            st.cm = undefined;
            if (++conflicts > maxConflicts) throw err;
            continue;
          }
          if (statusOf(err) !== 404) throw err;
        }
        st.cm = null;
        return;
      }
      const body = this.#desiredObject(nodeId, a, owner!, cur);
      if (cur && sameContent(cur, body)) {
        count('unchanged');
        return;
      }
      try {
        st.cm = cur
          ? await api.replaceNamespacedConfigMap({ name, namespace, body, fieldManager: MANAGED_BY })
          : await api.createNamespacedConfigMap({ namespace, body, fieldManager: MANAGED_BY });
        count(cur ? 'updated' : 'created');
        return;
      } catch (err) {
        const s = statusOf(err);
        if (s !== 409 && s !== 404) throw err;
        // 409: changed (or created) by someone else since we read it; 404: deleted meanwhile.
        if (s === 409) count('conflict');
        st.cm = s === 404 ? null : undefined;
        if (++conflicts > maxConflicts) throw err;
        this.#o.logger.debug(
          { nodeId, configMap: name, status: s },
          'assignment ConfigMap changed meanwhile; re-reading',
        );
        await new Promise((r) => setTimeout(r, Math.random() * 20 * conflicts));
      }
    }
  }

  /** `cur` with our labels, annotations, owner and data applied (everything else in it is kept). */
  #desiredObject(
    nodeId: string,
    a: NodeAssignment,
    owner: { name: string; uid: string },
    cur: V1ConfigMap | null,
  ): V1ConfigMap {
    const ownerRef: V1OwnerReference = { apiVersion: 'v1', kind: 'Node', name: owner.name, uid: owner.uid };
    const meta = cur?.metadata ?? {};
    const labels: Record<string, string> = {
      ...meta.labels,
      [MANAGED_BY_LABEL]: MANAGED_BY,
      [COMPONENT_LABEL]: COMPONENT,
      [SET_LABEL]: this.#o.prefix,
    };
    if (isLabelValue(nodeId)) labels[NODE_LABEL] = nodeId;
    else delete labels[NODE_LABEL];
    if (isLabelValue(a.storeId)) labels[STORE_LABEL] = a.storeId;
    else delete labels[STORE_LABEL];
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...meta,
        name: this.name(nodeId),
        namespace: this.#o.namespace,
        labels,
        annotations: {
          ...meta.annotations,
          [NODE_ANNOTATION]: nodeId,
          [VERSION_ANNOTATION]: String(a.version),
        },
        ownerReferences: [
          ...(meta.ownerReferences ?? []).filter((r) => !(r.kind === 'Node' && r.apiVersion === 'v1')),
          ownerRef,
        ],
        // The optimistic-concurrency precondition: the version we read (absent on create).
        ...(cur ? { resourceVersion: cur.metadata?.resourceVersion } : {}),
      },
      data: { ...cur?.data, [DATA_KEY]: `${JSON.stringify(a, null, 2)}\n` },
    };
  }
}

/** `<prefix>-<node>`, a valid ConfigMap name (DNS subdomain ≤ 253), with a hash where the node id had to be changed. */
export function configMapName(prefix: string, nodeId: string): string {
  const clean = nodeId.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  let name = `${prefix}-${clean}`;
  if (clean !== nodeId || name.length > 253 || !/[a-z0-9]$/.test(name)) {
    const hash = createHash('sha1').update(nodeId).digest('hex').slice(0, 10);
    name = `${name.slice(0, 253 - 11).replace(/[^a-z0-9]+$/, '')}-${hash}`;
  }
  return name;
}

const isLabelValue = (v: string) => v.length <= 63 && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v);

function sameContent(cur: V1ConfigMap, want: V1ConfigMap): boolean {
  const m = cur.metadata ?? {};
  const w = want.metadata!;
  return (
    cur.data?.[DATA_KEY] === want.data?.[DATA_KEY] &&
    Object.entries(w.labels ?? {}).every(([k, v]) => m.labels?.[k] === v) &&
    Object.entries(w.annotations ?? {}).every(([k, v]) => m.annotations?.[k] === v) &&
    (w.ownerReferences ?? []).every((r) =>
      m.ownerReferences?.some((x) => x.uid === r.uid && x.kind === r.kind),
    )
  );
}

async function readOrNull(api: CoreV1Api, namespace: string, name: string): Promise<V1ConfigMap | null> {
  try {
    return await api.readNamespacedConfigMap({ name, namespace });
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}

/** The HTTP status of a failed client call (`ApiException.code`). */
export function statusOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

function errText(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: string };
  const body = typeof e.body === 'string' ? e.body : e.body ? JSON.stringify(e.body) : '';
  return [e.code, e.message, body.slice(0, 300)].filter(Boolean).join(' ');
}

function safeJson(text: string | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}
