import type { NodeAssignment } from '@storevision/contracts';
import type { Logger } from 'pino';

export interface StoreFailoverOptions {
  /** This node's id: it never probes itself and never counts itself down. */
  nodeId: string;
  /** The last shared plan's view of the store (from this node's assignment). */
  store: () => NodeAssignment['store'] | undefined;
  /** How often peers' `/healthz` is probed while the orchestrator is unreachable. @defaultValue 2 s */
  probeIntervalMs: number;
  /** A peer whose probes have failed for this long is down; its cameras move. @defaultValue 10 s */
  downAfterMs: number;
  logger: Logger;
  /** A peer went down or came back, or probing stopped (the plan is the truth again). */
  onChange?: () => void;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Store-local failover while the orchestrator is unreachable (no leader: a deterministic rule).
 *
 * While the orchestrator answers, its plan is the truth and this class is idle (the orchestrator
 * fails nodes over itself). Once a heartbeat fails, the node probes every peer of the last shared
 * plan (`GET /healthz`) every `probeIntervalMs`; a peer whose probes have failed without a break
 * for `downAfterMs` is *down*. `CameraOwnership` then moves each camera of a down owner to the
 * first node that is not down in the rotation of the store's sorted node ids that starts just
 * after the owner. Every node evaluates the same rule over the same plan and (barring a network
 * partition inside the store) the same observations, so they agree on the new owner without
 * talking to each other. The first heartbeat that succeeds again clears everything.
 */
export class StoreFailover {
  readonly #o: StoreFailoverOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  /** Peers whose probes have failed since this time (no success after it). */
  readonly #failingSince = new Map<string, number>();
  /** Peers last reported down (log and `onChange` once per change). */
  readonly #reportedDown = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;
  #abort = new AbortController();

  constructor(opts: StoreFailoverOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
    this.#now = opts.now ?? Date.now;
  }

  /** Whether peers are being probed (the orchestrator is unreachable). */
  get active(): boolean {
    return this.#probing;
  }

  /** Told after each heartbeat: probing starts when the orchestrator stops answering, and stops when it answers. */
  orchestratorReachable(ok: boolean): void {
    if (this.#closed) return;
    if (ok && this.#probing) {
      this.#probing = false;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#abort.abort();
      this.#abort = new AbortController();
      this.#failingSince.clear();
      this.#reportedDown.clear();
      this.#o.logger.info('orchestrator reachable again: its plan decides camera owners');
      this.#o.onChange?.();
    } else if (!ok && !this.#probing) {
      this.#probing = true;
      this.#o.logger.warn('orchestrator unreachable: probing the store peers for local failover');
      void this.#probeLoop();
    }
  }

  /** A peer is down when the orchestrator is unreachable and the peer failed every probe for `downAfterMs`. */
  isDown(nodeId: string): boolean {
    if (!this.#probing || nodeId === this.#o.nodeId) return false;
    const since = this.#failingSince.get(nodeId);
    return since !== undefined && this.#now() - since >= this.#o.downAfterMs;
  }

  async #probeLoop(): Promise<void> {
    if (!this.#probing || this.#closed) return;
    await this.probeOnce();
    if (this.#probing && !this.#closed)
      this.#timer = setTimeout(() => void this.#probeLoop(), this.#o.probeIntervalMs);
  }

  /** One round of `/healthz` probes of every peer in the last plan (only while the orchestrator is unreachable). */
  async probeOnce(): Promise<void> {
    if (!this.#probing) return;
    const peers = (this.#o.store()?.nodes ?? []).filter((n) => n.nodeId !== this.#o.nodeId);
    const signal = this.#abort.signal;
    await Promise.all(
      peers.map(async (peer) => {
        let ok = false;
        try {
          const res = await this.#fetch(`${peer.address.replace(/\/$/, '')}/healthz`, {
            signal: AbortSignal.any([signal, AbortSignal.timeout(Math.min(1000, this.#o.probeIntervalMs))]),
          });
          await res.body?.cancel();
          ok = res.ok;
        } catch {
          ok = false;
        }
        if (signal.aborted) return;
        if (ok) this.#failingSince.delete(peer.nodeId);
        else if (!this.#failingSince.has(peer.nodeId)) this.#failingSince.set(peer.nodeId, this.#now());
        // A peer turns down by time passing between probes: compare with what was last reported.
        const down = this.isDown(peer.nodeId);
        if (down !== this.#reportedDown.has(peer.nodeId)) {
          if (down) this.#reportedDown.add(peer.nodeId);
          else this.#reportedDown.delete(peer.nodeId);
          this.#o.logger.warn(
            { peer: peer.nodeId, down },
            down ? 'store peer down: its cameras move by the local rule' : 'store peer answers again',
          );
          this.#o.onChange?.();
        }
      }),
    );
  }

  close(): void {
    this.#closed = true;
    this.#probing = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort.abort();
  }
}

/**
 * The store-local rule: the camera's planned owners in order, the first that is not down; if all
 * are down, the first node not down (and not `lost` in the plan) in the rotation of the sorted
 * node ids that starts just after the first planned owner. `undefined` when the plan places the
 * camera nowhere.
 */
export function localOwner(
  store: NodeAssignment['store'],
  cameraId: string,
  isDown: (nodeId: string) => boolean,
): string | undefined {
  const planned = store.owners[cameraId] ?? [];
  if (planned.length === 0) return undefined;
  const alive = planned.find((id) => !isDown(id));
  if (alive) return alive;
  const ids = store.nodes
    .filter((n) => n.status === 'ready')
    .map((n) => n.nodeId)
    .sort();
  const first = planned[0]!;
  // Rotation point: the first id after the owner in sorted order (the owner may be missing from `nodes`).
  let start = ids.findIndex((id) => id > first);
  if (start < 0) start = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[(start + i) % ids.length]!;
    if (!planned.includes(id) && !isDown(id)) return id;
  }
  return undefined;
}
