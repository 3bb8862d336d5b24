/**
 * How the node's cores are shared between inference threads, onnxruntime's intra-op pool and
 * libvips. Each inference thread decodes its frame with sharp (libvips, 1 thread: the frame is
 * small and the thread is about to run the model anyway) and then runs onnxruntime with
 * `intraOpThreads`; threads × intra-op stays within the cores left after the HTTP thread.
 *
 * More threads with fewer intra-op threads each give more frames per second across cameras (no
 * operator parallelises perfectly); fewer, wider threads give lower latency for one frame. The
 * default favours throughput with 2 intra-op threads per inference thread.
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
  const inferenceThreads =
    opts.inferenceThreads ?? Math.max(1, Math.floor(budget / (opts.intraOpThreads ?? 2)));
  const intraOpThreads = opts.intraOpThreads ?? Math.max(1, Math.floor(budget / inferenceThreads));
  return { cores, inferenceThreads, intraOpThreads, sharpConcurrency: 1 };
}
