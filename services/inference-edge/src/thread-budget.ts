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
 * single-threaded decode leaves the other core idle. There the default is two single-threaded
 * inference threads per core: while one waits for its decode (libvips) or for the main thread to
 * hand it the next frame, the other runs its model, so the cores stay busy (`storevision bench
 * edge`, 2 cores, person-detector 1.1.0 at 1280×720, 2026-11-27: bare 4×1 142 vs 2×1 127 vs 1×2
 * 116 frames/s; the edge with 4 threads 107–112 vs 84–88 frames/s with 2).
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
  // Below 4 cores: two single-threaded inference threads per core (see above).
  const perCore = cores >= 4 ? 1 : 2;
  const inferenceThreads =
    opts.inferenceThreads ??
    Math.max(1, Math.floor((perCore * budget) / (opts.intraOpThreads ?? defaultIntraOp)));
  const intraOpThreads = opts.intraOpThreads ?? Math.max(1, Math.floor(budget / inferenceThreads));
  return { cores, inferenceThreads, intraOpThreads, sharpConcurrency: 1 };
}
