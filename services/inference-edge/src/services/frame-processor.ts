import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FrameJob, type FrameResult, frameJobSchema } from '@storevision/contracts';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isEdgeError } from '../errors.ts';
import type { InjectedFault, MotionReferenceFrame } from '../inference/messages.ts';
import type { MotionOptions, MotionThumbnail } from '../inference/motion.ts';
import type { InferencePool, ThreadLease } from '../inference/pool.ts';
import type { EdgeMetrics } from '../metrics.ts';
import { FRAME_QUEUE_NAME, type FrameQueue, type IdleRunners } from '../queue/frame-queue.ts';
import type { FrameRepository } from '../repositories/frame.repository.ts';

export interface FrameProcessorOptions {
  /** A connection of the worker's own (BullMQ blocks on it); `maxRetriesPerRequest: null`. */
  connection: Redis;
  prefix: string;
  repository: FrameRepository;
  /** Where a runner that ends early queues the one that takes its place. */
  queue: FrameQueue;
  pool: InferencePool;
  metrics: EdgeMetrics;
  logger: Logger;
  nodeId: string;
  /** Frames inferred at once: the pool's thread count (BullMQ runs two runners per thread). */
  concurrency: number;
  attempts: number;
  /**
   * A runner ends after this long (its successor is queued when cameras are due), so no BullMQ job
   * lives through a whole busy period (its lock, its stall count). @defaultValue 10 s
   */
  maxRunMs?: number;
  /** How often the processor checks that the cameras due have a runner. @defaultValue 5 s */
  sweepMs?: number;
  /**
   * A runner that finds no camera due waits this long (its job still active) for one to become due
   * before its job ends: the next runner to start is handed to it instead of becoming a BullMQ job,
   * so a node whose cameras send slower than it infers does not pay BullMQ's job lifecycle per
   * frame. 0: end at once; at most what is left of `maxRunMs`. @defaultValue 2000 ms
   */
  idleMs?: number;
  /**
   * Motion gating (`inference/motion.ts`), off without it: a frame that barely differs from the
   * camera's last detected frame, taken less than `maxSkipMs` after it, repeats that frame's
   * detections instead of running the models.
   */
  motion?: MotionOptions & { maxSkipMs: number };
  /** Tests only: make the inference thread crash or hang on some frames (see `InjectedFault`). */
  injectFault?: (job: FrameJob, attempt: number) => InjectedFault | undefined;
}

export type FrameOutcome = 'processed' | 'duplicate' | 'skipped' | 'expired';

/** A camera's last detected frame, for motion gating. */
interface MotionReference {
  /** What the inference thread compares the next frame with (sent as is). */
  frame: MotionReferenceFrame;
  /** When this node received it (its own clock: a camera's clock may stand still). */
  receivedAt: number;
  captureTime: number;
  /** The models it ran, in the frame's order. */
  modelNames: string;
  models: FrameResult['models'];
}

/** Cameras whose last detected frame is kept for motion gating (the oldest goes first). */
const MOTION_CAMERAS = 4096;

/**
 * The consumer side of the frame queue, on the main thread. A BullMQ job is a runner (see
 * `FrameRepository`): once a thread is free for it, it claims the frame of the camera whose turn is
 * due, has the thread decode it once and run every model, writes the result exactly once, and goes
 * on with the next due camera until none is due; then its job waits up to `idleMs` to take on the
 * next runner to start (see `offer`) before it ends. BullMQ runs up to two runners per inference thread
 * (one inferring, one waiting for that thread with its claim ready to go), so a busy node pays for
 * BullMQ's job lifecycle about once per runner lifetime (at most `maxRunMs`), not once per frame,
 * while its cameras take turns. A retried job takes only the frame it held and then ends, so every
 * frame gets the same number of attempts. Every few seconds the processor checks that the cameras
 * due have a runner (one lost to a Redis error between two calls would otherwise wait for the next
 * frame), and a job that fails for good — by a frame's last attempt or by BullMQ itself (a stall
 * limit) — ends in the worker's 'failed' handler, which counts a frame it still holds as failed.
 *
 * A frame's ending is always recorded: processed (result + outbox), dropped (by ingest), failed
 * (undecodable at once; crash/timeout after the last attempt; expired before any worker took it).
 */
export class FrameProcessor implements IdleRunners {
  readonly #o: FrameProcessorOptions;
  readonly #log: Logger;
  #worker: Worker<FrameJob, FrameOutcome> | undefined;
  /** Runners go on past their first frame (off while pausing or closing). */
  #goOn = true;
  #sweep: NodeJS.Timeout | undefined;
  /** Per camera: its last detected frame (the newest by capture time, when frames ran side by side). */
  readonly #motion = new Map<string, MotionReference>();
  /** Idle runners, the latest first: each wakes with the id of the runner it takes on, or undefined. */
  readonly #idle: Array<(runnerId: string | undefined) => void> = [];

  constructor(opts: FrameProcessorOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'frame-processor' });
    opts.queue.setIdleRunners(this);
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** A runner to start goes to an idle runner of this process, if one waits. */
  offer(runnerId: string): boolean {
    if (!this.#goOn) return false;
    const wake = this.#idle.pop();
    wake?.(runnerId);
    return wake !== undefined;
  }

  /** Waits up to `ms` for a runner to take on; undefined when none came (or the worker stops). */
  #waitIdle(ms: number): Promise<string | undefined> {
    if (ms <= 0 || !this.#goOn) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const wake = (runnerId: string | undefined) => {
        clearTimeout(timer);
        resolve(runnerId);
      };
      const timer = setTimeout(() => {
        const i = this.#idle.indexOf(wake);
        if (i >= 0) this.#idle.splice(i, 1);
        resolve(undefined);
      }, ms);
      this.#idle.push(wake);
    });
  }

  #wakeIdle(): void {
    for (const wake of this.#idle.splice(0)) wake(undefined);
  }

  start(): void {
    if (this.#worker) return;
    this.#worker = new Worker<FrameJob, FrameOutcome>(FRAME_QUEUE_NAME, (job) => this.process(job), {
      connection: this.#o.connection,
      prefix: this.#o.prefix,
      // Two runners per thread, plus room for idle ones (not counted as runners) so that a runner
      // queued as a BullMQ job meanwhile does not wait for an idle one to give up its slot.
      concurrency: this.#o.concurrency * 3,
    });
    // Without a listener an 'error' (Redis gone) would be thrown; BullMQ reconnects by itself.
    this.#worker.on('error', (err) => this.#log.warn({ err }, 'frame worker error'));
    this.#worker.on('failed', (job) => {
      if (job?.finishedOn) void this.#failedForGood(job);
    });
    const sweep = () => {
      void this.#endRunner('', undefined).catch((err) => this.#log.debug({ err }, 'runner check failed'));
    };
    sweep();
    this.#sweep = setInterval(sweep, this.#o.sweepMs ?? 5000);
    this.#sweep.unref();
  }

  /**
   * The one place a runner that failed for good ends (a frame's last attempt, which counted the
   * frame failed with its own code; a bad payload; BullMQ by itself: a stall limit): a frame it
   * still holds is counted failed (once: the fate marker), its camera goes back in line, and a
   * runner takes its place when cameras are due.
   */
  async #failedForGood(job: Job<FrameJob>): Promise<void> {
    const jobId = String(job.id);
    try {
      const held = await this.#o.repository.heldFrame(jobId);
      if (held && (await this.#o.repository.fail(held.frame.frameId, held.camera, 'EDGE_ERR_INTERNAL')))
        this.#o.metrics.framesFailed.inc({ camera: held.camera, reason: 'EDGE_ERR_INTERNAL' });
      await this.#endRunner(jobId, held?.camera);
    } catch (err) {
      this.#log.warn({ err, jobId }, 'could not end a failed frame runner');
    }
  }

  /**
   * A runner: the frame it held before (a retry), else due cameras' frames until none is due; then
   * it waits up to `idleMs` to take on a runner that is to start (see `offer`), and goes on as that.
   */
  async process(job: Job<FrameJob>): Promise<FrameOutcome> {
    const jobId = String(job.id);
    // The payload is checked where it enters this process, like an HTTP body.
    const parsed = frameJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`bad frame job ${jobId}: ${parsed.error.message}`);
    // A retry takes only the frame its job held, so every frame gets the same number of attempts.
    const retry = job.attemptsMade > 0;
    const started = Date.now();
    const maxRunMs = this.#o.maxRunMs ?? 10_000;
    let first: FrameOutcome | undefined;
    let camera: string | undefined;
    let runnerId = jobId;
    try {
      for (;;) {
        const step = await this.#step(
          job,
          camera === undefined ? { heldOnly: retry, runnerId } : { after: camera, runnerId },
        );
        if (step === 'none') {
          if (retry && camera === undefined) await this.#endRunner(jobId, undefined);
          // Nothing due: the runner has left `runners`; its job waits for one to take on.
          const next = retry
            ? undefined
            : await this.#waitIdle(Math.min(this.#o.idleMs ?? 2000, maxRunMs - (Date.now() - started)));
          if (next === undefined) return first ?? 'skipped';
          runnerId = next;
          camera = undefined;
          continue;
        }
        first ??= step.outcome;
        camera = step.camera;
        if (!this.#goOn || retry || Date.now() - started >= maxRunMs) {
          await this.#endRunner(jobId, camera, runnerId);
          return first;
        }
      }
    } catch (err) {
      // The job's retry holds its frame under the job id: that id takes the runner's place in
      // `runners` (as a job that never idled stays counted through its retry), no new one starts.
      if (runnerId !== jobId)
        await this.#o.repository
          .renameRunner(runnerId, jobId)
          .catch((e) => this.#log.debug({ err: e, runnerId }, 'could not hand a runner back to its job'));
      throw err;
    }
  }

  /**
   * One frame. A thread first, then the claim: the frame stays supersedable (newest wins) until a
   * thread is ready for it, and the thread waits only for the claim's round trip (see
   * `InferencePool.acquire`).
   */
  async #step(
    job: Job<FrameJob>,
    claimOpts: { after?: string; heldOnly?: boolean; runnerId: string },
  ): Promise<{ outcome: FrameOutcome; camera: string } | 'none'> {
    const lease = await this.#o.pool.acquire();
    try {
      return await this.#process(job, lease, claimOpts);
    } finally {
      lease.release();
    }
  }

  /**
   * Ends a runner before nothing is due (or, with no job id, checks that the cameras due have one);
   * starts the runner that takes its place, if one is needed.
   */
  async #endRunner(jobId: string, camera: string | undefined, runnerId: string = jobId): Promise<void> {
    const next = await this.#o.repository.endRunner(jobId, camera, randomUUID(), runnerId);
    if (next) await this.#o.queue.add({ frameId: next, cameraId: camera ?? 'sweep' }, next);
  }

  async #process(
    job: Job<FrameJob>,
    lease: ThreadLease,
    claimOpts: { after?: string; heldOnly?: boolean; runnerId: string },
  ): Promise<{ outcome: FrameOutcome; camera: string } | 'none'> {
    const { repository, metrics } = this.#o;
    const jobId = String(job.id);
    const claim = await repository.claim(jobId, claimOpts);
    if (claim.kind === 'none') return 'none';
    const camera = claim.camera;
    if (claim.kind === 'settled')
      return { outcome: claim.fate === 'processed' ? 'duplicate' : 'skipped', camera };
    if (claim.kind === 'expired') {
      metrics.framesFailed.inc({ camera, reason: 'expired' });
      this.#log.warn({ frameId: claim.frame.frameId, camera }, 'frame expired before a worker took it');
      return { outcome: 'expired', camera };
    }
    const frame = { ...claim.frame, cameraId: camera };
    const attempt = job.attemptsMade + 1;
    const fault = this.#o.injectFault?.(frame, attempt);
    let result: FrameResult;
    try {
      const gate = this.#o.motion;
      const reference = gate ? this.#motionReference(camera, frame) : undefined;
      const task = {
        kind: 'detect' as const,
        image: claim.bytes,
        transferImage: claim.owned,
        models: frame.models,
        ...(fault ? { fault } : {}),
        ...(gate
          ? {
              motion: {
                pixelThreshold: gate.pixelThreshold,
                minChangedFraction: gate.minChangedFraction,
                ...(reference ? { reference: reference.frame } : {}),
              },
            }
          : {}),
      };
      const r = await lease.run(task);
      if (r.kind !== 'detect') throw new Error('unexpected task result');
      const reused = r.motion?.skipped === true && reference !== undefined;
      const models = reused
        ? Object.fromEntries(
            Object.entries(reference.models).map(([name, run]) => [name, { ...run, inferMs: 0 }]),
          )
        : r.models;
      result = {
        frameId: frame.frameId,
        cameraId: camera,
        nodeId: this.#o.nodeId,
        captureTime: frame.captureTime,
        processedAt: Date.now(),
        width: r.width,
        height: r.height,
        decodeMs: r.decodeMs,
        models,
        ...(r.motion ? { motion: { moved: r.motion.moved, reused } } : {}),
      };
      metrics.decodeSeconds.observe(r.decodeMs / 1000);
      if (reused) metrics.framesWithoutMotion.inc({ camera });
      else {
        for (const [model, run] of Object.entries(r.models))
          metrics.inferenceSeconds.observe({ model }, run.inferMs / 1000);
        if (r.motion) this.#rememberDetected(camera, frame, r, r.motion.thumbnail);
      }
    } catch (err) {
      const unrecoverable =
        isEdgeError(err, 'EDGE_ERR_BAD_IMAGE') || isEdgeError(err, 'EDGE_ERR_IMAGE_TOO_LARGE');
      const last = unrecoverable || attempt >= (job.opts.attempts ?? this.#o.attempts);
      const code = isEdgeError(err) ? err.code : 'EDGE_ERR_INTERNAL';
      this.#log.warn({ err, frameId: frame.frameId, camera, attempt, last }, 'frame inference failed');
      if (last && (await repository.fail(frame.frameId, camera, code))) {
        metrics.framesFailed.inc({ camera, reason: code });
      }
      // On the last attempt the job fails for good, and the worker's 'failed' handler ends the runner.
      if (unrecoverable) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
    const written = await repository.complete(result);
    if (!written) return { outcome: 'duplicate', camera };
    metrics.framesProcessed.inc({ camera });
    metrics.frameLatencySeconds.observe(Math.max(0, result.processedAt - frame.receivedAt) / 1000);
    return { outcome: 'processed', camera };
  }

  /** The camera's last detected frame, if this frame may repeat its detections. */
  #motionReference(
    camera: string,
    frame: { receivedAt: number; models: string[] },
  ): MotionReference | undefined {
    const ref = this.#motion.get(camera);
    if (!ref || !this.#o.motion) return undefined;
    const age = frame.receivedAt - ref.receivedAt;
    if (age < 0 || age >= this.#o.motion.maxSkipMs || ref.modelNames !== frame.models.join(','))
      return undefined;
    return ref;
  }

  #rememberDetected(
    camera: string,
    frame: { receivedAt: number; captureTime: number; models: string[] },
    r: { width: number; height: number; models: FrameResult['models'] },
    thumbnail: MotionThumbnail,
  ): void {
    // Two frames of a camera can run side by side (threads to spare): an older one finishing
    // later does not replace the newer reference.
    const current = this.#motion.get(camera);
    if (current && current.captureTime > frame.captureTime) return;
    this.#motion.delete(camera);
    this.#motion.set(camera, {
      frame: {
        thumbnail,
        width: r.width,
        height: r.height,
        versions: Object.fromEntries(Object.entries(r.models).map(([name, run]) => [name, run.version])),
      },
      receivedAt: frame.receivedAt,
      captureTime: frame.captureTime,
      modelNames: frame.models.join(','),
      models: r.models,
    });
    if (this.#motion.size > MOTION_CAMERAS) this.#motion.delete(this.#motion.keys().next().value!);
  }

  /**
   * Stops taking new jobs (waits for those in flight, which end after their current frame and
   * queue a runner for the cameras still due); frames keep being accepted and superseded.
   */
  async pause(): Promise<void> {
    this.#goOn = false;
    this.#wakeIdle();
    await this.#worker?.pause();
  }

  resume(): void {
    this.#goOn = true;
    this.#worker?.resume();
  }

  async close(): Promise<void> {
    this.#goOn = false;
    this.#wakeIdle();
    clearInterval(this.#sweep);
    // A worker closed while its blocking connection still initialises disconnects it instead of
    // quitting, which rejects that connection's pending commands with no one awaiting them
    // (an unhandled "Connection is closed."): let it finish connecting first (at most 2 s: with
    // Redis away it never would).
    if (this.#worker)
      await Promise.race([
        this.#worker.waitUntilReady().catch(() => {}),
        sleep(2000, undefined, { ref: false }),
      ]);
    await this.#worker?.close();
  }
}
