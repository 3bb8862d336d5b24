/**
 * `storevision bench analytics`: store analytics measured end to end through a running edge
 * against the simulator's ground truth.
 *
 * Rendered sequences (cached on disk, they take minutes) are pushed into a real `storevision edge`
 * child process, each as one camera with the scene's zones and lines as its analytics config, with
 * their capture times. Each camera sends its next frame once the previous one is analysed (as fast
 * as the node goes, never dropping a frame, so the score is the analytics' and not the load's);
 * several cameras run at once. After every frame the camera's live analytics are read from the API;
 * at the end its events. Footfall, occupancy, dwell, queue and tracking (MOTA, IDF1) are scored by
 * `scoreAnalytics` and compared with the targets of the analytics issue.
 *
 * `--replay` is for tuning the tracker and the counting rules, not for the figures: the edge only
 * detects (each frame once, through `POST /v1/models/{name}/detect`, cached beside the sequence per
 * model version), and `CameraAnalytics` runs in this process on the cached detections — the same
 * inputs the edge's analytics get, so the same counts, in seconds instead of minutes.
 *
 * `--truth-boxes V` takes the detector out: each frame's detections are the ground truth's boxes of
 * the people at least V visible (colours from the frame's pixels as the edge computes them), and the
 * analytics run in this process, with no edge. It scores the tracker and the counting rules alone,
 * the ceiling a detector that found exactly those people would give; the gap to the end-to-end
 * figures is the detector's.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type AnalyticsScore,
  analyticsConfigForScene,
  appearanceOf,
  CameraAnalytics,
  median,
  type ObservedFrame,
  scoreAnalytics,
} from '@storevision/analytics';
import {
  type AnalyticsEvent,
  analyticsConfigSchema,
  type CameraAnalyticsState,
  type Detection,
  type GtFrame,
  type GtLineCrossing,
  type GtRecord,
  type GtZoneVisit,
  type SceneDescription,
  type SceneName,
  sceneDescriptionSchema,
} from '@storevision/contracts';
import { type InputSpec, loadModelPackage, resolveInputSpec } from '@storevision/detector';
import {
  decodeForModels,
  edgeConfigSchema,
  startTestRedis,
  type TestRedis,
} from '@storevision/inference-edge';
import { SequenceRenderer, writeSequence } from '@storevision/scenes';
import { EdgeProcess } from './edge-process.ts';

export interface AnalyticsBenchOptions {
  scenes: SceneName[];
  seeds: number[];
  /** Simulated seconds per sequence. */
  seconds: number;
  /** Capture rate of the sequences. */
  fps: number;
  /** Detection rate: every (fps / detectFps)-th frame is pushed. */
  detectFps: number;
  /** Cameras streaming at once. */
  cameras: number;
  cacheDir: string;
  modelsDir: string;
  /** Analyse cached detections in this process instead of streaming frames (see above). */
  replay?: boolean;
  /**
   * Detections are the truth's boxes of people at least this visible (0–1), analysed in this
   * process with no edge: the tracker and counting rules scored alone (see above).
   */
  truthBoxes?: number;
  /** Run the edge with `--motion-gate` (frames without motion repeat the last detections). */
  motionGate?: boolean;
  /** The scenes' arrival rates times this (0.1 a quiet hour, 0 an empty store). @defaultValue 1 */
  crowd?: number;
  onProgress?: (msg: string) => void;
  onFrame?: (done: number, total: number) => void;
}

/** The model the bench's edge runs (the bundled detector). */
const MODEL = 'person-detector';

/** The targets of the analytics issue. */
export const ANALYTICS_TARGETS = {
  footfallError: 0.02,
  occupancyMae: 0.3,
  dwellMedianS: 1.5,
  queueMae: 0.5,
  idf1: 0.8,
} as const;

export interface SequenceResult {
  scene: SceneName;
  seed: number;
  width: number;
  height: number;
  conditions: Record<string, unknown>;
  framesPushed: number;
  /** With `motionGate`: frames whose models the edge skipped (edge_frames_motionless_total). */
  framesWithoutMotion?: number;
  score: Omit<AnalyticsScore, 'dwell'> & { dwell: Omit<AnalyticsScore['dwell'], 'errorsS'> };
}

export interface SceneSummary {
  scene: SceneName;
  sequences: number;
  simulatedSeconds: number;
  framesPushed: number;
  /** Worst per-sequence footfall error (in or out) and the totals. */
  footfall: {
    worstError: number;
    truthIn: number;
    truthOut: number;
    countedIn: number;
    countedOut: number;
  } | null;
  occupancyMae: number;
  queueMae: number | null;
  dwell: { truthVisits: number; matched: number; medianAbsErrorS: number | null } | null;
  mota: number;
  idf1: number;
  idSwitches: number;
  targets: Record<string, boolean>;
}

export interface AnalyticsBenchResult {
  kind: 'analytics-bench';
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  /** The edge's command line (null with `truthBoxes`: no edge runs). */
  command: string | null;
  options: Omit<AnalyticsBenchOptions, 'onProgress' | 'onFrame'>;
  scenes: SceneSummary[];
  sequences: SequenceResult[];
  /** Tracker + analytics time per frame inside the edge (its own histogram), and in-process for 30 people. */
  cost: {
    edgeMeanMs: number | null;
    thirtyPeopleMeanMs: number;
    thirtyPeopleP99Ms: number;
    /** CPU the edge process used (all threads) while the sequences streamed, and per frame pushed. */
    edgeCpuSeconds: number | null;
    edgeCpuMsPerFrame: number | null;
    /**
     * Inference-thread time per frame pushed, from the edge's histograms: decoding (with the motion
     * thumbnail when gated) and running the models (none on a frame the gate skipped).
     */
    edgeDecodeMsPerFrame: number | null;
    edgeModelsMsPerFrame: number | null;
  };
  throughputFps: number;
  seconds: number;
}

interface Sequence {
  scene: SceneName;
  seed: number;
  dir: string;
  description: SceneDescription;
  frames: GtFrame[];
  crossings: GtLineCrossing[];
  visits: GtZoneVisit[];
  startEpochMs: number;
}

/** Renders (or reuses) one sequence in the cache. */
async function ensureSequence(o: AnalyticsBenchOptions, scene: SceneName, seed: number): Promise<Sequence> {
  const frames = Math.round(o.seconds * o.fps);
  const crowd = o.crowd ?? 1;
  const dir = join(
    o.cacheDir,
    `${scene}-s${seed}-${o.fps}fps-${frames}f${crowd === 1 ? '' : `-crowd${crowd}`}`,
  );
  if (!existsSync(join(dir, 'scene.json'))) {
    o.onProgress?.(`rendering ${scene} seed ${seed}: ${frames} frames (cached in ${dir})`);
    const partial = `${dir}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    await writeSequence(new SequenceRenderer({ scene, seed, frames, fps: o.fps, crowd }), partial);
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  }
  const description = sceneDescriptionSchema.parse(
    JSON.parse(await readFile(join(dir, 'scene.json'), 'utf8')),
  );
  const records = (await readFile(join(dir, 'ground-truth.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as GtRecord);
  const header = records.find((r) => r.kind === 'sequence');
  return {
    scene,
    seed,
    dir,
    description,
    frames: records.filter((r): r is GtFrame => r.kind === 'frame'),
    crossings: records.filter((r): r is GtLineCrossing => r.kind === 'line_crossing'),
    visits: records.filter((r): r is GtZoneVisit => r.kind === 'zone_visit'),
    startEpochMs: header?.kind === 'sequence' ? header.startEpochMs : 0,
  };
}

async function api<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  const body = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${body}`);
  return (body ? JSON.parse(body) : undefined) as T;
}

/** The camera a sequence streams as (also its label in the edge's metrics). */
const cameraOf = (seq: { scene: SceneName; seed: number }) => `${seq.scene}-${seq.seed}`;

/** The sequence's queue zones (scored for queue length). */
const queueZonesOf = (seq: Sequence) =>
  seq.description.zones.filter((z) => z.kind === 'queue').map((z) => z.id);

/** Streams one sequence as one camera, closed loop; returns what the edge said after each frame, and its events. */
async function streamSequence(
  edgeUrl: string,
  seq: Sequence,
  step: number,
  onFrame: () => void,
): Promise<{ observed: ObservedFrame[]; events: AnalyticsEvent[] }> {
  const camera = cameraOf(seq);
  await api(`${edgeUrl}/v1/cameras/${camera}/analytics/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(analyticsConfigForScene(seq.description)),
  });
  const observed: ObservedFrame[] = [];
  const queueZones = queueZonesOf(seq);
  for (let i = 0; i < seq.frames.length; i += step) {
    const truth = seq.frames[i]!;
    const jpeg = await readFile(join(seq.dir, truth.file));
    const accepted = await api<{ frameId: string }>(`${edgeUrl}/v1/cameras/${camera}/frames`, {
      method: 'POST',
      headers: {
        'content-type': 'image/jpeg',
        'x-capture-time': String(seq.startEpochMs + Math.round(truth.t)),
      },
      body: jpeg,
    });
    const state = await waitAnalysed(edgeUrl, camera, accepted.frameId);
    if (!state) continue; // failed frame: counted by the edge, scored as not observed
    observed.push(observedOf(truth.frame, state, queueZones));
    onFrame();
  }
  const events: AnalyticsEvent[] = [];
  let after: string | null = null;
  do {
    const q: string = `camera=${camera}&limit=1000${after ? `&after=${after}` : ''}`;
    const page: { events: Array<{ streamId: string; event: AnalyticsEvent }>; next: string | null } =
      await api(`${edgeUrl}/v1/events?${q}`);
    events.push(...page.events.map((e) => e.event));
    after = page.next;
  } while (after);
  return { observed, events };
}

/** One frame's detections as the edge's inference gave them (appearance included). */
interface CachedDetections {
  frame: number;
  width: number;
  height: number;
  detections: Detection[];
}

/**
 * Every frame's detections from the edge's synchronous detect endpoint, cached in the sequence's
 * folder as `detections-<model>@<version>.jsonl` (a new model version detects again).
 */
async function cachedDetections(edgeUrl: string, seq: Sequence, model: string): Promise<CachedDetections[]> {
  const detect = async (file: string) => {
    const res = await fetch(`${edgeUrl}/v1/models/${model}/detect`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: await readFile(join(seq.dir, file)),
    });
    const body = (await res.json()) as {
      version: string;
      width: number;
      height: number;
      detections: Detection[];
    };
    if (!res.ok) throw new Error(`detect ${file}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const first = await detect(seq.frames[0]!.file);
  const file = join(seq.dir, `detections-${model}@${first.version}.jsonl`);
  if (existsSync(file))
    return (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as CachedDetections);
  const out: CachedDetections[] = [];
  for (const f of seq.frames) {
    const r = f.frame === seq.frames[0]!.frame ? first : await detect(f.file);
    if (r.version !== first.version)
      throw new Error(`the model changed from ${first.version} to ${r.version} while detecting`);
    out.push({ frame: f.frame, width: r.width, height: r.height, detections: r.detections });
  }
  await writeFile(`${file}.partial`, out.map((d) => JSON.stringify(d)).join('\n') + '\n');
  await rename(`${file}.partial`, file);
  return out;
}

/** `--replay`: the sequence's cached detections through `CameraAnalytics` in this process. */
async function replaySequence(
  edgeUrl: string,
  seq: Sequence,
  step: number,
  onFrame: () => void,
): Promise<{ observed: ObservedFrame[]; events: AnalyticsEvent[] }> {
  const detections = await cachedDetections(edgeUrl, seq, MODEL);
  return analyseInProcess(seq, step, async (i) => detections[i]!, onFrame);
}

/**
 * `--truth-boxes`: the truth's boxes of people at least `minVisible` seen, as confident detections,
 * with the colours the edge computes, from the frame decoded by the edge's own `decodeForModels`.
 */
async function truthSequence(
  seq: Sequence,
  step: number,
  minVisible: number,
  input: InputSpec,
  onFrame: () => void,
): Promise<{ observed: ObservedFrame[]; events: AnalyticsEvent[] }> {
  const maxPixels = edgeConfigSchema.shape.maxPixels.parse(undefined);
  return analyseInProcess(
    seq,
    step,
    async (i) => {
      const truth = seq.frames[i]!;
      // The edge's own decode: the same pixels its colours are taken from.
      const frame = await decodeForModels(await readFile(join(seq.dir, truth.file)), [input], { maxPixels });
      const detections: Detection[] = truth.objects
        .filter((o) => o.visible >= minVisible)
        .map((o) => {
          const appearance = appearanceOf(frame.image, frame.width, frame.height, o.box);
          return {
            label: o.label,
            classId: o.classId,
            score: 0.9,
            box: o.box,
            ...(appearance ? { appearance } : {}),
          };
        });
      return { frame: truth.frame, width: frame.width, height: frame.height, detections };
    },
    onFrame,
  );
}

/** Each pushed frame's detections through `CameraAnalytics` in this process. */
async function analyseInProcess(
  seq: Sequence,
  step: number,
  detectionsOf: (index: number) => Promise<CachedDetections>,
  onFrame: () => void,
): Promise<{ observed: ObservedFrame[]; events: AnalyticsEvent[] }> {
  const engine = new CameraAnalytics({
    cameraId: cameraOf(seq),
    storeId: 'bench',
    nodeId: 'replay',
    config: analyticsConfigSchema.parse(analyticsConfigForScene(seq.description)),
    configVersion: 1,
  });
  const queueZones = queueZonesOf(seq);
  const observed: ObservedFrame[] = [];
  const events: AnalyticsEvent[] = [];
  for (let i = 0; i < seq.frames.length; i += step) {
    const truth = seq.frames[i]!;
    const d = await detectionsOf(i);
    events.push(
      ...engine.process({
        frameId: `f${truth.frame}`,
        captureTime: seq.startEpochMs + Math.round(truth.t),
        width: d.width,
        height: d.height,
        detections: d.detections,
      }),
    );
    observed.push(observedOf(truth.frame, engine.state(), queueZones));
    onFrame();
  }
  return { observed, events };
}

/** What the scoring needs of a camera's live analytics after one frame. */
function observedOf(frame: number, state: CameraAnalyticsState, queueZones: string[]): ObservedFrame {
  return {
    frame,
    tracks: state.tracks.map((t) => ({ trackId: t.trackId, box: t.box, state: t.state })),
    occupancy: Object.fromEntries(Object.entries(state.zones).map(([id, z]) => [id, z.occupancy])),
    queue: Object.fromEntries(queueZones.map((id) => [id, state.queues[id]?.length ?? 0])),
  };
}

/** Polls the camera's analytics until they are at `frameId`; undefined if the frame failed. */
async function waitAnalysed(
  edgeUrl: string,
  camera: string,
  frameId: string,
): Promise<CameraAnalyticsState | undefined> {
  const deadline = Date.now() + 60_000;
  for (let polls = 0; ; polls++) {
    const state = await api<CameraAnalyticsState>(`${edgeUrl}/v1/cameras/${camera}/analytics`);
    if (state.frameId === frameId) return state;
    if (polls % 50 === 49) {
      const latest = await fetch(`${edgeUrl}/v1/cameras/${camera}/detections/latest`);
      const stats = await api<{ received: number; processed: number; failed: number; dropped: number }>(
        `${edgeUrl}/v1/cameras/${camera}/stats`,
      );
      if (stats.received === stats.processed + stats.failed + stats.dropped && latest.ok) {
        const l = (await latest.json()) as { frameId: string };
        if (l.frameId !== frameId) return undefined;
      }
    }
    if (Date.now() > deadline) throw new Error(`camera ${camera}: frame ${frameId} not analysed within 60 s`);
    await new Promise((r) => setTimeout(r, 3));
  }
}

/** Running sums (s) of the edge's decode and model-run histograms, from its /metrics text. */
function frameWork(metrics: string): { decode: number; models: number } {
  const sum = (name: string) =>
    [...metrics.matchAll(new RegExp(`^${name}_sum(?:\\{[^}]*\\})? (\\S+)`, 'gm'))].reduce(
      (a, m) => a + Number(m[1]),
      0,
    );
  return { decode: sum('edge_frame_decode_seconds'), models: sum('edge_inference_seconds') };
}

/**
 * Tracker + analytics time per frame for 30 people walking through a zoned, lined camera, in-process.
 * The first `warmUp` frames are not timed: an edge analyses a camera for hours, and over the first
 * few hundred frames V8 is still compiling the hot paths (p99 2–5 ms then, under 1 ms after).
 */
export function thirtyPeopleCost(frames = 3000, warmUp = 2000): { meanMs: number; p99Ms: number } {
  const config = analyticsConfigSchema.parse({
    zones: [
      {
        id: 'left',
        kind: 'shelf',
        polygon: [
          [0, 0],
          [0.5, 0],
          [0.5, 1],
          [0, 1],
        ],
      },
      {
        id: 'queue',
        kind: 'queue',
        polygon: [
          [0.5, 0.5],
          [1, 0.5],
          [1, 1],
          [0.5, 1],
        ],
      },
    ],
    lines: [{ id: 'door', a: [0.1, 0.6], b: [0.9, 0.6], in: [0, 1] }],
    operations: [
      { type: 'occupancy' },
      { type: 'line_crossing' },
      { type: 'zone_dwell' },
      { type: 'queue' },
      { type: 'alerts', rules: [{ kind: 'loitering', zone: 'left', dwellSeconds: 30 }] },
    ],
  });
  const a = new CameraAnalytics({ cameraId: 'c', storeId: 's', nodeId: 'n', config, configVersion: 1 });
  const times: number[] = [];
  for (let f = 0; f < warmUp + frames; f++) {
    const detections = Array.from({ length: 30 }, (_, k) => {
      const x = ((k % 6) * 300 + 80 + f * (k % 2 ? 2 : -2) + 1920) % 1920;
      const y = Math.floor(k / 6) * 200 + 200 + ((f * (1 + (k % 3))) % 200);
      return {
        label: 'person',
        classId: 0,
        score: 0.5 + (k % 5) / 10,
        box: { x1: x - 30, y1: y - 160, x2: x + 30, y2: y },
      };
    });
    const t0 = performance.now();
    a.process({
      frameId: String(f),
      captureTime: 1_767_600_000_000 + f * 100,
      width: 1920,
      height: 1080,
      detections,
    });
    if (f >= warmUp) times.push(performance.now() - t0);
  }
  const warm = times.sort((x, y) => x - y);
  return {
    meanMs: warm.reduce((s, x) => s + x, 0) / warm.length,
    p99Ms: warm[Math.min(warm.length - 1, Math.floor(warm.length * 0.99))]!,
  };
}

export async function runAnalyticsBench(o: AnalyticsBenchOptions): Promise<AnalyticsBenchResult> {
  const began = performance.now();
  const step = Math.round(o.fps / o.detectFps);
  if (step < 1 || Math.abs(o.fps / step - o.detectFps) > 1e-6)
    throw new Error(`--detect-fps must divide the capture fps (${o.fps}): got ${o.detectFps}`);
  const sequences: Sequence[] = [];
  for (const scene of o.scenes)
    for (const seed of o.seeds) sequences.push(await ensureSequence(o, scene, seed));

  let redis: TestRedis | undefined;
  let edge: EdgeProcess | undefined;
  const results: SequenceResult[] = [];
  const scores = new Map<Sequence, AnalyticsScore>();
  let pushed = 0;
  const total = sequences.reduce((s, q) => s + Math.ceil(q.frames.length / step), 0);
  let streamSeconds = 0;
  let edgeCpuSeconds: number | null = null;
  let edgeDecodeMsPerFrame: number | null = null;
  let edgeModelsMsPerFrame: number | null = null;
  const truthBoxes = o.truthBoxes;
  try {
    let url = '';
    let cpu0: number | undefined;
    let work0 = { decode: 0, models: 0 };
    let input: InputSpec | undefined;
    if (truthBoxes === undefined) {
      redis = await startTestRedis();
      o.onProgress?.('starting the edge');
      edge = await EdgeProcess.start({
        redisUrl: redis.url,
        modelsDir: o.modelsDir,
        models: [MODEL],
        redisPrefix: 'bench-analytics',
        nodeId: 'bench-analytics',
        ...(o.motionGate ? { extraArgs: ['--motion-gate'] } : {}),
      });
      url = edge.url;
      cpu0 = edge.cpuSeconds();
      work0 = frameWork(await (await fetch(`${url}/metrics`)).text());
    } else {
      // The colours are taken at the size the edge decodes frames for this detector.
      input = resolveInputSpec((await loadModelPackage(join(o.modelsDir, MODEL))).manifest.input);
    }
    const t0 = performance.now();
    const queue = [...sequences];
    await Promise.all(
      Array.from({ length: Math.min(o.cameras, sequences.length) }, async () => {
        for (let seq = queue.shift(); seq; seq = queue.shift()) {
          const s = seq;
          const onFrame = () => o.onFrame?.(++pushed, total);
          const { observed, events } =
            truthBoxes !== undefined && input
              ? await truthSequence(s, step, truthBoxes, input, onFrame)
              : o.replay
                ? await replaySequence(url, s, step, onFrame)
                : await streamSequence(url, s, step, onFrame);
          const score = scoreAnalytics({
            scene: s.description,
            truthFrames: s.frames,
            crossings: s.crossings,
            visits: s.visits,
            observed,
            events,
            startEpochMs: s.startEpochMs,
          });
          scores.set(s, score);
          const { errorsS: _e, ...dwell } = score.dwell;
          results.push({
            scene: s.scene,
            seed: s.seed,
            width: s.description.width,
            height: s.description.height,
            conditions: s.description.conditions,
            framesPushed: observed.length,
            score: { ...score, dwell },
          });
        }
      }),
    );
    streamSeconds = (performance.now() - t0) / 1000;
    const cpu1 = edge?.cpuSeconds();
    edgeCpuSeconds = cpu0 === undefined || cpu1 === undefined ? null : cpu1 - cpu0;
    const metrics = edge ? await (await fetch(`${url}/metrics`)).text() : '';
    const perFrame = (a: number, b: number) => (pushed > 0 ? ((b - a) * 1000) / pushed : null);
    if (edge) {
      const work1 = frameWork(metrics);
      edgeDecodeMsPerFrame = perFrame(work0.decode, work1.decode);
      edgeModelsMsPerFrame = perFrame(work0.models, work1.models);
    }
    const sum = Number(/^edge_analytics_frame_seconds_sum\{[^}]*\} (\S+)/m.exec(metrics)?.[1] ?? Number.NaN);
    const count = Number(
      /^edge_analytics_frame_seconds_count\{[^}]*\} (\S+)/m.exec(metrics)?.[1] ?? Number.NaN,
    );
    if (o.motionGate)
      for (const r of results) {
        const m = new RegExp(
          `^edge_frames_motionless_total\\{[^}]*camera="${cameraOf(r)}"[^}]*\\} (\\S+)`,
          'm',
        ).exec(metrics);
        r.framesWithoutMotion = Number(m?.[1] ?? 0);
      }
    const thirty = thirtyPeopleCost();
    results.sort((a, b) => a.scene.localeCompare(b.scene) || a.seed - b.seed);
    return {
      kind: 'analytics-bench',
      date: new Date().toISOString(),
      machine: {
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
        node: process.version,
      },
      command: edge?.command ?? null,
      options: {
        scenes: o.scenes,
        seeds: o.seeds,
        seconds: o.seconds,
        fps: o.fps,
        detectFps: o.detectFps,
        cameras: o.cameras,
        cacheDir: o.cacheDir,
        modelsDir: o.modelsDir,
        replay: o.replay ?? false,
        ...(truthBoxes === undefined ? {} : { truthBoxes }),
        motionGate: o.motionGate ?? false,
        crowd: o.crowd ?? 1,
      },
      scenes: o.scenes.map((scene) =>
        summarise(
          scene,
          sequences.filter((s) => s.scene === scene).map((s) => [s, scores.get(s)!] as const),
          o,
        ),
      ),
      sequences: results,
      cost: {
        edgeMeanMs: count > 0 ? (sum / count) * 1000 : null,
        thirtyPeopleMeanMs: thirty.meanMs,
        thirtyPeopleP99Ms: thirty.p99Ms,
        edgeCpuSeconds,
        edgeCpuMsPerFrame: edgeCpuSeconds === null || pushed === 0 ? null : (edgeCpuSeconds * 1000) / pushed,
        edgeDecodeMsPerFrame,
        edgeModelsMsPerFrame,
      },
      throughputFps: pushed / Math.max(streamSeconds, 1e-9),
      seconds: (performance.now() - began) / 1000,
    };
  } finally {
    await edge?.stop().catch(() => edge?.kill());
    await redis?.dispose();
  }
}

function summarise(
  scene: SceneName,
  runs: ReadonlyArray<readonly [Sequence, AnalyticsScore]>,
  o: AnalyticsBenchOptions,
): SceneSummary {
  const frames = runs.reduce((s, [, r]) => s + r.frames, 0);
  const weighted = (pick: (r: AnalyticsScore) => Record<string, number>) => {
    // Mean over frames and zones, each sequence weighted by its frames.
    let sum = 0;
    let n = 0;
    for (const [, r] of runs) {
      const v = Object.values(pick(r));
      for (const x of v) {
        sum += x * r.frames;
        n += r.frames;
      }
    }
    return n ? sum / n : 0;
  };
  const lines = runs.flatMap(([, r]) => r.lines);
  const footfall = lines.length
    ? {
        worstError: Math.max(...lines.flatMap((l) => [l.errorIn, l.errorOut])),
        truthIn: lines.reduce((s, l) => s + l.truth.in, 0),
        truthOut: lines.reduce((s, l) => s + l.truth.out, 0),
        countedIn: lines.reduce((s, l) => s + l.counted.in, 0),
        countedOut: lines.reduce((s, l) => s + l.counted.out, 0),
      }
    : null;
  const hasQueue = runs.some(([, r]) => Object.keys(r.queueMae).length > 0);
  const errors = runs.flatMap(([, r]) => r.dwell.errorsS).sort((a, b) => a - b);
  const truthVisits = runs.reduce((s, [, r]) => s + r.dwell.truthVisits, 0);
  const dwell = truthVisits ? { truthVisits, matched: errors.length, medianAbsErrorS: median(errors) } : null;
  const t = runs.map(([, r]) => r.tracking);
  const truth = t.reduce((s, r) => s + r.truth, 0);
  const pred = t.reduce((s, r) => s + r.predicted, 0);
  const misses = t.reduce((s, r) => s + r.misses, 0);
  const fps = t.reduce((s, r) => s + r.falsePositives, 0);
  const idsw = t.reduce((s, r) => s + r.idSwitches, 0);
  const idtp = t.reduce((s, r) => s + r.idtp, 0);
  const mota = truth ? 1 - (misses + fps + idsw) / truth : 0;
  const idf1 = truth + pred ? (2 * idtp) / (truth + pred) : 0;
  const occupancyMae = weighted((r) => r.occupancyMae);
  const queueMae = hasQueue ? weighted((r) => r.queueMae) : null;
  const targets: Record<string, boolean> = {
    occupancy: occupancyMae <= ANALYTICS_TARGETS.occupancyMae,
  };
  if (footfall) targets.footfall = footfall.worstError <= ANALYTICS_TARGETS.footfallError;
  if (queueMae !== null) targets.queue = queueMae <= ANALYTICS_TARGETS.queueMae;
  if (dwell?.medianAbsErrorS != null) targets.dwell = dwell.medianAbsErrorS <= ANALYTICS_TARGETS.dwellMedianS;
  if (scene === 'entrance' || scene === 'aisle') targets.idf1 = idf1 >= ANALYTICS_TARGETS.idf1;
  return {
    scene,
    sequences: runs.length,
    simulatedSeconds: runs.length * o.seconds,
    framesPushed: frames,
    footfall,
    occupancyMae,
    queueMae,
    dwell,
    mota,
    idf1,
    idSwitches: idsw,
    targets,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const mark = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? ' ✔' : ' ✘');

export function formatAnalyticsBench(r: AnalyticsBenchResult): string {
  const o = r.options;
  const out: string[] = [];
  out.push(
    `storevision bench analytics — ${o.scenes.join(', ')}; seeds ${o.seeds.join(',')}; ${o.seconds} s per sequence at ${o.fps} fps, detection at ${o.detectFps} fps${o.crowd !== undefined && o.crowd !== 1 ? `; crowd ×${o.crowd}` : ''}${o.motionGate ? '; motion gating on' : ''}`,
  );
  out.push(
    `machine: ${r.machine.cpus} vCPU ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, node ${r.machine.node}`,
  );
  if (o.truthBoxes !== undefined)
    out.push(
      `TRUTH BOXES: the ground truth's boxes of people at least ${pct(o.truthBoxes)} visible in place of the detector, analysed in this process — the tracker and counting rules alone, not an end-to-end figure`,
    );
  else if (o.replay)
    out.push(
      'REPLAY: cached detections analysed in this process, for tuning; the figures are the end-to-end run without --replay',
    );
  out.push('');
  out.push(
    'scene     | seqs | sim. min | frames | footfall in/out (truth)   | worst err | occupancy MAE | dwell median |e| (matched/visits) | queue MAE | MOTA  | IDF1  | ID sw',
  );
  out.push(
    '----------|------|----------|--------|---------------------------|-----------|---------------|------------------------------------|-----------|-------|-------|------',
  );
  for (const s of r.scenes) {
    const ff = s.footfall
      ? `${s.footfall.countedIn}/${s.footfall.countedOut} (${s.footfall.truthIn}/${s.footfall.truthOut})`
      : '—';
    const dw = s.dwell
      ? `${s.dwell.medianAbsErrorS === null ? '—' : `${s.dwell.medianAbsErrorS.toFixed(2)} s`}${mark(s.targets.dwell)} (${s.dwell.matched}/${s.dwell.truthVisits})`
      : '—';
    out.push(
      [
        s.scene.padEnd(9),
        String(s.sequences).padStart(4),
        (s.simulatedSeconds / 60).toFixed(1).padStart(8),
        String(s.framesPushed).padStart(6),
        ff.padEnd(25),
        (s.footfall ? pct(s.footfall.worstError) + mark(s.targets.footfall) : '—').padEnd(9),
        (s.occupancyMae.toFixed(3) + mark(s.targets.occupancy)).padEnd(13),
        dw.padEnd(34),
        (s.queueMae === null ? '—' : s.queueMae.toFixed(3) + mark(s.targets.queue)).padEnd(9),
        s.mota.toFixed(3).padEnd(5),
        (s.idf1.toFixed(3) + mark(s.targets.idf1)).padEnd(5),
        String(s.idSwitches).padStart(5),
      ].join(' | '),
    );
  }
  out.push('');
  out.push('per sequence:');
  for (const q of r.sequences) {
    const lines = q.score.lines
      .map((l) => `${l.line} in ${l.counted.in}/${l.truth.in} out ${l.counted.out}/${l.truth.out}`)
      .join(', ');
    out.push(
      `  ${q.scene} ${q.seed} ${q.width}x${q.height}: ${q.framesPushed} frames; ${lines || 'no lines'}; occupancy MAE ${Object.entries(
        q.score.occupancyMae,
      )
        .map(([z, v]) => `${z} ${v.toFixed(2)}`)
        .join(', ')}; MOTA ${q.score.tracking.mota.toFixed(3)} IDF1 ${q.score.tracking.idf1.toFixed(3)}${
        q.framesWithoutMotion === undefined
          ? ''
          : `; motion gating skipped the models on ${q.framesWithoutMotion} frames${q.framesPushed > 0 ? ` (${pct(q.framesWithoutMotion / q.framesPushed)})` : ''}`
      }`,
    );
  }
  out.push('');
  out.push(
    `tracker + analytics per frame: ${r.cost.edgeMeanMs === null ? '—' : `${r.cost.edgeMeanMs.toFixed(3)} ms mean in the edge`}; 30 people in-process: ${r.cost.thirtyPeopleMeanMs.toFixed(3)} ms mean, ${r.cost.thirtyPeopleP99Ms.toFixed(3)} ms p99`,
  );
  out.push(
    `targets: footfall ≤ ${pct(ANALYTICS_TARGETS.footfallError)} per sequence; occupancy MAE ≤ ${ANALYTICS_TARGETS.occupancyMae}; dwell median ≤ ${ANALYTICS_TARGETS.dwellMedianS} s; queue MAE ≤ ${ANALYTICS_TARGETS.queueMae}; IDF1 ≥ ${ANALYTICS_TARGETS.idf1} (entrance, aisle)`,
  );
  if (r.cost.edgeCpuSeconds !== null && r.cost.edgeCpuMsPerFrame !== null)
    out.push(
      `edge CPU while streaming (all its threads, answering this bench's polls of the analytics state too): ${r.cost.edgeCpuSeconds.toFixed(1)} s, ${r.cost.edgeCpuMsPerFrame.toFixed(1)} ms a frame${o.motionGate ? ' (motion gating on)' : ''}`,
    );
  if (r.cost.edgeDecodeMsPerFrame !== null && r.cost.edgeModelsMsPerFrame !== null)
    out.push(
      `inference threads per frame pushed: decode ${r.cost.edgeDecodeMsPerFrame.toFixed(2)} ms${o.motionGate ? ' (with the motion thumbnail)' : ''}, models ${r.cost.edgeModelsMsPerFrame.toFixed(2)} ms`,
    );
  out.push(
    o.replay || o.truthBoxes !== undefined
      ? `${r.throughputFps.toFixed(1)} frames/s replayed; ${(r.seconds / 60).toFixed(1)} min in all`
      : `${r.throughputFps.toFixed(1)} frames/s through the edge, closed loop; ${(r.seconds / 60).toFixed(1)} min in all`,
  );
  return out.join('\n');
}
