/**
 * A store and its cloud under faults, all real and on loopback: the model hub (SQLite) and the
 * orchestrator (standalone) in this process, each on its own port so that it can be stopped and
 * started again at the same address; two `storevision edge` child processes of one store, each with
 * the redis-server it starts itself (AOF on, under its `--data-dir`, exactly as `storevision edge`
 * runs it), uploading events to the hub and running the orchestrator's plan. Plus rendered camera
 * sequences with exact ground truth, closed-loop players, a raw Redis `INFO`, and the comparisons
 * of an interrupted camera with an uninterrupted one.
 *
 * One implementation for the fault tests (`test/platform-faults.int.test.ts`, through
 * `test/fault-platform.ts`) and for `storevision bench outage`, the hour-long soak of the same
 * cloud outage.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type {
  AnalyticsEvent,
  CameraAnalyticsState,
  GtLineCrossing,
  SceneDescription,
  SceneName,
  StoreMetric,
  StoreMetrics,
  StorePlacement,
} from '@storevision/contracts';
import { DEFAULT_MODELS_DIR, type LocalRedis } from '@storevision/inference-edge';
import { loadConfig as loadHubConfig, type RunningHub, startHub } from '@storevision/model-hub';
import {
  loadConfig as loadOrchestratorConfig,
  type RunningOrchestrator,
  startOrchestrator,
} from '@storevision/orchestrator';
import { type RenderedFrame, SequenceRenderer } from '@storevision/scenes';
import pino from 'pino';
import { simulatedCameraSpec } from '../platform/camera-spec.ts';
import { EdgeProcess } from './edge-process.ts';
import { json, until } from './poll.ts';

export const ADMIN_TOKEN = 'faults-admin-token-0123456789';
export const STORE = 'store-faults';
export const NODE_IDS = ['faults-a', 'faults-b'] as const;
/** A node silent this long is lost (generous: a flooded node's heartbeats may come late). */
export const HEARTBEAT_TIMEOUT_MS = 8000;
/** Each edge's `--redis-prefix` (its event outbox is the stream `<prefix>:events`). */
export const redisPrefixOf = (nodeId: string) => `sv-${nodeId}`;

// Redis --------------------------------------------------------------------------------------------

/**
 * `INFO` of a Redis server over one raw connection (no client library, which would keep
 * reconnecting to a server the test killed). Rejects when nothing answers.
 */
export function redisInfo(url: string): Promise<Record<string, string>> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    let buf = Buffer.alloc(0);
    const fail = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.setTimeout(2000, () => fail(new Error(`INFO on ${url} timed out`)));
    sock.once('error', fail);
    sock.once('connect', () => sock.write('INFO\r\n'));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      if (buf[0] !== 0x24) return fail(new Error(`INFO on ${url}: ${buf.subarray(0, eol).toString()}`));
      const len = Number(buf.subarray(1, eol).toString());
      if (buf.length < eol + 2 + len) return;
      sock.destroy();
      const out: Record<string, string> = {};
      for (const line of buf
        .subarray(eol + 2, eol + 2 + len)
        .toString()
        .split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
      }
      resolve(out);
    });
  });
}

// Sequences ----------------------------------------------------------------------------------------

export interface Sequence {
  scene: SceneName;
  seed: number;
  description: SceneDescription;
  frames: RenderedFrame[];
  /** True line crossings over the whole sequence. */
  crossings: GtLineCrossing[];
  /** Capture time of frame i: `startEpochMs + t`. */
  startEpochMs: number;
}

/** Renders a whole sequence in memory (the tests push every frame, in order, with its capture time). */
export async function renderSequence(o: {
  scene: SceneName;
  seed: number;
  seconds: number;
  fps: number;
  width: number;
  height: number;
  startEpochMs: number;
}): Promise<Sequence> {
  const r = new SequenceRenderer({
    scene: o.scene,
    seed: o.seed,
    frames: Math.round(o.seconds * o.fps),
    fps: o.fps,
    width: o.width,
    height: o.height,
    startEpochMs: o.startEpochMs,
  });
  const frames: RenderedFrame[] = [];
  for await (const f of r.frames()) frames.push(f);
  return {
    scene: o.scene,
    seed: o.seed,
    description: r.describe(),
    frames,
    crossings: r.finish().crossings,
    startEpochMs: o.startEpochMs,
  };
}

/** The ground truth's mean people per zone (and queue length) over the frames: the level's time mean. */
export function truthMeans(seq: Sequence): {
  occupancy: Record<string, number>;
  queue: Record<string, number>;
} {
  const occupancy: Record<string, number> = {};
  const queue: Record<string, number> = {};
  for (const z of seq.description.zones) {
    occupancy[z.id] = seq.frames.reduce((s, f) => s + (f.truth.occupancy[z.id] ?? 0), 0) / seq.frames.length;
    if (z.kind === 'queue')
      queue[z.id] = seq.frames.reduce((s, f) => s + (f.truth.queue[z.id] ?? 0), 0) / seq.frames.length;
  }
  return { occupancy, queue };
}

// The platform -------------------------------------------------------------------------------------

export class FaultPlatform {
  hub: RunningHub | undefined;
  orchestrator: RunningOrchestrator | undefined;
  readonly edges = new Map<string, EdgeProcess>();
  /** Each edge's `--data-dir` (its embedded Redis keeps its AOF in `<dir>/redis`). */
  readonly edgeDirs = new Map<string, string>();
  /** redis-servers the tests started in place of a killed embedded one (stopped after the edges). */
  readonly replacementRedis: LocalRedis[] = [];
  #dataDir = '';
  #hubPort = 0;
  #orchestratorPort = 0;

  get hubUrl(): string {
    return `http://127.0.0.1:${this.#hubPort}`;
  }

  get orchestratorUrl(): string {
    return `http://127.0.0.1:${this.#orchestratorPort}`;
  }

  async start(): Promise<void> {
    this.#dataDir = await mkdtemp(path.join(tmpdir(), 'sv-faults-'));
    await this.startHub();
    await this.startOrchestrator();
    const tokens = await Promise.all(
      NODE_IDS.map(async (nodeId) => {
        const r = await json(`${this.hubUrl}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ role: 'node', label: nodeId }),
        });
        if (r.status !== 201) throw new Error(`node token: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body.token as string;
      }),
    );
    await Promise.all(
      NODE_IDS.map((nodeId, i) => {
        const dir = path.join(this.#dataDir, 'edges', nodeId);
        this.edgeDirs.set(nodeId, dir);
        const starting = EdgeProcess.start({
          // No --redis-url: the edge starts its own redis-server with AOF on, under --data-dir.
          modelsDir: DEFAULT_MODELS_DIR,
          models: ['person-detector'],
          redisPrefix: redisPrefixOf(nodeId),
          nodeId,
          inferenceThreads: 1,
          intraOpThreads: 1,
          extraArgs: [
            '--data-dir',
            dir,
            '--cores',
            '1',
            '--store-id',
            STORE,
            '--timezone',
            'UTC',
            '--orchestrator-url',
            this.orchestratorUrl,
            '--heartbeat-interval',
            '500',
            '--throughput-probe',
            '300',
            '--hub-url',
            this.hubUrl,
            '--hub-token',
            tokens[i]!,
          ],
          // The uploader's longest back-off (60 s by default): a returning hub is retried within 1 s.
          env: { EDGE_UPLOAD_MAX_BACKOFF_MS: '1000' },
        });
        // Kept as soon as it runs, so that `stop()` ends it even if the other one fails to start.
        return starting.then((edge) => this.edges.set(nodeId, edge));
      }),
    );
    await this.waitNodesReady(60_000);
  }

  /** Resolves once every node of the store is `ready` in the orchestrator's inventory. */
  async waitNodesReady(timeoutMs: number): Promise<void> {
    await until(
      'every node of the store ready in the orchestrator',
      async () => {
        const { body } = await json(`${this.orchestratorUrl}/v1/nodes?store=${STORE}`);
        return body.nodes.filter((n: { status: string }) => n.status === 'ready').length === NODE_IDS.length
          ? true
          : undefined;
      },
      timeoutMs,
    );
  }

  /** The hub on its port (the same one after a restart), on its data folder. */
  async startHub(): Promise<void> {
    const config = loadHubConfig(
      {},
      {
        port: this.#hubPort,
        host: '127.0.0.1',
        dataDir: path.join(this.#dataDir, 'hub'),
        adminToken: ADMIN_TOKEN,
        logLevel: 'silent',
      },
    );
    this.hub = await startHub(config, { logger: pino({ level: process.env.HUB_TEST_LOG ?? 'silent' }) });
    this.#hubPort = Number(new URL(this.hub.url).port);
  }

  async stopHub(): Promise<void> {
    await this.hub?.close();
    this.hub = undefined;
  }

  /** The orchestrator on its port, on its data folder (its state snapshot survives a restart). */
  async startOrchestrator(): Promise<void> {
    const config = loadOrchestratorConfig(
      {},
      {
        port: this.#orchestratorPort,
        host: '127.0.0.1',
        dataDir: path.join(this.#dataDir, 'orchestrator'),
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        sweepIntervalMs: 100,
      },
    );
    this.orchestrator = await startOrchestrator(config, { logger: pino({ level: 'silent' }) });
    this.#orchestratorPort = Number(new URL(this.orchestrator.url).port);
  }

  async stopOrchestrator(): Promise<void> {
    await this.orchestrator?.close();
    this.orchestrator = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.edges.values()].map((e) => e.stop(10_000).catch(() => e.kill())));
    for (const r of this.replacementRedis) await r.stop().catch(() => {});
    await this.orchestrator?.close().catch(() => {});
    await this.hub?.close().catch(() => {});
    if (this.#dataDir) await rm(this.#dataDir, { recursive: true, force: true });
  }

  edge(nodeId: string): EdgeProcess {
    const e = this.edges.get(nodeId);
    if (!e) throw new Error(`no edge ${nodeId}`);
    return e;
  }

  /** Registers a push camera of the store with the orchestrator (with the scene's zones and lines, if given). */
  async registerCamera(
    cameraId: string,
    o: { fps: number; width: number; height: number; scene?: SceneDescription },
  ): Promise<void> {
    const r = await json(`${this.orchestratorUrl}/v1/stores/${STORE}/cameras/${cameraId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(simulatedCameraSpec(o)),
    });
    if (r.status !== 200 && r.status !== 201)
      throw new Error(`registering ${cameraId}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** The store's plan: camera → the node that runs it. */
  async owners(): Promise<Map<string, string>> {
    const { body } = await json(`${this.orchestratorUrl}/v1/placements?store=${STORE}`);
    const placement = body.placements[0] as StorePlacement;
    return new Map(placement.pipelines.map((p) => [p.cameraId, p.nodeId]));
  }

  /** The camera's owner once it runs the camera's analytics config (the plan has reached it). */
  async analyticsOwner(cameraId: string): Promise<EdgeProcess> {
    return until(
      `${cameraId} placed with its analytics config`,
      async () => {
        const nodeId = (await this.owners()).get(cameraId);
        if (!nodeId) return undefined;
        const edge = this.edge(nodeId);
        const r = await fetch(`${edge.url}/v1/cameras/${cameraId}/analytics/config`);
        await r.body?.cancel();
        return r.status === 200 ? edge : undefined;
      },
      30_000,
    );
  }

  /** Every edge's `edge_analytics_events_total`, summed: the events the store's analytics made. */
  async eventsMade(): Promise<number> {
    let n = 0;
    for (const e of this.edges.values())
      n += metricSum(await (await fetch(`${e.url}/metrics`)).text(), 'edge_analytics_events_total');
    return n;
  }

  /** Query of the hub's store metrics API over [from, to), one camera (and zone). */
  async metrics(
    metric: StoreMetric,
    q: { from: number; to: number; camera: string; zone?: string; bucket?: '1m' | '5m' | '1h' },
  ): Promise<StoreMetrics> {
    const params = new URLSearchParams({
      metric,
      bucket: q.bucket ?? '1m',
      from: new Date(q.from).toISOString(),
      to: new Date(q.to).toISOString(),
      camera: q.camera,
      ...(q.zone ? { zone: q.zone } : {}),
    });
    const r = await json(`${this.hubUrl}/v1/stores/${STORE}/metrics?${params}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    if (r.status !== 200) throw new Error(`hub metrics ${params}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as StoreMetrics;
  }

  /** The events the hub stored for a camera (its database, read directly). */
  async storedEvents(cameraId: string): Promise<AnalyticsEvent[]> {
    const rows = await this.hub!.hub.database.db.selectFrom('store_events')
      .select(['body'])
      .where('store_id', '=', STORE)
      .where('camera_id', '=', cameraId)
      .execute();
    return rows.map((r) => JSON.parse(r.body) as AnalyticsEvent);
  }
}

/** Sum of a Prometheus counter's samples (every label set, or those whose labels contain `labels`). */
export function metricSum(text: string, name: string, labels = ''): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labels)) continue;
    n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

/** The events of one camera waiting in an edge's event outbox (not yet acknowledged by the hub). */
export async function outboxEvents(edgeUrl: string, cameraId: string): Promise<AnalyticsEvent[]> {
  const out: AnalyticsEvent[] = [];
  let after: string | null = null;
  do {
    const r = await json(
      `${edgeUrl}/v1/events?camera=${cameraId}&limit=1000${after ? `&after=${after}` : ''}`,
    );
    if (r.status !== 200) throw new Error(`events of ${cameraId}: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...(r.body.events as Array<{ event: AnalyticsEvent }>).map((e) => e.event));
    after = r.body.next;
  } while (after);
  return out;
}

/**
 * Pushes frames [from, to) of a sequence as one camera, each with its capture time, closed loop:
 * the next frame goes once the camera's analytics have taken the previous one — as fast as the node
 * goes, never superseding a frame, so what is counted depends on the frames and not on the load
 * (as `storevision bench analytics` does).
 */
export async function playSequence(
  edge: EdgeProcess,
  cameraId: string,
  seq: Sequence,
  from = 0,
  to = seq.frames.length,
): Promise<void> {
  for (let i = from; i < to; i++) {
    const f = seq.frames[i]!;
    await pushAnalysed(edge, cameraId, f.jpeg, seq.startEpochMs + Math.round(f.truth.t), `frame ${i}`);
  }
}

/**
 * One closed-loop step: pushes a frame as `cameraId` with its capture time and resolves once the
 * camera's analytics have taken it. `label` names the frame in errors.
 */
export async function pushAnalysed(
  edge: EdgeProcess,
  cameraId: string,
  jpeg: Buffer,
  captureTime: number,
  label: string,
): Promise<void> {
  const r = await json(`${edge.url}/v1/cameras/${cameraId}/frames`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'x-capture-time': String(captureTime) },
    body: jpeg,
  });
  if (r.status !== 202) throw new Error(`${cameraId} ${label}: ${r.status} ${JSON.stringify(r.body)}`);
  await waitAnalysed(edge, cameraId, r.body.frameId as string);
}

/** Resolves once the camera's analytics state is at `frameId`. */
export async function waitAnalysed(edge: EdgeProcess, cameraId: string, frameId: string): Promise<void> {
  await until(
    `${cameraId} frame ${frameId} analysed`,
    async () => {
      const r = await fetch(`${edge.url}/v1/cameras/${cameraId}/analytics`);
      if (!r.ok) {
        await r.body?.cancel();
        return undefined;
      }
      return ((await r.json()) as CameraAnalyticsState).frameId === frameId ? true : undefined;
    },
    60_000,
    5,
  );
}

/** Whether the edge's event outbox holds no event of the camera (one short page, however long the outbox). */
export async function outboxEmpty(edgeUrl: string, cameraId: string): Promise<boolean> {
  const r = await json(`${edgeUrl}/v1/events?camera=${cameraId}&limit=1`);
  if (r.status !== 200) throw new Error(`events of ${cameraId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.events.length === 0;
}

/** Waits until the camera's owner has handed every event of the camera to the hub. */
export function waitDrained(edgeUrl: string, cameraId: string, timeoutMs = 60_000): Promise<true> {
  return until(
    `${cameraId}'s events uploaded`,
    async () => ((await outboxEmpty(edgeUrl, cameraId)) ? true : undefined),
    timeoutMs,
    100,
  );
}

/** Whether anything answers `GET <url>/healthz` within 2 s. */
export const reachable = (url: string): Promise<boolean> =>
  fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
    async (r) => {
      await r.body?.cancel();
      return true;
    },
    () => false,
  );

// Interrupted against uninterrupted -----------------------------------------------------------------

/**
 * An event without what differs between two cameras fed the same frames (ids, camera, frame, node,
 * config version): two such cameras' events have equal contents when they saw the same facts.
 */
export function eventContent(e: AnalyticsEvent): string {
  const { id: _i, cameraId: _c, frameId: _f, nodeId: _n, configVersion: _v, ...rest } = e;
  return JSON.stringify(rest);
}

/** The hub metrics a cut camera's numbers are compared on with its uninterrupted twin's. */
export const COMPARED_METRICS = [
  'footfall_in',
  'footfall_out',
  'occupancy',
  'queue_length',
  'queue_wait',
  'dwell',
  'alerts',
] as const satisfies readonly StoreMetric[];

export interface SeriesDifference {
  /** `<camera> <metric>` (and the bucket when not `1m`). */
  series: string;
  a: Pick<StoreMetrics, 'points' | 'byKey' | 'total'>;
  b: Pick<StoreMetrics, 'points' | 'byKey' | 'total'>;
}

/**
 * The hub's series of every compared metric for camera `a` and for camera `b` of each pair over
 * [from, to) (bucket by bucket, per key and in total), for each bucket size: the series compared
 * and those that differ.
 */
export async function compareMetricSeries(
  platform: FaultPlatform,
  pairs: ReadonlyArray<readonly [a: string, b: string]>,
  window: { from: number; to: number; buckets?: ReadonlyArray<'1m' | '5m' | '1h'> },
): Promise<{ compared: string[]; differing: SeriesDifference[] }> {
  const compared: string[] = [];
  const differing: SeriesDifference[] = [];
  const pick = (m: StoreMetrics) => ({ points: m.points, byKey: m.byKey, total: m.total });
  for (const bucket of window.buckets ?? ['1m']) {
    for (const [a, b] of pairs) {
      for (const metric of COMPARED_METRICS) {
        const q = { from: window.from, to: window.to, bucket };
        const ma = pick(await platform.metrics(metric, { ...q, camera: a }));
        const mb = pick(await platform.metrics(metric, { ...q, camera: b }));
        const series = `${a} ${metric}${bucket === '1m' ? '' : ` (${bucket})`}`;
        compared.push(series);
        if (!isDeepStrictEqual(ma, mb)) differing.push({ series, a: ma, b: mb });
      }
    }
  }
  return { compared, differing };
}
