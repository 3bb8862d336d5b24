import { type FrameJob, type FrameResult, frameJobSchema } from '@storevision/contracts';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isEdgeError } from '../errors.ts';
import type { InjectedFault } from '../inference/messages.ts';
import type { InferencePool, ThreadLease } from '../inference/pool.ts';
import type { EdgeMetrics } from '../metrics.ts';
import { FRAME_QUEUE_NAME, type FrameQueue } from '../queue/frame-queue.ts';
import type { FrameRepository } from '../repositories/frame.repository.ts';

export interface FrameProcessorOptions {
  /** A connection of the worker's own (BullMQ blocks on it); `maxRetriesPerRequest: null`. */
  connection: Redis;
  prefix: string;
  repository: FrameRepository;
  /** Where a turn that yields to other cameras is queued again. */
  queue: FrameQueue;
  pool: InferencePool;
  metrics: EdgeMetrics;
  logger: Logger;
  nodeId: string;
  /** Frames inferred at once: the pool's thread count (BullMQ fetches one more job per thread). */
  concurrency: number;
  attempts: number;
  /** Tests only: make the inference thread crash or hang on some frames (see `InjectedFault`). */
  injectFault?: (job: FrameJob, attempt: number) => InjectedFault | undefined;
}

export type FrameOutcome = 'processed' | 'duplicate' | 'skipped' | 'expired';

/**
 * The consumer side of the frame queue, on the main thread: BullMQ hands it jobs (up to two per
 * inference thread: one inferring, one waiting for that thread); once a thread is free for it, it
 * claims the frame in Redis, has the thread decode it once and run every model, and writes the
 * result exactly once.
 *
 * A job is a camera's turn, and the turn goes on after its first frame: with a thread free again,
 * the job claims the camera's next frame itself (`FrameRepository.claim` with `next`) — unless
 * turns of other cameras wait in the queue, in which case this one is queued again behind them.
 * So a node with no more cameras than job slots pays for BullMQ's job lifecycle (add, fetch,
 * finish: about a third of the main thread's work per frame) once per turn instead of once per
 * frame, while busier nodes still serve cameras in turn. Only a first attempt goes on (a retried
 * job ends with the frame it retried), so every frame gets the same number of attempts.
 *
 * A frame's ending is always recorded: processed (result + outbox), dropped (by ingest), failed
 * (undecodable at once; crash/timeout after the last attempt; expired before any worker took it).
 */
export class FrameProcessor {
  readonly #o: FrameProcessorOptions;
  readonly #log: Logger;
  #worker: Worker<FrameJob, FrameOutcome> | undefined;
  /** Turns go on past their first frame (off while pausing or closing). */
  #goOn = true;

  constructor(opts: FrameProcessorOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'frame-processor' });
  }

  start(): void {
    if (this.#worker) return;
    this.#worker = new Worker<FrameJob, FrameOutcome>(FRAME_QUEUE_NAME, (job) => this.process(job), {
      connection: this.#o.connection,
      prefix: this.#o.prefix,
      // One job ahead per thread: its BullMQ fetch (and the finishing of the job before it) overlaps
      // inference, so a thread that finishes a frame waits only for the next claim's round trip.
      concurrency: this.#o.concurrency * 2,
    });
    // Without a listener an 'error' (Redis gone) would be thrown; BullMQ reconnects by itself.
    this.#worker.on('error', (err) => this.#log.warn({ err }, 'frame worker error'));
  }

  /** A camera's turn: its newest frame (a retry: the frame the job took), then its next ones. */
  async process(job: Job<FrameJob>): Promise<FrameOutcome> {
    // The payload is checked where it enters this process, like an HTTP body.
    const parsed = frameJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`bad frame job ${job.id}: ${parsed.error.message}`);
    const turn = parsed.data;
    const first = await this.#step(job, turn, false);
    let outcome = first;
    while (outcome !== 'none' && outcome !== 'yield') {
      if (!this.#goOn || job.attemptsMade > 0) {
        await this.#endTurn(turn.cameraId);
        break;
      }
      outcome = await this.#step(job, turn, true);
    }
    return first === 'none' || first === 'yield' ? 'skipped' : first;
  }

  /**
   * One frame of a turn. A thread first, then the claim: the frame stays supersedable (newest wins)
   * until a thread is ready for it, and the thread waits only for the claim's round trip (see
   * `InferencePool.acquire`).
   */
  async #step(job: Job<FrameJob>, turn: FrameJob, next: boolean): Promise<FrameOutcome | 'none' | 'yield'> {
    const lease = await this.#o.pool.acquire();
    try {
      return await this.#process(job, turn, lease, next);
    } finally {
      lease.release();
    }
  }

  /** A turn that cannot go on: queued again when its camera has a frame pending. */
  async #endTurn(camera: string): Promise<void> {
    const pending = await this.#o.repository.endTurn(camera);
    if (pending) await this.#requeue(pending.frameId, camera);
  }

  /** Queues a camera's turn again, behind every waiting one (its frame is pending, its turn due). */
  #requeue(frameId: string, camera: string): Promise<void> {
    return this.#o.queue.add({ frameId, cameraId: camera }, { requeue: true });
  }

  async #process(
    job: Job<FrameJob>,
    turn: FrameJob,
    lease: ThreadLease,
    next: boolean,
  ): Promise<FrameOutcome | 'none' | 'yield'> {
    const { repository, metrics } = this.#o;
    const camera = turn.cameraId;
    // The camera's newest frame (or, on a retry, the one this job took before).
    const claim = await repository.claim(String(job.id ?? turn.frameId), camera, { next });
    if (claim.kind === 'none') return 'none';
    if (claim.kind === 'yield') {
      await this.#requeue(claim.frame.frameId, camera);
      return 'yield';
    }
    if (claim.kind === 'settled') return claim.fate === 'processed' ? 'duplicate' : 'skipped';
    if (claim.kind === 'expired') {
      metrics.framesFailed.inc({ camera, reason: 'expired' });
      this.#log.warn({ frameId: claim.frame.frameId, camera }, 'frame expired before a worker took it');
      return 'expired';
    }
    const frame = { ...claim.frame, cameraId: camera };
    const attempt = job.attemptsMade + 1;
    const fault = this.#o.injectFault?.(frame, attempt);
    let result: FrameResult;
    try {
      const task = {
        kind: 'detect' as const,
        image: claim.bytes,
        transferImage: claim.owned,
        models: frame.models,
        ...(fault ? { fault } : {}),
      };
      const r = await lease.run(task);
      if (r.kind !== 'detect') throw new Error('unexpected task result');
      result = {
        frameId: frame.frameId,
        cameraId: camera,
        nodeId: this.#o.nodeId,
        captureTime: frame.captureTime,
        processedAt: Date.now(),
        width: r.width,
        height: r.height,
        decodeMs: r.decodeMs,
        models: r.models,
      };
      metrics.decodeSeconds.observe(r.decodeMs / 1000);
      for (const [model, run] of Object.entries(r.models))
        metrics.inferenceSeconds.observe({ model }, run.inferMs / 1000);
    } catch (err) {
      const unrecoverable =
        isEdgeError(err, 'EDGE_ERR_BAD_IMAGE') || isEdgeError(err, 'EDGE_ERR_IMAGE_TOO_LARGE');
      const last = unrecoverable || attempt >= (job.opts.attempts ?? this.#o.attempts);
      const code = isEdgeError(err) ? err.code : 'EDGE_ERR_INTERNAL';
      this.#log.warn({ err, frameId: frame.frameId, camera, attempt, last }, 'frame inference failed');
      if (last && (await repository.fail(frame.frameId, camera, code))) {
        metrics.framesFailed.inc({ camera, reason: code });
      }
      // The job ends here for good: the camera's turn must not wait for its TTL.
      if (last) await this.#endTurn(camera);
      if (unrecoverable) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
    const written = await repository.complete(result);
    if (!written) return 'duplicate';
    metrics.framesProcessed.inc({ camera });
    metrics.frameLatencySeconds.observe(Math.max(0, result.processedAt - frame.receivedAt) / 1000);
    return 'processed';
  }

  /**
   * Stops taking new jobs (waits for those in flight, whose turns end with their current frame and
   * are queued again); frames keep being accepted and superseded.
   */
  async pause(): Promise<void> {
    this.#goOn = false;
    await this.#worker?.pause();
  }

  resume(): void {
    this.#goOn = true;
    this.#worker?.resume();
  }

  async close(): Promise<void> {
    this.#goOn = false;
    await this.#worker?.close();
  }
}
