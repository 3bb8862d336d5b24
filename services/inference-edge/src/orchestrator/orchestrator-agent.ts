import {
  type NodeAssignment,
  type NodeCapabilities,
  type NodeLoad,
  type NodeReportInput,
  nodeAssignmentSchema,
} from '@storevision/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isEdgeError } from '../errors.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { AnalyticsService } from '../services/analytics.service.ts';
import type { CameraOwnership } from './camera-ownership.ts';
import type { CameraPullers } from './camera-puller.ts';

export interface OrchestratorAgentOptions {
  orchestratorUrl: string;
  nodeId: string;
  storeId: string;
  nodePool?: string | undefined;
  zone?: string | undefined;
  heartbeatIntervalMs: number;
  /** Redis (the request connection) and key prefix: the last assignment is kept there. */
  redis: Redis;
  prefix: string;
  ownership: CameraOwnership;
  analytics: AnalyticsService;
  metrics: EdgeMetrics;
  logger: Logger;
  cores: number;
  /** Long-poll wait asked of the orchestrator. @defaultValue 30 s */
  waitSeconds?: number;
  /** Told after each heartbeat whether the orchestrator took it (store-local failover listens). */
  onOrchestratorReachable?: (ok: boolean) => void;
  /** Pulls the assigned cameras that have a stream source (rtsp://, http(s)://). */
  pullers?: CameraPullers;
  fetch?: typeof fetch;
}

/**
 * The edge's side of the orchestrator: registers with its capabilities and heartbeats with its
 * live load, long-polls its assignment, applies it (cameras and models it runs, analytics configs
 * through the AnalyticsService) and keeps it in Redis. When the orchestrator is unreachable it
 * keeps running the last assignment it has (OpenYurt-style autonomy), also across restarts.
 */
export class OrchestratorAgent {
  readonly #o: OrchestratorAgentOptions;
  readonly #fetch: typeof fetch;
  readonly #abort = new AbortController();
  #address = '';
  #capabilities: NodeCapabilities | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #lastLoad = { at: performance.now(), cpu: process.cpuUsage(), received: 0, processed: 0, dropped: 0 };
  /** Analytics configs this agent applied, per camera (JSON), so it only touches what it owns. */
  #applied = new Map<string, string>();
  #closed = false;
  /** Heartbeats that reached the orchestrator / failed (tests and logs). */
  readonly stats = { heartbeats: 0, heartbeatFailures: 0, assignments: 0 };

  constructor(opts: OrchestratorAgentOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
  }

  get #key() {
    return `${this.#o.prefix}:orchestrator:assignment`;
  }

  /** Applies the assignment kept in Redis, if any: the node runs its last plan before it hears from anyone. */
  async restore(): Promise<NodeAssignment | undefined> {
    try {
      const text = await this.#o.redis.get(this.#key);
      if (!text) return undefined;
      const a = nodeAssignmentSchema.parse(JSON.parse(text));
      const applied = await this.#o.redis.get(`${this.#key}:analytics`);
      if (applied) this.#applied = new Map(Object.entries(JSON.parse(applied) as Record<string, string>));
      this.#o.ownership.set(a);
      this.#o.logger.info({ version: a.version, cameras: a.cameras.length }, 'running the kept assignment');
      return a;
    } catch (err) {
      this.#o.logger.warn({ err }, 'could not read the kept assignment');
      return undefined;
    }
  }

  /** Starts heartbeats and the assignment long-poll once the node's address and capabilities are known. */
  start(address: string, capabilities: NodeCapabilities): void {
    this.#address = address;
    this.#capabilities = capabilities;
    const beat = async () => {
      await this.heartbeat();
      if (!this.#closed) this.#heartbeat = setTimeout(beat, this.#o.heartbeatIntervalMs);
    };
    void beat();
    this.#polling = this.#poll();
  }

  /**
   * Replaces the measured throughput of the given models (the node re-measures after a model
   * change) and reports it at once, so the orchestrator re-plans with the new version's figure.
   */
  async updateThroughput(throughput: NodeCapabilities['throughput']): Promise<boolean> {
    if (!this.#capabilities) return false;
    this.#capabilities = {
      ...this.#capabilities,
      throughput: { ...this.#capabilities.throughput, ...throughput },
    };
    return this.heartbeat();
  }

  /** One `PUT /v1/nodes/{nodeId}`; false when the orchestrator did not take it. */
  async heartbeat(): Promise<boolean> {
    if (!this.#capabilities) return false;
    const ok = await this.#heartbeatOnce();
    if (!this.#closed) this.#o.onOrchestratorReachable?.(ok);
    return ok;
  }

  async #heartbeatOnce(): Promise<boolean> {
    if (!this.#capabilities) return false;
    const report: NodeReportInput = {
      address: this.#address,
      labels: {
        store: this.#o.storeId,
        ...(this.#o.nodePool ? { nodePool: this.#o.nodePool } : {}),
        ...(this.#o.zone ? { zone: this.#o.zone } : {}),
      },
      capabilities: this.#capabilities,
      load: await this.#load(),
    };
    try {
      const res = await this.#fetch(`${this.#o.orchestratorUrl}/v1/nodes/${this.#o.nodeId}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(report),
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(5000)]),
      });
      const body = await res.text();
      if (!res.ok) {
        this.stats.heartbeatFailures++;
        this.#o.logger.warn(
          { status: res.status, body: body.slice(0, 500) },
          'orchestrator refused the heartbeat',
        );
        return false;
      }
      this.stats.heartbeats++;
      return true;
    } catch (err) {
      this.stats.heartbeatFailures++;
      if (!this.#closed)
        this.#o.logger.debug({ err }, 'orchestrator unreachable; keeping the last assignment');
      return false;
    }
  }

  async #poll(): Promise<void> {
    const wait = this.#o.waitSeconds ?? 30;
    while (!this.#closed) {
      const known = this.#o.ownership.assignment;
      try {
        const res = await this.#fetch(
          `${this.#o.orchestratorUrl}/v1/nodes/${this.#o.nodeId}/assignment?wait=${wait}`,
          {
            headers: known ? { 'if-none-match': `"${known.version}"` } : {},
            signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout((wait + 10) * 1000)]),
          },
        );
        if (res.status === 304) continue;
        if (!res.ok) {
          await res.body?.cancel();
          await this.#sleep(res.status === 404 ? 200 : 1000);
          continue;
        }
        await this.apply(nodeAssignmentSchema.parse(await res.json()));
      } catch (err) {
        if (this.#closed) return;
        this.#o.logger.debug({ err }, 'assignment poll failed; keeping the last assignment');
        await this.#sleep(1000);
      }
    }
  }

  /** Runs an assignment: ownership first (frames route at once), then analytics configs, then Redis. */
  async apply(a: NodeAssignment): Promise<void> {
    const prev = this.#o.ownership.assignment;
    if (prev && prev.version === a.version && prev.planVersion === a.planVersion) return;
    this.#o.ownership.set(a);
    this.stats.assignments++;
    await this.#o.pullers?.apply(a.cameras).catch((err) => {
      this.#o.logger.warn({ err }, 'could not apply the camera pullers');
    });
    await this.#applyAnalytics(a);
    try {
      await this.#o.redis
        .multi()
        .set(this.#key, JSON.stringify(a))
        .set(`${this.#key}:analytics`, JSON.stringify(Object.fromEntries(this.#applied)))
        .exec();
    } catch (err) {
      this.#o.logger.warn({ err }, 'could not keep the assignment in Redis');
    }
    this.#o.logger.info(
      {
        version: a.version,
        planVersion: a.planVersion,
        cameras: a.cameras.map((c) => `${c.cameraId}:${c.pipelines.map((p) => p.model).join('+')}`),
      },
      'assignment applied',
    );
  }

  /**
   * The store-local failover changed who owns what (a peer went down or came back, or the
   * orchestrator answers again): analytics configs follow the cameras this node now runs.
   */
  async ownersChanged(): Promise<void> {
    const a = this.#o.ownership.assignment;
    if (!a) return;
    await this.#applyAnalytics(a);
    await this.#o.redis
      .set(`${this.#key}:analytics`, JSON.stringify(Object.fromEntries(this.#applied)))
      .catch(() => {});
  }

  /**
   * Analytics configs of the cameras this node runs: those of its assignment, and those it adopted
   * by the store-local rule (their configs come from the shared plan); others are removed.
   */
  async #applyAnalytics(a: NodeAssignment): Promise<void> {
    const wanted = new Map<string, unknown>();
    for (const cam of a.cameras) {
      const p = cam.pipelines.find((x) => x.analytics);
      if (p?.analytics) wanted.set(cam.cameraId, p.analytics);
    }
    for (const [cameraId, config] of Object.entries(a.store.analytics ?? {})) {
      if (wanted.has(cameraId)) continue;
      const route = this.#o.ownership.route(cameraId);
      if (route.kind === 'local' && route.adopted) wanted.set(cameraId, config);
    }
    for (const [cameraId, config] of wanted) {
      const json = JSON.stringify(config);
      if (this.#applied.get(cameraId) === json) continue;
      try {
        await this.#o.analytics.putConfig(cameraId, config);
        this.#applied.set(cameraId, json);
      } catch (err) {
        this.#o.logger.warn({ err, cameraId }, 'could not apply the assigned analytics config');
      }
    }
    for (const cameraId of [...this.#applied.keys()]) {
      if (wanted.has(cameraId)) continue;
      try {
        await this.#o.analytics.deleteConfig(cameraId);
      } catch (err) {
        if (!isEdgeError(err, 'EDGE_ERR_NO_ANALYTICS_CONFIG'))
          this.#o.logger.warn({ err, cameraId }, 'could not remove an analytics config');
      }
      this.#applied.delete(cameraId);
    }
  }

  async #load(): Promise<NodeLoad> {
    const sum = async (c: { get(): Promise<{ values: { value: number }[] }> }) =>
      (await c.get()).values.reduce((a, v) => a + v.value, 0);
    const m = this.#o.metrics;
    const now = {
      at: performance.now(),
      cpu: process.cpuUsage(),
      received: await sum(m.framesReceived),
      processed: await sum(m.framesProcessed),
      dropped: await sum(m.framesDropped),
    };
    const prev = this.#lastLoad;
    this.#lastLoad = now;
    const s = Math.max(0.001, (now.at - prev.at) / 1000);
    const cpuSeconds = (now.cpu.user - prev.cpu.user + now.cpu.system - prev.cpu.system) / 1e6;
    return {
      fpsIn: Math.max(0, (now.received - prev.received) / s),
      fpsProcessed: Math.max(0, (now.processed - prev.processed) / s),
      dropsPerSecond: Math.max(0, (now.dropped - prev.dropped) / s),
      cpu: Math.min(1, Math.max(0, cpuSeconds / s / this.#o.cores)),
      memoryBytes: process.memoryUsage().rss,
    };
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    this.#abort.abort();
    await this.#polling?.catch(() => {});
  }
}
