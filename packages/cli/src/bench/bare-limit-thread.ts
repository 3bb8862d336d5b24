/**
 * One thread of the bare-limit benchmark: a long-lived detector doing exactly the edge's work per
 * frame (`Detector.detect`: header check, JPEG decode with shrink-on-load and letterbox resize,
 * tensor, `session.run`, output decode and NMS) on pre-rendered JPEGs in a tight loop, with no
 * HTTP, Redis or queue around it. libvips gets one thread, as in the edge's inference threads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDetectorFromPackage } from '@storevision/detector';
import sharp from 'sharp';

export interface BareThreadInit {
  modelDir: string;
  intraOpThreads: number;
  sharpConcurrency: number;
  /** Encoded JPEGs; the thread starts at `offset` so threads do not decode the same frame together. */
  frames: Uint8Array[];
  offset: number;
}

/** Epoch ms (sub-ms precision) at which to start and to stop taking new frames. */
export type BareToThread = { type: 'run'; startAt: number; endAt: number };

export interface BareThreadReport {
  frames: number;
  /** Epoch ms of the last frame's completion. */
  lastEndAt: number;
  /** Per frame: the whole detect() call, and its parts. */
  frameMs: number[];
  decodeMs: number;
  preprocessMs: number;
  inferMs: number;
  postprocessMs: number;
}

export type BareFromThread =
  | { type: 'ready'; model: { name: string; version: string; input: string } }
  | { type: 'done'; report: BareThreadReport }
  | { type: 'failed'; message: string };

const init = workerData as BareThreadInit;
const port = parentPort;
if (!port) throw new Error('bare-limit-thread.ts must run in a worker thread');
const send = (m: BareFromThread) => port.postMessage(m);

sharp.concurrency(init.sharpConcurrency);
sharp.cache(false);

const frames = init.frames.map((u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength));
const now = () => performance.timeOrigin + performance.now();

try {
  const detector = await createDetectorFromPackage(init.modelDir, {
    session: { intraOpNumThreads: init.intraOpThreads, interOpNumThreads: 1 },
    warmupRuns: 2,
  });
  // A few real frames too: the first decodes of each size allocate libvips and JIT paths.
  for (let i = 0; i < Math.min(3, frames.length); i++) await detector.detect(frames[i]!);
  const m = detector.manifest;
  send({ type: 'ready', model: { name: m.name, version: m.version, input: m.input.shape.join('x') } });

  port.on('message', async (msg: BareToThread) => {
    if (msg.type !== 'run') return;
    try {
      const wait = msg.startAt - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const report: BareThreadReport = {
        frames: 0,
        lastEndAt: msg.startAt,
        frameMs: [],
        decodeMs: 0,
        preprocessMs: 0,
        inferMs: 0,
        postprocessMs: 0,
      };
      let i = init.offset;
      while (now() < msg.endAt) {
        const t0 = performance.now();
        const { timings } = await detector.detect(frames[i++ % frames.length]!);
        report.frameMs.push(performance.now() - t0);
        report.frames++;
        report.lastEndAt = now();
        report.decodeMs += timings.decodeMs;
        report.preprocessMs += timings.preprocessMs;
        report.inferMs += timings.inferMs;
        report.postprocessMs += timings.postprocessMs;
      }
      send({ type: 'done', report });
    } catch (err) {
      send({ type: 'failed', message: (err as Error).message });
    }
  });
} catch (err) {
  send({ type: 'failed', message: (err as Error).message });
}
