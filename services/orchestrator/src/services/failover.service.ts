import type { Logger } from 'pino';
import type { OrchestratorMetrics } from '../metrics.ts';
import type { StateRepository } from '../repositories/state.repository.ts';
import type { PlacementService } from './placement.service.ts';

export interface FailoverServiceOptions {
  repository: StateRepository;
  placement: PlacementService;
  metrics: OrchestratorMetrics;
  logger: Logger;
  heartbeatTimeoutMs: number;
  sweepIntervalMs: number;
  now?: () => number;
}

/**
 * Marks nodes lost when their heartbeats stop for `heartbeatTimeoutMs` and re-plans their stores,
 * which moves their cameras to the store's other nodes. A lost node that reports again is ready
 * again (the inventory re-plans then; the planner moves work back only where that improves the plan).
 */
export class FailoverService {
  readonly #o: FailoverServiceOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: FailoverServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sweep(), this.#o.sweepIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass: the nodes it marked lost. */
  sweep(): string[] {
    const now = this.#now();
    const lost: string[] = [];
    const stores = new Set<string>();
    for (const n of this.#o.repository.nodes.values()) {
      if (n.status !== 'ready' || now - n.lastHeartbeatAt <= this.#o.heartbeatTimeoutMs) continue;
      n.status = 'lost';
      n.statusReason = `no heartbeat for ${now - n.lastHeartbeatAt} ms`;
      lost.push(n.nodeId);
      stores.add(n.report.labels.store);
      this.#o.metrics.nodesLost.inc();
      this.#o.logger.warn(
        { nodeId: n.nodeId, store: n.report.labels.store, silentMs: now - n.lastHeartbeatAt },
        'node lost: no heartbeat',
      );
    }
    for (const s of stores) this.#o.placement.replan(s, 'node_lost');
    if (lost.length) this.#o.repository.changed();
    return lost;
  }
}
