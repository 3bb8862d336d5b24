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
 * inference thread per core (`storevision bench edge`, 2 cores, person-detector at 1280×720: bare
 * 2×1 ~165 vs 1×2 ~120 frames/s; the edge ~120 vs ~80 frames/s).
 */
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
}): ThreadBudget {
  const cores = Math.max(1, Math.floor(opts.cores));
  // On 4+ cores one is left to the event loop (HTTP, BullMQ, Redis replies) and libuv.
  const budget = Math.max(1, cores >= 4 ? cores - 1 : cores);
  const defaultIntraOp = cores >= 4 ? 2 : 1;
  const inferenceThreads =
    opts.inferenceThreads ?? Math.max(1, Math.floor(budget / (opts.intraOpThreads ?? defaultIntraOp)));
  const intraOpThreads = opts.intraOpThreads ?? Math.max(1, Math.floor(budget / inferenceThreads));
  return { cores, inferenceThreads, intraOpThreads, sharpConcurrency: 1 };
}
