import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * How the node's cores are shared between inference threads, onnxruntime's intra-op pool and
 * libvips. Each inference thread decodes its frame with sharp (libvips, 1 thread: the frame is
 * small and the thread is about to run the model anyway) and then runs onnxruntime with
 * `intraOpThreads`; threads × intra-op stays within the cores left after the HTTP thread.
 *
 * More threads with fewer intra-op threads each give more frames per second across cameras (no
 * operator parallelises perfectly); fewer, wider threads give lower latency for one frame. On 4+
 * cores the default is 2 intra-op threads per inference thread. Below that there is no core left for
 * the event loop, and every request, Redis reply and the Redis server itself preempt inference: an
 * operator split over 2 intra-op threads then waits at its barrier for the preempted half, and the
 * single-threaded decode leaves the other core idle. There the default is one single-threaded
 * inference thread per core, and two for light models (every model's input at most 416×416
 * pixels): while one waits for its decode (libvips) or for the main thread to hand it the next
 * frame, the other runs its model, so the cores stay busy. For a heavier model the decode is a
 * small share of a frame's work and two models sharing a core only slow each other down
 * (`storevision bench edge`, 2 cores, quiet machine, 2026-11-27: person-detector 1.1.0 at 384,
 * 1280×720, bare 4×1 144 vs 2×1 130 frames/s, the edge 117–128 frames/s with 4 threads; YOLOv8n
 * at 640, bare 2×1 37.3 vs 4×1 34.8).
 */

/** Largest input (height × width) of a model that gets two inference threads per core on small nodes. */
export const LIGHT_MODEL_MAX_PIXELS = 416 * 416;

/**
 * Whether every model package in `dirs` is light (input ≤ `LIGHT_MODEL_MAX_PIXELS`), from their
 * manifests; false when any cannot be read (the thread budget then stays at one per core).
 */
export async function lightModels(dirs: readonly string[]): Promise<boolean> {
  if (dirs.length === 0) return false;
  for (const dir of dirs) {
    try {
      const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
        input?: { shape?: unknown };
      };
      const shape = m.input?.shape;
      if (!Array.isArray(shape) || shape.length !== 4) return false;
      const [, , h, w] = shape as unknown[];
      if (typeof h !== 'number' || typeof w !== 'number' || h * w > LIGHT_MODEL_MAX_PIXELS) return false;
    } catch {
      return false;
    }
  }
  return true;
}
export interface ThreadBudget {
  cores: number;
  inferenceThreads: number;
  intraOpThreads: number;
  /** libvips threads per sharp pipeline inside an inference thread. */
  sharpConcurrency: number;
}

export function planThreads(opts: {
  cores: number;
  inferenceThreads?: number | undefined;
  intraOpThreads?: number | undefined;
  /**
   * Every model is light (`lightModels`): decoding a frame costs a good share of running the model,
   * so a second thread per core below 4 cores keeps the cores busy. @defaultValue false
   */
  lightModels?: boolean;
}): ThreadBudget {
  const cores = Math.max(1, Math.floor(opts.cores));
  // On 4+ cores one is left to the event loop (HTTP, BullMQ, Redis replies) and libuv.
  const budget = Math.max(1, cores >= 4 ? cores - 1 : cores);
  const defaultIntraOp = cores >= 4 ? 2 : 1;
  // Below 4 cores, light models: two single-threaded inference threads per core (see above).
  const perCore = cores < 4 && opts.lightModels ? 2 : 1;
  const inferenceThreads =
    opts.inferenceThreads ??
    Math.max(1, Math.floor((perCore * budget) / (opts.intraOpThreads ?? defaultIntraOp)));
  const intraOpThreads = opts.intraOpThreads ?? Math.max(1, Math.floor(budget / inferenceThreads));
  return { cores, inferenceThreads, intraOpThreads, sharpConcurrency: 1 };
}
