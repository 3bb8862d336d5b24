/**
 * An inference thread: loads its models once (long-lived onnxruntime sessions, warmed up), then
 * answers tasks from the pool one at a time. Runs under worker_threads; `pool.ts` starts it with
 * tsx's loader so this TypeScript file runs as is.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { appearanceOf } from '@storevision/analytics';
import {
  createDetectorFromPackage,
  createInputBuffer,
  type Detector,
  type InputTensorData,
  writeTensor,
} from '@storevision/detector';
import pino from 'pino';
import sharp from 'sharp';
import { decodeForModels, pixelsFor } from './frame-decoder.ts';
import type {
  DetectTaskResult,
  FromThread,
  LoadedModel,
  ModelRun,
  TaskRequest,
  TaskResult,
  ThreadInit,
  ToThread,
} from './messages.ts';
import { motionThumbnail, movedFraction } from './motion.ts';

const init = workerData as ThreadInit;
const port = parentPort;
if (!port) throw new Error('inference-thread.ts must run in a worker thread');
const logger = pino({ level: init.logLevel }).child({ module: 'inference-thread', thread: init.threadIndex });

// libvips would otherwise start one thread per core in every inference thread; the pool budgets
// cores across threads (thread-budget.ts), so each thread's decode stays on one.
sharp.concurrency(init.sharpConcurrency);
sharp.cache(false);

const send = (msg: FromThread) => port.postMessage(msg);
/**
 * Loaded detectors by `name@version`. Several versions of a model can be loaded at once while the
 * live one is switched: tasks name the version they run (set by the pool), so a task that started
 * on the old version finishes on it; the old one is released when its last task is done.
 */
const detectors = new Map<string, Detector>();
/** The version of each model loaded at start (tasks without `versions` use it). */
const initial = new Map<string, string>();
/** Tasks running on each loaded version, and versions waiting for their last task to release. */
const inUse = new Map<string, number>();
const unloadWhenIdle = new Set<string>();
const keyOf = (name: string, version: string) => `${name}@${version}`;

async function loadDetector(name: string, dir: string): Promise<LoadedModel> {
  const detector = await createDetectorFromPackage(dir, {
    session: { intraOpNumThreads: init.intraOpThreads, interOpNumThreads: 1 },
    maxPixels: init.maxPixels,
    warmupRuns: 2,
    logger,
  });
  if (detector.manifest.name !== name) {
    await detector.release();
    throw Object.assign(new Error(`package in ${dir} is ${detector.manifest.name}, not ${name}`), {
      code: 'EDGE_ERR_MODEL_LOAD_FAILED',
    });
  }
  const key = keyOf(name, detector.manifest.version);
  const existing = detectors.get(key);
  if (existing) {
    // Already loaded (a rollback to a version still held): keep the warm one.
    await detector.release();
    unloadWhenIdle.delete(key);
  } else detectors.set(key, detector);
  const d = detectors.get(key)!;
  return {
    name,
    version: d.manifest.version,
    manifest: d.manifest,
    executionProviders: [...d.executionProviders],
  };
}

async function load(): Promise<void> {
  const t0 = performance.now();
  try {
    const loaded: LoadedModel[] = [];
    for (const [name, dir] of Object.entries(init.models)) {
      const m = await loadDetector(name, dir);
      initial.set(name, m.version);
      loaded.push(m);
    }
    send({ type: 'ready', models: loaded, loadMs: performance.now() - t0 });
  } catch (err) {
    send({ type: 'load-failed', error: serialize(err) });
  }
}

function unload(key: string): void {
  if ((inUse.get(key) ?? 0) > 0) {
    unloadWhenIdle.add(key);
    return;
  }
  unloadWhenIdle.delete(key);
  const d = detectors.get(key);
  if (!d) return;
  detectors.delete(key);
  inputs.delete(key);
  d.release().catch((err) => logger.warn({ err, model: key }, 'releasing a model failed'));
}

/** Holds the detectors a task uses until it ends, so an unload waits for it. */
async function withModels<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
  for (const k of keys) inUse.set(k, (inUse.get(k) ?? 0) + 1);
  try {
    return await fn();
  } finally {
    for (const k of keys) {
      const n = (inUse.get(k) ?? 1) - 1;
      inUse.set(k, n);
      if (n === 0 && unloadWhenIdle.has(k)) unload(k);
    }
  }
}

async function run(task: TaskRequest): Promise<TaskResult> {
  if (task.kind === 'infer') {
    const key = keyFor(task.model, task.version);
    const detector = detectorFor(key);
    const t0 = performance.now();
    const out = await withModels([key], () => detector.run(task.tensor));
    return {
      kind: 'infer',
      outputName: detector.manifest.output.name,
      dims: out.dims,
      data: out.data,
      inferMs: performance.now() - t0,
    };
  }
  if (task.fault === 'crash') {
    // An uncaught error ends the thread like a native abort would, from the pool's point of view.
    setImmediate(() => {
      throw new Error('injected crash');
    });
    return new Promise<never>(() => {});
  }
  if (task.fault === 'hang') for (;;) {}
  const names = task.models;
  const keys = names.map((n) => keyFor(n, task.versions?.[n]));
  const used = keys.map(detectorFor);
  return withModels(keys, () => detect(task, names, keys, used));
}

async function detect(
  task: Extract<TaskRequest, { kind: 'detect' }>,
  names: string[],
  keys: string[],
  used: Detector[],
): Promise<TaskResult> {
  const t0 = performance.now();
  const frame = await decodeForModels(
    Buffer.from(task.image.buffer, task.image.byteOffset, task.image.byteLength),
    used.map((d) => d.inputSpec),
    { maxPixels: init.maxPixels },
  );
  let motion: DetectTaskResult['motion'];
  if (task.motion) {
    const thumbnail = motionThumbnail(frame.image);
    const ref = task.motion.reference;
    // Boxes are repeated as they were: only onto a frame of the same size, from the same versions.
    const comparable =
      ref !== undefined &&
      ref.width === frame.width &&
      ref.height === frame.height &&
      used.every((d, i) => ref.versions[names[i]!] === d.manifest.version);
    const moved = comparable ? movedFraction(ref.thumbnail, thumbnail, task.motion.pixelThreshold) : 1;
    const skipped = comparable && moved < task.motion.minChangedFraction;
    motion = { moved, skipped, thumbnail };
    if (skipped)
      return {
        kind: 'detect',
        width: frame.width,
        height: frame.height,
        decodeMs: performance.now() - t0,
        models: {},
        motion,
      };
  }
  const decodeMs = performance.now() - t0;
  const models: Record<string, ModelRun> = {};
  for (let i = 0; i < used.length; i++) {
    const detector = used[i]!;
    const geometry = frame.geometries[i]!;
    const tensor = inputFor(keys[i]!, detector);
    writeTensor(await pixelsFor(frame, geometry), geometry, detector.inputSpec, tensor);
    const t1 = performance.now();
    const output = await detector.run(tensor);
    const inferMs = performance.now() - t1;
    const detections = detector.decode(output, geometry, task.overrides);
    // Colours for the tracker, from the pixels already decoded (a few hundred reads per detection).
    for (const d of detections) {
      const appearance = appearanceOf(frame.image, frame.width, frame.height, d.box);
      if (appearance) d.appearance = appearance;
    }
    models[names[i]!] = { version: detector.manifest.version, detections, inferMs };
  }
  return {
    kind: 'detect',
    width: frame.width,
    height: frame.height,
    decodeMs,
    models,
    ...(motion ? { motion } : {}),
  };
}

/** One input tensor per model, reused frame after frame (a thread runs one task at a time). */
const inputs = new Map<string, InputTensorData>();
function inputFor(name: string, detector: Detector): InputTensorData {
  let t = inputs.get(name);
  if (!t) {
    t = createInputBuffer(detector.inputSpec);
    inputs.set(name, t);
  }
  return t;
}

function keyFor(name: string, version: string | undefined): string {
  return keyOf(name, version ?? initial.get(name) ?? '');
}

function detectorFor(key: string): Detector {
  const d = detectors.get(key);
  if (!d)
    throw Object.assign(new Error(`model ${key} is not loaded on this thread`), {
      code: 'EDGE_ERR_MODEL_NOT_FOUND',
    });
  return d;
}

function serialize(err: unknown): { code?: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return {
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

port.on('message', (msg: ToThread) => {
  if (msg.type === 'load-model') {
    const t0 = performance.now();
    loadDetector(msg.name, msg.dir).then(
      (model) => send({ type: 'model-loaded', id: msg.id, model, loadMs: performance.now() - t0 }),
      (err) => send({ type: 'model-load-failed', id: msg.id, error: serialize(err) }),
    );
    return;
  }
  if (msg.type === 'unload-model') {
    unload(keyOf(msg.name, msg.version));
    return;
  }
  run(msg.task).then(
    (result) => send({ type: 'done', id: msg.id, result }),
    (err) => send({ type: 'failed', id: msg.id, error: serialize(err) }),
  );
});

await load();
