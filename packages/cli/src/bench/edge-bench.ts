/**
 * `storevision bench edge`: how close a real edge node (HTTP → Redis → BullMQ → inference threads →
 * outbox) gets to the machine's bare limit for the same work, what latency it gives at half and full
 * capacity, and whether it stays honest and bounded at 3× overload.
 *
 * - Bare limit: `Detector.detect(jpeg)` in tight loops in worker threads of this process, for a few
 *   thread layouts; the best is the limit. The machine's speed drifts within minutes, so the best
 *   layout is measured again right before and after each throughput run, and the run is compared
 *   with the mean of the two.
 * - Service: `storevision edge` in a child process with its default thread budget, against a private
 *   `redis-server` (the edge's test-support launcher: free loopback port, no persistence); simulated
 *   cameras in this process push frames over keep-alive HTTP (`CameraConnection`, as light as a
 *   client can be, since it shares the edge's cores). Throughput is what the outbox stream
 *   received per second; latency is the outbox entry's time minus the frame's `x-capture-time`.
 *
 * Everything is measured in one run on one machine; frames are pre-rendered before anything is timed.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SceneName } from '@storevision/contracts';
import { manifestFromUltralytics } from '@storevision/detector';
import { startTestRedis, type TestRedis } from '@storevision/inference-edge';
import { SequenceRenderer } from '@storevision/scenes';
import { Redis } from 'ioredis';
import { type BareRun, measureBareLimit } from './bare-limit.ts';
import {
  type BareConfig,
  checkDropAccounting,
  type DropAccounting,
  describeConfig,
  formatTable,
  keptUp,
  type LatencySummary,
  num,
  SUSTAINED_MAX_DROP,
  sumFrameCounts,
  sumMetric,
  summarizeLatency,
} from './edge-bench-stats.ts';
import {
  cameraStats,
  edgeMetrics,
  type OutboxRecord,
  readOutbox,
  redisInfo,
  runCameraLoad,
  waitForDrain,
} from './edge-load.ts';
import { EdgeProcess, type EdgeThreads, machineCores, machineCpuTicks } from './edge-process.ts';

/**
 * Seconds of full load on a fresh edge before its first timed run (at most twice a run's length, so
 * `--quick` stays quick). Its main thread's cost per frame still falls for half a minute after it
 * starts (720p, 4 cameras at 135 frames/s, 10-s windows: 1.39 ms 10 s in, 1.26 ms 20 s in, ~1.1 ms
 * after; README, session 12).
 */
const WARM_UP_SECONDS = 20;

export interface Resolution {
  width: number;
  height: number;
  label: string;
}

export interface EdgeBenchOptions {
  /** Model package of the main comparison (the bundled person-detector). */
  modelDir: string;
  /** Ultralytics YOLOv8n `.onnx` for the model-bound comparison; undefined skips it. */
  yoloOnnx?: string | undefined;
  /** Why the YOLOv8n section is skipped, when it is. */
  yoloSkipReason?: string | undefined;
  resolutions: Resolution[];
  scenes: SceneName[];
  seed: number;
  /** Pre-rendered frames per resolution. */
  framesPerResolution: number;
  /** Camera counts of the capacity runs. */
  cameras: number[];
  latencyCameras: number;
  overloadCameras: number;
  /** Cameras of the YOLOv8n runs (it processes ~8 frames/s on 2 cores). */
  yoloCameras: number;
  /** Resolution of the YOLOv8n runs. */
  yoloResolution: Resolution;
  /** Sending window of every service run. */
  seconds: number;
  /** Timed window of every bare-limit layout. */
  bareSeconds: number;
  /** Offered load of the capacity runs, × the bare limit (a little more than the node can do). */
  capacityLoad: number;
  /**
   * After each capacity run, look for the highest rate the node sustains: offer what it processed,
   * then 4 % more (or less, when that already drops frames). @defaultValue false
   */
  sustained?: boolean;
  /** Offered load of the overload runs, × the measured capacity. */
  overloadLoad: number;
  /** Fractions of the measured capacity for the latency runs. */
  latencyLoads: number[];
  bareConfigs: BareConfig[];
  /** Edge thread layout; undefined = the edge's default budget for this machine. */
  edgeThreads?: number | undefined;
  edgeIntraOpThreads?: number | undefined;
  /** The edge's `--runner-idle` (ms); undefined = its default. */
  edgeRunnerIdleMs?: number | undefined;
  /** The edge's `--heap-growth` (percent); undefined = its default. */
  edgeHeapGrowthPercent?: number | undefined;
  /** Service/bare throughput target. */
  ratioTarget: number;
  /** Overload p99 target, × the bare per-frame time. */
  p99Target: number;
  onProgress?: (msg: string) => void;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  platform: string;
  redis: string;
  /** Share of all CPUs busy (not idle or iowait) over the second before the benchmark began. */
  busyBeforeStart: number | null;
}

export interface ServiceRun {
  kind: 'capacity' | 'sustained' | 'latency' | 'overload';
  resolution: string;
  cameras: number;
  /** Offered load relative to its reference: the bare limit (capacity runs) or the measured capacity. */
  load: number;
  offeredFps: number;
  /** What the cameras actually sent per second. */
  sentFps: number;
  sent: number;
  accepted: number;
  rejected: number;
  errors: number;
  skippedLate: number;
  seconds: number;
  /** Results appended to the outbox per second in the steady window (after the warm-up). */
  processedPerSecond: number;
  /**
   * processedPerSecond / the bare limit at this resolution: for capacity runs, the mean of the bare
   * limit re-measured (best layout) right before and right after the run — the machine's speed
   * drifts by several per cent within minutes; for the other runs, the first bare limit.
   */
  ratioToBare: number;
  /** Capacity runs: the bare limit (best layout, frames/s) measured right before and right after. */
  bareAround?: { before: number; after: number };
  /** Capacity runs: processedPerSecond / the bare limit measured before the edge started. */
  ratioToFirstBare?: number;
  /** Outbox time − capture time of processed frames sent after the warm-up. */
  latencyMs: LatencySummary;
  /** Decode + inference per frame inside the node's inference threads (mean). */
  workMs: number;
  drainMs: number | null;
  /** Cores busy on average during the sending window. */
  cpu: {
    edge: number | null;
    redis: number | null;
    loadGenerator: number;
    /** Everything else on the machine (other processes): should be ~0 for fair figures. */
    other: number | null;
  };
  accounting: DropAccounting & { metricsDropped: number; outboxEntries: number };
  memory: {
    /** Edge process RSS: highest of the samples taken every 250 ms during the run. */
    edgeRssPeakMb: number | null;
    /** Edge process VmHWM: highest RSS of its whole life (model loading included). */
    edgeRssHighWaterMb: number | null;
    redisUsedPeakSampledMb: number;
    redisUsedAfterDrainMb: number;
    /** Redis' own used_memory_peak (since it started, over every run so far). */
    redisUsedPeakMb: number;
  };
}

export interface ModelSection {
  model: { name: string; version: string; input: string };
  bare: Array<BareRun & { resolution: string }>;
  /** Best bare layout per resolution. */
  bareBest: Record<string, BareRun>;
  /** The best layout re-measured around each capacity run (before the first, after each). */
  bareChecks: Array<BareRun & { resolution: string }>;
  edge: { command: string; pid: number; threads: EdgeThreads | undefined };
  runs: ServiceRun[];
}

export interface TargetCheck {
  name: string;
  measured: string;
  target: string;
  met: boolean;
}

export interface EdgeBenchResult {
  date: string;
  machine: MachineInfo;
  method: {
    edge: string;
    loadGenerator: string;
    redis: string;
    frames: string;
    throughput: string;
    latency: string;
  };
  settings: Omit<EdgeBenchOptions, 'onProgress' | 'modelDir' | 'yoloOnnx' | 'yoloSkipReason'> & {
    modelDir: string;
    yoloOnnx: string | null;
  };
  frames: Record<string, { count: number; meanKb: number; renderSeconds: number }>;
  sections: ModelSection[];
  yolov8nSkipped: string | null;
  summary: TargetCheck[];
  totalSeconds: number;
}

const MB = 1024 * 1024;

export async function runEdgeBench(o: EdgeBenchOptions): Promise<EdgeBenchResult> {
  const began = Date.now();
  const progress = o.onProgress ?? (() => {});
  const cleanup: Array<() => Promise<void>> = [];
  let edge: EdgeProcess | undefined;
  let testRedis: TestRedis | undefined;
  // A stopped benchmark must not leave an edge or a redis-server behind.
  const onSignal = (signal: NodeJS.Signals) => {
    edge?.kill();
    void (testRedis?.dispose() ?? Promise.resolve()).finally(() =>
      process.exit(128 + (os.constants.signals[signal] ?? 15)),
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Every figure is relative to this run's bare limit, but other work on the machine still skews
    // the comparison: say how busy it was before anything started.
    const busyBeforeStart = await machineBusy(1000);
    if (busyBeforeStart !== undefined && busyBeforeStart > 0.15)
      progress(
        `warning: the machine was ${Math.round(busyBeforeStart * 100)} % busy before the benchmark started`,
      );
    // 1. Frames, before anything is timed.
    const pools = new Map<string, Buffer[]>();
    const frameInfo: EdgeBenchResult['frames'] = {};
    const allRes = [...o.resolutions];
    if (o.yoloOnnx && !allRes.some((r) => r.label === o.yoloResolution.label)) allRes.push(o.yoloResolution);
    for (const res of allRes) {
      const t0 = performance.now();
      progress(`rendering ${o.framesPerResolution} frames at ${res.label} (${o.scenes.join(', ')})`);
      const frames = await renderPool(res, o.framesPerResolution, o.scenes, o.seed);
      pools.set(res.label, frames);
      frameInfo[res.label] = {
        count: frames.length,
        meanKb: frames.reduce((a, f) => a + f.length, 0) / frames.length / 1024,
        renderSeconds: (performance.now() - t0) / 1000,
      };
    }

    testRedis = await startTestRedis();
    const redisUrl = testRedis.url;
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    cleanup.push(async () => {
      redis.disconnect();
    });
    const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
    const machine: MachineInfo = {
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGb: os.totalmem() / 1024 ** 3,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      redis: redisVersion,
      busyBeforeStart: busyBeforeStart ?? null,
    };

    const sections: ModelSection[] = [];
    let edgeSeq = 0;
    const runSection = async (spec: {
      modelsDir: string;
      modelName: string;
      modelDir: string;
      resolutions: Resolution[];
      cameras: number[];
      latencyCameras: number;
      overloadCameras: number;
    }) => {
      // Bare limit, every layout, every resolution.
      const bare: ModelSection['bare'] = [];
      const bareBest: Record<string, BareRun> = {};
      let model: ModelSection['model'] | undefined;
      for (const res of spec.resolutions) {
        for (const config of o.bareConfigs) {
          progress(
            `${spec.modelName} bare limit ${res.label}: ${describeConfig(config)}, ${o.bareSeconds} s`,
          );
          const r = await measureBareLimit({
            modelDir: spec.modelDir,
            frames: pools.get(res.label)!,
            config,
            seconds: o.bareSeconds,
          });
          model ??= r.model;
          const entry = { ...r.run, resolution: res.label };
          bare.push(entry);
          const best = bareBest[res.label];
          if (!best || entry.framesPerSecond > best.framesPerSecond) bareBest[res.label] = entry;
        }
      }

      // The service.
      const prefix = `bench${++edgeSeq}`;
      progress(`${spec.modelName}: starting the edge (child process) and waiting for /readyz`);
      edge = await EdgeProcess.start({
        redisUrl,
        modelsDir: spec.modelsDir,
        models: [spec.modelName],
        redisPrefix: prefix,
        nodeId: `bench-edge-${edgeSeq}`,
        inferenceThreads: o.edgeThreads,
        intraOpThreads: o.edgeIntraOpThreads,
        extraArgs: [
          ...(o.edgeRunnerIdleMs !== undefined ? ['--runner-idle', String(o.edgeRunnerIdleMs)] : []),
          ...(o.edgeHeapGrowthPercent !== undefined
            ? ['--heap-growth', String(o.edgeHeapGrowthPercent)]
            : []),
        ],
      });
      const running = edge;
      const section: ModelSection = {
        model: model!,
        bare,
        bareBest,
        bareChecks: [],
        edge: { command: running.command, pid: running.pid, threads: running.threads },
        runs: [],
      };
      let seq = 0;
      const run = async (
        kind: ServiceRun['kind'],
        res: Resolution,
        cameras: number,
        load: number,
        offeredFps: number,
      ): Promise<ServiceRun> => {
        const tag = `${prefix}r${++seq}`;
        progress(
          `${spec.modelName} ${kind} ${res.label}: ${cameras} cameras offering ${offeredFps.toFixed(1)} frames/s for ${o.seconds} s`,
        );
        const r = await serviceRun({
          edge: running,
          redis,
          outboxKey: `${prefix}:outbox`,
          tag,
          kind,
          resolution: res.label,
          frames: pools.get(res.label)!,
          cameras,
          load,
          offeredFps,
          seconds: o.seconds,
          bareFps: bareBest[res.label]!.framesPerSecond,
        });
        section.runs.push(r);
        return r;
      };
      try {
        // Warm the HTTP path, the queue and the inference threads (JIT, connections, allocator) at
        // full load before the first timed run: with 2 s at half load the first run of every
        // benchmark was its lowest, whatever its camera count (README, sessions 11 and 12).
        const first = spec.resolutions[0]!;
        await serviceRun({
          edge: running,
          redis,
          outboxKey: `${prefix}:outbox`,
          tag: `${prefix}warm`,
          kind: 'capacity',
          resolution: first.label,
          frames: pools.get(first.label)!,
          cameras: spec.cameras[0]!,
          load: 1,
          offeredFps: bareBest[first.label]!.framesPerSecond,
          seconds: Math.min(WARM_UP_SECONDS, 2 * o.seconds),
          bareFps: bareBest[first.label]!.framesPerSecond,
        });
        for (const res of spec.resolutions) {
          const bareFps = bareBest[res.label]!.framesPerSecond;
          // The machine's speed drifts within minutes (a VM's neighbours): each capacity run is
          // compared with the bare limit measured right before and right after it, in the best
          // layout, while the edge idles.
          const bareCheck = async () => {
            progress(
              `${spec.modelName} bare limit ${res.label} again: ${describeConfig(bareBest[res.label]!.config)}, ${o.bareSeconds} s`,
            );
            const r = await measureBareLimit({
              modelDir: spec.modelDir,
              frames: pools.get(res.label)!,
              config: bareBest[res.label]!.config,
              seconds: o.bareSeconds,
            });
            section.bareChecks.push({ ...r.run, resolution: res.label });
            return r.run.framesPerSecond;
          };
          let before = await bareCheck();
          const capacity = new Map<number, number>();
          // Capacity and sustained runs are compared with the bare limit measured around them.
          const bracket = (runs: ServiceRun[], after: number) => {
            for (const r of runs) {
              r.bareAround = { before, after };
              r.ratioToFirstBare = r.processedPerSecond / bareFps;
              r.ratioToBare = r.processedPerSecond / bareOf(r, bareBest[res.label]!);
            }
            before = after;
          };
          for (const cams of spec.cameras) {
            const r = await run('capacity', res, cams, o.capacityLoad, o.capacityLoad * before);
            bracket([r], await bareCheck());
            capacity.set(cams, r.processedPerSecond);
            if (!o.sustained) continue;
            // Offered exactly the bare limit, a node slower than it is overloaded and pays the
            // ingest of every frame it then drops. Its capacity is the rate it keeps up with.
            const tries: ServiceRun[] = [];
            let rate = r.processedPerSecond;
            for (let step = 0; step < 2; step++) {
              const t = await run('sustained', res, cams, rate / before, rate);
              tries.push(t);
              if (keptUp(t)) rate *= 1 + SUSTAINED_STEP;
              else if (tries.some(keptUp)) break;
              else rate *= 1 - SUSTAINED_STEP;
            }
            bracket(tries, await bareCheck());
            // The node's capacity, for the latency and overload runs, is what it sustains.
            const kept = sustainedOf(section, r);
            if (kept) capacity.set(cams, kept.processedPerSecond);
          }
          const capacityAt = (n: number) => capacity.get(n) ?? Math.max(...capacity.values());
          for (const f of o.latencyLoads)
            await run('latency', res, spec.latencyCameras, f, f * capacityAt(spec.latencyCameras));
          await run(
            'overload',
            res,
            spec.overloadCameras,
            o.overloadLoad,
            o.overloadLoad * capacityAt(spec.overloadCameras),
          );
        }
      } finally {
        await running.stop();
        edge = undefined;
      }
      sections.push(section);
    };

    const bundledName = path.basename(o.modelDir);
    await runSection({
      modelsDir: path.dirname(o.modelDir),
      modelName: bundledName,
      modelDir: o.modelDir,
      resolutions: o.resolutions,
      cameras: o.cameras,
      latencyCameras: o.latencyCameras,
      overloadCameras: o.overloadCameras,
    });

    if (o.yoloOnnx) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'sv-bench-models-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      const manifest = await manifestFromUltralytics(o.yoloOnnx, { name: 'yolov8n' });
      await mkdir(path.join(dir, 'yolov8n'));
      await writeFile(path.join(dir, 'yolov8n', 'manifest.json'), JSON.stringify(manifest, null, 2));
      await symlink(path.resolve(o.yoloOnnx), path.join(dir, 'yolov8n', manifest.variants[0]!.file));
      await runSection({
        modelsDir: dir,
        modelName: 'yolov8n',
        modelDir: path.join(dir, 'yolov8n'),
        resolutions: [o.yoloResolution],
        cameras: [o.yoloCameras],
        latencyCameras: o.yoloCameras,
        overloadCameras: o.yoloCameras,
      });
    }

    const { onProgress: _p, modelDir, yoloOnnx, yoloSkipReason, ...settings } = o;
    return {
      date: new Date().toISOString(),
      machine,
      method: {
        edge: 'child process: `storevision edge` (startEdge → createEdgeNode → build), default thread budget unless --edge-threads/--edge-intra-op-threads',
        loadGenerator:
          'this (benchmark) process, separate from the edge: one keep-alive HTTP/1.1 connection per camera (a lean client: request head + JPEG in one writev, status and length read back), one request in flight each, sends paced evenly across cameras',
        redis: `private redis-server ${redisVersion} from the edge's test-support launcher (startTestRedis: free loopback port, no persistence), shared by the edges of this run (one key prefix each)`,
        frames: `pre-rendered JPEGs from the scene renderer (${o.scenes.join(', ')}), seed ${o.seed}`,
        throughput:
          'outbox entries (type=detections) appended per second between the warm-up and the end of the sending window, read back with XRANGE; each capacity run is divided by the mean of the bare limit (best layout) measured right before and right after it',
        latency:
          'outbox entry time (stream id, ms) minus the x-capture-time the camera sent (epoch ms at send)',
      },
      settings: { ...settings, modelDir, yoloOnnx: yoloOnnx ?? null },
      frames: frameInfo,
      sections,
      yolov8nSkipped: yoloOnnx ? null : (yoloSkipReason ?? 'no YOLOv8n model given'),
      summary: summarize(sections, o),
      totalSeconds: (Date.now() - began) / 1000,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await edge?.stop().catch(() => {});
    for (const c of cleanup.reverse()) await c().catch(() => {});
    await testRedis?.dispose();
  }
}

/** `count` frames at one resolution, taking turns between the scenes (1 s of store time apart). */
async function renderPool(
  res: Resolution,
  count: number,
  scenes: SceneName[],
  seed: number,
): Promise<Buffer[]> {
  const perScene = Math.ceil(count / scenes.length);
  const byScene: Buffer[][] = [];
  for (const [i, scene] of scenes.entries()) {
    const r = new SequenceRenderer({
      scene,
      seed: seed + i,
      frames: 21 + perScene * 5,
      fps: 5,
      width: res.width,
      height: res.height,
    });
    const frames: Buffer[] = [];
    for (let k = 0; k < perScene; k++) frames.push((await r.frame(20 + k * 5)).jpeg);
    byScene.push(frames);
  }
  const out: Buffer[] = [];
  for (let k = 0; out.length < count; k++)
    for (const s of byScene) if (out.length < count && s[k]) out.push(s[k]!);
  return out;
}

interface ServiceRunSpec {
  edge: EdgeProcess;
  redis: Redis;
  outboxKey: string;
  /** Camera id prefix, unique per run, so its frames and counters are its own. */
  tag: string;
  kind: ServiceRun['kind'];
  resolution: string;
  frames: Buffer[];
  cameras: number;
  load: number;
  offeredFps: number;
  seconds: number;
  bareFps: number;
}

async function serviceRun(s: ServiceRunSpec): Promise<ServiceRun> {
  const cameraIds = Array.from(
    { length: s.cameras },
    (_, i) => `${s.tag}-cam${String(i + 1).padStart(2, '0')}`,
  );
  const durationMs = s.seconds * 1000;
  const warmMs = Math.min(1000, durationMs / 5);

  // Memory and CPU, sampled while the cameras send.
  let edgeRssPeak = 0;
  let redisPeak = 0;
  const sample = async () => {
    edgeRssPeak = Math.max(edgeRssPeak, s.edge.rssBytes() ?? 0);
    redisPeak = Math.max(redisPeak, (await redisInfo(s.redis, 'memory')).used_memory ?? 0);
  };
  await sample();
  const sampler = setInterval(() => void sample().catch(() => {}), 250);
  const edgeCpu0 = s.edge.cpuSeconds();
  const redisCpu0 = redisCpuSeconds(await redisInfo(s.redis, 'cpu'));
  const ownCpu0 = process.cpuUsage();
  const machine0 = machineCpuTicks();
  const wall0 = performance.now();
  let load: Awaited<ReturnType<typeof runCameraLoad>>;
  try {
    load = await runCameraLoad({
      edgeUrl: s.edge.url,
      cameraIds,
      frames: s.frames,
      offeredFps: s.offeredFps,
      durationMs,
    });
  } finally {
    clearInterval(sampler);
  }
  const wall = (performance.now() - wall0) / 1000;
  const edgeCpu1 = s.edge.cpuSeconds();
  const redisCpu1 = redisCpuSeconds(await redisInfo(s.redis, 'cpu'));
  const ownCpu = process.cpuUsage(ownCpu0);
  const machine = machineCores(machine0, machineCpuTicks(), os.availableParallelism());
  await sample();

  const drainMs = await waitForDrain(s.edge.url);
  const [stats, metricsText, outbox, memAfter] = await Promise.all([
    cameraStats(s.edge.url, cameraIds),
    edgeMetrics(s.edge.url),
    readOutbox(s.redis, s.outboxKey, load.startedAt - 1, `${s.tag}-`),
    redisInfo(s.redis, 'memory'),
  ]);
  const counts = sumFrameCounts(stats);
  const mine = (l: Record<string, string>) => (l.camera ?? '').startsWith(`${s.tag}-`);
  const steadyFrom = load.startedAt + warmMs;
  const processed = outbox.filter((r): r is Required<OutboxRecord> => r.type === 'detections');
  const inWindow = processed.filter((r) => r.at >= steadyFrom && r.at <= load.endedAt).length;
  const measured = processed.filter((r) => r.captureTime >= steadyFrom);
  const processedPerSecond = inWindow / ((load.endedAt - steadyFrom) / 1000);
  return {
    kind: s.kind,
    resolution: s.resolution,
    cameras: s.cameras,
    load: s.load,
    offeredFps: s.offeredFps,
    sentFps: load.sent / s.seconds,
    sent: load.sent,
    accepted: load.accepted,
    rejected: load.rejected,
    errors: load.errors,
    skippedLate: load.skippedLate,
    seconds: s.seconds,
    processedPerSecond,
    ratioToBare: processedPerSecond / s.bareFps,
    latencyMs: summarizeLatency(measured.map((r) => r.at - r.captureTime)),
    workMs: measured.length ? measured.reduce((a, r) => a + r.workMs, 0) / measured.length : Number.NaN,
    drainMs: drainMs ?? null,
    cpu: cpuShares({
      edge: edgeCpu0 !== undefined && edgeCpu1 !== undefined ? (edgeCpu1 - edgeCpu0) / wall : null,
      redis: redisCpu0 !== undefined && redisCpu1 !== undefined ? (redisCpu1 - redisCpu0) / wall : null,
      loadGenerator: (ownCpu.user + ownCpu.system) / 1e6 / wall,
      machine,
    }),
    accounting: {
      ...checkDropAccounting(load.accepted, counts),
      metricsDropped: sumMetric(metricsText, 'edge_frames_dropped_total', mine),
      outboxEntries: outbox.length,
    },
    memory: {
      edgeRssPeakMb: edgeRssPeak ? edgeRssPeak / MB : null,
      edgeRssHighWaterMb: mb(s.edge.peakRssBytes()),
      redisUsedPeakSampledMb: redisPeak / MB,
      redisUsedAfterDrainMb: (memAfter.used_memory ?? Number.NaN) / MB,
      redisUsedPeakMb: (memAfter.used_memory_peak ?? Number.NaN) / MB,
    },
  };
}

/** Share of the machine's CPU time that was busy over `ms` (Linux /proc/stat; undefined elsewhere). */
async function machineBusy(ms: number): Promise<number | undefined> {
  const a = machineCpuTicks();
  await new Promise((r) => setTimeout(r, ms));
  return machineCores(a, machineCpuTicks(), 1);
}

function cpuShares(c: {
  edge: number | null;
  redis: number | null;
  loadGenerator: number;
  machine: number | undefined;
}): ServiceRun['cpu'] {
  const { machine, ...own } = c;
  const other =
    machine === undefined || own.edge === null || own.redis === null
      ? null
      : Math.max(0, machine - own.edge - own.redis - own.loadGenerator);
  return { ...own, other };
}

function mb(bytes: number | undefined): number | null {
  return bytes === undefined ? null : bytes / MB;
}

function redisCpuSeconds(info: Record<string, number>): number | undefined {
  const u = info.used_cpu_user;
  const sys = info.used_cpu_sys;
  return u === undefined || sys === undefined ? undefined : u + sys;
}

/** The bare limit a capacity run is compared with: the mean of the checks around it, else the first. */
function bareOf(r: ServiceRun, first: BareRun): number {
  return r.bareAround ? (r.bareAround.before + r.bareAround.after) / 2 : first.framesPerSecond;
}

/** Step between the offered rates of the sustained runs. */
const SUSTAINED_STEP = 0.04;

/** Sustained runs are tried, for each capacity run, with its resolution and camera count. */
function sustainedTries(sec: ModelSection, capacityRun: ServiceRun): ServiceRun[] {
  return sec.runs.filter(
    (x) =>
      x.kind === 'sustained' && x.resolution === capacityRun.resolution && x.cameras === capacityRun.cameras,
  );
}

/** The highest sustained run that kept up after `capacityRun`, if any did. */
function sustainedOf(sec: ModelSection, capacityRun: ServiceRun): ServiceRun | undefined {
  return sustainedTries(sec, capacityRun)
    .filter(keptUp)
    .reduce<ServiceRun | undefined>(
      (a, x) => (a && a.processedPerSecond >= x.processedPerSecond ? a : x),
      undefined,
    );
}

/** The capacity table's sustained/s and sustained/bare cells. */
function sustainedCells(sec: ModelSection, capacityRun: ServiceRun): [string, string] {
  if (!sustainedTries(sec, capacityRun).length) return ['-', '-'];
  const kept = sustainedOf(sec, capacityRun);
  return kept ? [f1(kept.processedPerSecond), f2(kept.ratioToBare)] : ['none', '-'];
}

/** The bare run in the edge's own thread layout at `res`, if that layout was measured. */
function sameLayout(sec: ModelSection, res: string): BareRun | undefined {
  const t = sec.edge.threads;
  if (!t) return undefined;
  return sec.bare.find(
    (b) =>
      b.resolution === res &&
      b.config.threads === t.inferenceThreads &&
      b.config.intraOp === t.intraOpThreads,
  );
}

/**
 * The bare per-frame time the overload p99 is held to: one detect() in the edge's own layout (what a
 * frame costs there), else in the limit's layout. Never the inflated per-frame time of an
 * oversubscribed layout the edge does not use.
 */
export function perFrameReference(sec: ModelSection, res: string): { run: BareRun; layout: string } {
  const same = sameLayout(sec, res);
  const run = same ?? sec.bareBest[res]!;
  return {
    run,
    layout: `${same ? "edge's layout" : 'limit layout'} ${run.config.threads}x${run.config.intraOp}`,
  };
}

function summarize(sections: ModelSection[], o: EdgeBenchOptions): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const sec of sections) {
    const name = sec.model.name;
    for (const res of Object.keys(sec.bareBest)) {
      const best = sec.bareBest[res]!;
      const cap = sec.runs.filter((r) => r.kind === 'capacity' && r.resolution === res);
      if (cap.length) {
        const worst = cap.reduce((a, r) => (r.ratioToBare < a.ratioToBare ? r : a));
        const same = sameLayout(sec, res);
        out.push({
          name: `${name} ${res}: service/bare throughput (worst of ${cap.map((r) => r.cameras).join(', ')} cameras)`,
          measured:
            `${num(worst.ratioToBare, 2)} (${num(worst.processedPerSecond)} / ${num(bareOf(worst, best))} frames/s, ${worst.cameras} cameras` +
            `${worst.ratioToFirstBare !== undefined ? `; vs the first bare limit ${num(best.framesPerSecond)}: ${num(worst.ratioToFirstBare, 2)}` : ''}` +
            `${same ? `; vs bare in the edge's layout ${same.config.threads}x${same.config.intraOp}: ${num(worst.processedPerSecond / same.framesPerSecond, 2)}` : ''})`,
          target: `>= ${o.ratioTarget}`,
          met: worst.ratioToBare >= o.ratioTarget,
        });
        if (sec.runs.some((r) => r.kind === 'sustained' && r.resolution === res)) {
          const ratioOf = (r: ServiceRun) => sustainedOf(sec, r)?.ratioToBare ?? 0;
          const low = cap.reduce((a, r) => (ratioOf(r) < ratioOf(a) ? r : a));
          const kept = sustainedOf(sec, low);
          out.push({
            name: `${name} ${res}: sustained service/bare throughput, at most ${SUSTAINED_MAX_DROP * 100} % dropped (worst of ${cap.map((r) => r.cameras).join(', ')} cameras)`,
            measured: kept
              ? `${num(kept.ratioToBare, 2)} (${num(kept.processedPerSecond)} frames/s, ${low.cameras} cameras)`
              : `none kept up (${low.cameras} cameras)`,
            target: `>= ${o.ratioTarget}`,
            met: ratioOf(low) >= o.ratioTarget,
          });
        }
      }
      for (const r of sec.runs.filter((x) => x.kind === 'overload' && x.resolution === res)) {
        const a = r.accounting;
        out.push({
          name: `${name} ${res}: overload ${num(r.load, 0)}x, dropped = offered - processed - failed`,
          measured: `${a.dropped} = ${a.accepted} - ${a.processed} - ${a.failed} (${a.exact ? 'exact' : `off by ${a.dropped - a.expectedDropped}`}; metrics ${a.metricsDropped})`,
          target: 'exact',
          met: a.exact && a.metricsDropped === a.dropped && r.drainMs !== null,
        });
        const ref = perFrameReference(sec, res);
        const limit = o.p99Target * ref.run.frameMs;
        out.push({
          name: `${name} ${res}: overload ${num(r.load, 0)}x, p99 latency of processed frames (${r.cameras} cameras)`,
          measured: `${num(r.latencyMs.p99, 0)} ms`,
          target: `<= ${o.p99Target} x ${num(ref.run.frameMs, 1)} ms (bare, ${ref.layout}) = ${num(limit, 0)} ms`,
          met: r.latencyMs.p99 <= limit,
        });
      }
    }
  }
  const others = sections.flatMap((sec) => [
    ...sec.bare.map((b) => b.cpu.other),
    ...sec.bareChecks.map((b) => b.cpu.other),
    ...sec.runs.map((r) => r.cpu.other),
  ]);
  const known = others.filter((v): v is number => v !== null);
  if (known.length) {
    const worst = Math.max(...known);
    out.push({
      name: 'quiet machine: CPU used by other processes during any timed window',
      measured: `max ${num(worst, 2)} cores, mean ${num(known.reduce((a, b) => a + b, 0) / known.length, 2)}`,
      target: '< 0.2 cores',
      met: worst < 0.2,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

const f0 = (v: number) => num(v, 0);
const f1 = (v: number) => num(v, 1);
const f2 = (v: number) => num(v, 2);

export function formatEdgeBench(r: EdgeBenchResult): string {
  const m = r.machine;
  const out: string[] = [
    `storevision bench edge — ${r.date}`,
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${f1(m.memoryGb)} GB, ${m.platform}, node ${m.node}, redis ${m.redis}; ` +
      `${m.busyBeforeStart === null ? 'busy before start unknown' : `${f0(m.busyBeforeStart * 100)} % busy in the second before the start`}`,
    `edge: ${r.method.edge}`,
    `load generator: ${r.method.loadGenerator}`,
    `redis: ${r.method.redis}`,
    `frames: ${Object.entries(r.frames)
      .map(([res, f]) => `${f.count} x ${res} (mean ${f0(f.meanKb)} KB)`)
      .join(', ')}; ${r.method.frames}`,
    `throughput: ${r.method.throughput}`,
    `latency: ${r.method.latency}`,
  ];
  let n = 0;
  for (const sec of r.sections) {
    const t = sec.edge.threads;
    const model = `${sec.model.name}@${sec.model.version} (input ${sec.model.input})`;
    out.push(
      '',
      `== ${++n}. bare limit: ${model} — Detector.detect(jpeg) in tight loops, one detector per worker thread, ${r.settings.bareSeconds} s each`,
      formatTable(
        [
          { header: 'resolution' },
          { header: 'layout' },
          { header: 'frames', align: 'right' },
          { header: 'frames/s', align: 'right' },
          { header: 'ms/frame', align: 'right' },
          { header: 'p50', align: 'right' },
          { header: 'decode', align: 'right' },
          { header: 'tensor', align: 'right' },
          { header: 'infer', align: 'right' },
          { header: 'nms', align: 'right' },
          { header: 'cpu self/other', align: 'right' },
          { header: '' },
        ],
        sec.bare.map((b) => [
          b.resolution,
          b.label,
          String(b.frames),
          f1(b.framesPerSecond),
          f1(b.frameMs),
          f1(b.frameMsP50),
          f1(b.decodeMs),
          f1(b.preprocessMs),
          f1(b.inferMs),
          f2(b.postprocessMs),
          `${f2(b.cpu.process)} / ${num(b.cpu.other ?? Number.NaN, 2)}`,
          [
            sec.bareBest[b.resolution] === b ? '<- limit' : '',
            sameLayout(sec, b.resolution) === b ? "<- edge's layout" : '',
          ]
            .filter(Boolean)
            .join(', '),
        ]),
      ),
      'ms/frame: mean time of one detect() call in that layout (what one frame takes there); decode/tensor/infer/nms: its mean parts;',
      'cpu: cores busy during the window, this process (the detector threads) / the rest of the machine.',
      '',
      `== ${++n}. service throughput: ${model}, cameras offering ${r.settings.capacityLoad}x the bare limit for ${r.settings.seconds} s`,
      `edge pid ${sec.edge.pid}: ${t ? `${t.inferenceThreads} inference thread(s) x ${t.intraOpThreads} intra-op (budget for ${t.cores} cores), libvips ${t.sharpConcurrency}` : 'thread budget not logged'}`,
      `  ${sec.edge.command}`,
      formatTable(
        [
          { header: 'resolution' },
          { header: 'cameras', align: 'right' },
          { header: 'offered/s', align: 'right' },
          { header: 'sent/s', align: 'right' },
          { header: 'processed/s', align: 'right' },
          { header: 'bare/s before-after', align: 'right' },
          { header: 'service/bare', align: 'right' },
          { header: 'vs first bare', align: 'right' },
          { header: "vs edge's layout", align: 'right' },
          { header: 'dropped', align: 'right' },
          { header: 'sustained/s', align: 'right' },
          { header: 'sustained/bare', align: 'right' },
          { header: 'work ms', align: 'right' },
          { header: 'p50 ms', align: 'right' },
          { header: 'p99 ms', align: 'right' },
          { header: 'cpu edge/redis/loadgen/other', align: 'right' },
        ],
        sec.runs
          .filter((x) => x.kind === 'capacity')
          .map((x) => [
            x.resolution,
            String(x.cameras),
            f1(x.offeredFps),
            f1(x.sentFps),
            f1(x.processedPerSecond),
            x.bareAround
              ? `${f1(x.bareAround.before)}-${f1(x.bareAround.after)}`
              : f1(sec.bareBest[x.resolution]!.framesPerSecond),
            f2(x.ratioToBare),
            f2(x.ratioToFirstBare ?? x.ratioToBare),
            f2(x.processedPerSecond / (sameLayout(sec, x.resolution)?.framesPerSecond ?? Number.NaN)),
            String(x.accounting.dropped),
            ...sustainedCells(sec, x),
            f1(x.workMs),
            f0(x.latencyMs.p50),
            f0(x.latencyMs.p99),
            cpuCell(x),
          ]),
      ),
      'bare/s before-after: the best bare layout measured again right before and right after the run (the edge idle);',
      'service/bare: processed/s over their mean; vs first bare: over the bare limit measured before the edge started.',
      'work ms: decode + inference per frame inside the edge; cpu: cores busy on average while sending (other: the rest of the machine).',
      ...(sec.runs.some((x) => x.kind === 'sustained')
        ? [
            `sustained: the highest offered rate the node kept up with (at most ${SUSTAINED_MAX_DROP * 100} % dropped or sent late), tried after each run at what it processed, then ${SUSTAINED_STEP * 100} % more or less:`,
            formatTable(
              [
                { header: 'resolution' },
                { header: 'cameras', align: 'right' },
                { header: 'offered/s', align: 'right' },
                { header: 'processed/s', align: 'right' },
                { header: 'dropped', align: 'right' },
                { header: 'late', align: 'right' },
                { header: 'kept up', align: 'right' },
                { header: 'service/bare', align: 'right' },
                { header: 'cpu edge/redis/loadgen/other', align: 'right' },
              ],
              sec.runs
                .filter((x) => x.kind === 'sustained')
                .map((x) => [
                  x.resolution,
                  String(x.cameras),
                  f1(x.offeredFps),
                  f1(x.processedPerSecond),
                  String(x.accounting.dropped),
                  String(x.skippedLate),
                  keptUp(x) ? 'yes' : 'no',
                  f2(x.ratioToBare),
                  cpuCell(x),
                ]),
            ),
          ]
        : []),
      '',
      `== ${++n}. latency: ${model}, offered load paced across cameras at fractions of the measured capacity`,
      formatTable(
        [
          { header: 'resolution' },
          { header: 'cameras', align: 'right' },
          { header: 'load', align: 'right' },
          { header: 'offered/s', align: 'right' },
          { header: 'processed/s', align: 'right' },
          { header: 'dropped', align: 'right' },
          { header: 'frames', align: 'right' },
          { header: 'p50 ms', align: 'right' },
          { header: 'p99 ms', align: 'right' },
          { header: 'max ms', align: 'right' },
          { header: "bare ms/frame (edge's layout)", align: 'right' },
          { header: 'cpu ms/frame edge+redis', align: 'right' },
        ],
        sec.runs
          .filter((x) => x.kind === 'latency')
          .map((x) => [
            x.resolution,
            String(x.cameras),
            `${f0(x.load * 100)} %`,
            f1(x.offeredFps),
            f1(x.processedPerSecond),
            String(x.accounting.dropped),
            String(x.latencyMs.count),
            f0(x.latencyMs.p50),
            f0(x.latencyMs.p99),
            f0(x.latencyMs.max),
            f1(perFrameReference(sec, x.resolution).run.frameMs),
            f2(cpuMsPerFrame(x)),
          ]),
      ),
      'cpu ms/frame: CPU time of the edge process (inference threads included) and of Redis per processed frame.',
      '',
      `== ${++n}. overload: ${model}, ${r.settings.overloadLoad}x the measured capacity, then the queue drains`,
      formatTable(
        [
          { header: 'resolution' },
          { header: 'cameras', align: 'right' },
          { header: 'offered/s', align: 'right' },
          { header: 'offered', align: 'right' },
          { header: 'processed', align: 'right' },
          { header: 'failed', align: 'right' },
          { header: 'dropped', align: 'right' },
          { header: 'offered-processed-failed', align: 'right' },
          { header: 'check', align: 'right' },
          { header: 'processed/s', align: 'right' },
          { header: 'p50 ms', align: 'right' },
          { header: 'p99 ms', align: 'right' },
          { header: 'p99 target', align: 'right' },
        ],
        sec.runs
          .filter((x) => x.kind === 'overload')
          .map((x) => [
            x.resolution,
            String(x.cameras),
            f1(x.offeredFps),
            String(x.accounting.accepted),
            String(x.accounting.processed),
            String(x.accounting.failed),
            String(x.accounting.dropped),
            String(x.accounting.expectedDropped),
            x.accounting.exact ? 'exact' : 'MISMATCH',
            f1(x.processedPerSecond),
            f0(x.latencyMs.p50),
            f0(x.latencyMs.p99),
            `<= ${f0(r.settings.p99Target * perFrameReference(sec, x.resolution).run.frameMs)}`,
          ]),
      ),
      formatTable(
        [
          { header: 'resolution' },
          { header: 'sent', align: 'right' },
          { header: 'non-202', align: 'right' },
          { header: 'edge received', align: 'right' },
          { header: 'metrics dropped', align: 'right' },
          { header: 'outbox entries', align: 'right' },
          { header: 'drain ms', align: 'right' },
          { header: 'edge RSS peak MB', align: 'right' },
          { header: 'edge VmHWM MB', align: 'right' },
          { header: 'redis used peak/after MB', align: 'right' },
          { header: 'redis used_memory_peak MB', align: 'right' },
          { header: 'cpu edge/redis/loadgen/other', align: 'right' },
        ],
        sec.runs
          .filter((x) => x.kind === 'overload')
          .map((x) => [
            x.resolution,
            String(x.sent),
            String(x.rejected + x.errors),
            String(x.accounting.received),
            String(x.accounting.metricsDropped),
            String(x.accounting.outboxEntries),
            x.drainMs === null ? 'NOT DRAINED' : f0(x.drainMs),
            f0(x.memory.edgeRssPeakMb ?? Number.NaN),
            f0(x.memory.edgeRssHighWaterMb ?? Number.NaN),
            `${f1(x.memory.redisUsedPeakSampledMb)} / ${f1(x.memory.redisUsedAfterDrainMb)}`,
            f1(x.memory.redisUsedPeakMb),
            cpuCell(x),
          ]),
      ),
      'offered: frames the edge accepted (202); dropped: sum of the per-camera counters (GET /v1/cameras/{id}/stats), read after the queue drained;',
      'metrics dropped: edge_frames_dropped_total for the same cameras; edge RSS: the edge process (child), sampled every 250 ms while sending;',
      'VmHWM: its highest RSS since start; redis used: used_memory sampled while sending / after the drain.',
    );
  }
  if (r.yolov8nSkipped) out.push('', `== yolov8n section skipped: ${r.yolov8nSkipped}`);
  out.push(
    '',
    '== summary',
    formatTable(
      [{ header: 'check' }, { header: 'measured' }, { header: 'target' }, { header: 'met' }],
      r.summary.map((s) => [s.name, s.measured, s.target, s.met ? 'yes' : 'NO']),
    ),
    `total ${f0(r.totalSeconds)} s`,
  );
  return out.join('\n');
}

/** CPU time of the edge process and Redis per processed frame, ms (NaN when not measured). */
function cpuMsPerFrame(x: Pick<ServiceRun, 'cpu' | 'processedPerSecond'>): number {
  if (x.cpu.edge === null || x.cpu.redis === null || !(x.processedPerSecond > 0)) return Number.NaN;
  return ((x.cpu.edge + x.cpu.redis) / x.processedPerSecond) * 1000;
}

function cpuCell(x: ServiceRun): string {
  const c = x.cpu;
  return [c.edge, c.redis, c.loadGenerator, c.other].map((v) => num(v ?? Number.NaN, 2)).join(' / ');
}
