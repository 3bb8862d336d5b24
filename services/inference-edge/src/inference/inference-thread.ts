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
  FromThread,
  LoadedModel,
  ModelRun,
  TaskRequest,
  TaskResult,
  ThreadInit,
  ToThread,
} from './messages.ts';

const init = workerData as ThreadInit;
const port = parentPort;
if (!port) throw new Error('inference-thread.ts must run in a worker thread');
const logger = pino({ level: init.logLevel }).child({ module: 'inference-thread', thread: init.threadIndex });

// libvips would otherwise start one thread per core in every inference thread; the pool budgets
// cores across threads (thread-budget.ts), so each thread's decode stays on one.
sharp.concurrency(init.sharpConcurrency);
sharp.cache(false);

const send = (msg: FromThread) => port.postMessage(msg);
const detectors = new Map<string, Detector>();

async function load(): Promise<void> {
  const t0 = performance.now();
  try {
    const loaded: LoadedModel[] = [];
    for (const [name, dir] of Object.entries(init.models)) {
      const detector = await createDetectorFromPackage(dir, {
        session: { intraOpNumThreads: init.intraOpThreads, interOpNumThreads: 1 },
        maxPixels: init.maxPixels,
        warmupRuns: 2,
        logger,
      });
      detectors.set(name, detector);
      loaded.push({
        name,
        version: detector.manifest.version,
        manifest: detector.manifest,
        executionProviders: [...detector.executionProviders],
      });
    }
    send({ type: 'ready', models: loaded, loadMs: performance.now() - t0 });
  } catch (err) {
    send({ type: 'load-failed', error: serialize(err) });
  }
}

async function run(task: TaskRequest): Promise<TaskResult> {
  if (task.kind === 'infer') {
    const detector = detectorFor(task.model);
    const t0 = performance.now();
    const out = await detector.run(task.tensor);
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
  const used = names.map(detectorFor);
  const t0 = performance.now();
  const frame = await decodeForModels(
    Buffer.from(task.image.buffer, task.image.byteOffset, task.image.byteLength),
    used.map((d) => d.inputSpec),
    { maxPixels: init.maxPixels },
  );
  const decodeMs = performance.now() - t0;
  const models: Record<string, ModelRun> = {};
  for (let i = 0; i < used.length; i++) {
    const detector = used[i]!;
    const geometry = frame.geometries[i]!;
    const tensor = inputFor(names[i]!, detector);
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
  return { kind: 'detect', width: frame.width, height: frame.height, decodeMs, models };
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

function detectorFor(name: string): Detector {
  const d = detectors.get(name);
  if (!d)
    throw Object.assign(new Error(`model ${name} is not loaded on this thread`), {
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
  if (msg.type !== 'task') return;
  run(msg.task).then(
    (result) => send({ type: 'done', id: msg.id, result }),
    (err) => send({ type: 'failed', id: msg.id, error: serialize(err) }),
  );
});

await load();
