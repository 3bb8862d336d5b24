/**
 * The bare limit of a machine for one model: `Detector.detect(jpeg)` in tight loops, one detector
 * per worker thread, for a few thread layouts (threads × onnxruntime intra-op threads). The best
 * layout's frames/s is what the edge service is compared with.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BareFromThread, BareThreadReport, BareToThread } from './bare-limit-thread.ts';
import { type BareConfig, describeConfig } from './edge-bench-stats.ts';
import { machineCores, machineCpuTicks } from './edge-process.ts';

export interface BareRun {
  config: BareConfig;
  label: string;
  frames: number;
  seconds: number;
  framesPerSecond: number;
  /** Mean time one frame takes through detect() in this layout (what a single frame waits). */
  frameMs: number;
  frameMsP50: number;
  /** Mean parts of a frame: decode + resize, tensor, session.run, output decode + NMS. */
  decodeMs: number;
  preprocessMs: number;
  inferMs: number;
  postprocessMs: number;
  /** Cores busy during the timed window: this process (the detector threads), and the rest of the machine. */
  cpu: { process: number; other: number | null };
}

export interface BareLimitOptions {
  modelDir: string;
  frames: Buffer[];
  config: BareConfig;
  seconds: number;
  /** libvips threads per detector thread. @defaultValue 1 (as the edge's inference threads) */
  sharpConcurrency?: number;
}

const now = () => performance.timeOrigin + performance.now();

/** Starts `config.threads` detector threads, waits until all are warm, then runs them together. */
export async function measureBareLimit(o: BareLimitOptions): Promise<{
  run: BareRun;
  model: { name: string; version: string; input: string };
}> {
  // Copies: a Buffer may be a view into a larger pooled ArrayBuffer, which cloning would copy whole.
  const frames = o.frames.map((b) => new Uint8Array(b));
  const workers: Worker[] = [];
  try {
    const ready: Promise<{ name: string; version: string; input: string }>[] = [];
    const done: Promise<BareThreadReport>[] = [];
    for (let t = 0; t < o.config.threads; t++) {
      const worker = new Worker(new URL('./bare-limit-thread-entry.mjs', import.meta.url), {
        workerData: {
          modelDir: o.modelDir,
          intraOpThreads: o.config.intraOp,
          sharpConcurrency: o.sharpConcurrency ?? 1,
          frames,
          offset: Math.floor((t * frames.length) / o.config.threads),
        },
        name: `bare-${t}`,
      });
      workers.push(worker);
      const failed = new Promise<never>((_, reject) => {
        worker.on('error', reject);
        worker.on('exit', (code) => reject(new Error(`bare-limit thread exited with ${code}`)));
        worker.on('message', (m: BareFromThread) => {
          if (m.type === 'failed') reject(new Error(`bare-limit thread: ${m.message}`));
        });
      });
      failed.catch(() => {});
      const waitFor = <T extends BareFromThread['type']>(type: T) =>
        Promise.race([
          failed,
          new Promise<Extract<BareFromThread, { type: T }>>((resolve) => {
            const on = (m: BareFromThread) => {
              if (m.type !== type) return;
              worker.off('message', on);
              resolve(m as Extract<BareFromThread, { type: T }>);
            };
            worker.on('message', on);
          }),
        ]);
      ready.push(waitFor('ready').then((m) => m.model));
      const report = waitFor('done').then((m) => m.report);
      // Awaited only once every thread is ready; a load failure must not surface as unhandled here.
      report.catch(() => {});
      done.push(report);
    }
    const models = await Promise.all(ready);
    const startAt = now() + 50;
    const endAt = startAt + o.seconds * 1000;
    for (const w of workers) w.postMessage({ type: 'run', startAt, endAt } satisfies BareToThread);
    await new Promise((r) => setTimeout(r, startAt - now()));
    const cpu0 = process.cpuUsage();
    const machine0 = machineCpuTicks();
    const wall0 = now();
    const reports = await Promise.all(done);
    const wall = (now() - wall0) / 1000;
    const own = process.cpuUsage(cpu0);
    const ownCores = (own.user + own.system) / 1e6 / wall;
    const machine = machineCores(machine0, machineCpuTicks(), os.availableParallelism());
    const total = reports.reduce((a, r) => a + r.frames, 0);
    const frameMs = reports.flatMap((r) => r.frameMs);
    // Each thread's frames over its own time, summed: a frame in flight at the deadline is not cut.
    const framesPerSecond = reports.reduce(
      (a, r) => a + (r.frames > 0 ? (r.frames * 1000) / (r.lastEndAt - startAt) : 0),
      0,
    );
    const mean = (k: 'decodeMs' | 'preprocessMs' | 'inferMs' | 'postprocessMs') =>
      total ? reports.reduce((a, r) => a + r[k], 0) / total : Number.NaN;
    const sorted = [...frameMs].sort((a, b) => a - b);
    return {
      model: models[0]!,
      run: {
        config: o.config,
        label: describeConfig(o.config),
        frames: total,
        seconds: (Math.max(...reports.map((r) => r.lastEndAt)) - startAt) / 1000,
        framesPerSecond,
        frameMs: total ? frameMs.reduce((a, b) => a + b, 0) / total : Number.NaN,
        frameMsP50: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
        decodeMs: mean('decodeMs'),
        preprocessMs: mean('preprocessMs'),
        inferMs: mean('inferMs'),
        postprocessMs: mean('postprocessMs'),
        cpu: { process: ownCores, other: machine === undefined ? null : Math.max(0, machine - ownCores) },
      },
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
