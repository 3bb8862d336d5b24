import type { FrameJob } from '@storevision/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The BullMQ queue of frame jobs. A job is a runner (see `FrameRepository`): queued by the frame
 * that found a camera due and too few runners alive (its payload `{frameId, cameraId}` names that
 * frame, for logs), it serves due cameras' newest frames until none is due, then waits a moment to
 * take on the next runner to start (`IdleRunners`) before it ends.
 */
export const FRAME_QUEUE_NAME = 'frames';

/**
 * Runners of this process that found nothing due and wait a moment for a camera to become due
 * (`FrameProcessor`): a runner to start is handed to one of them instead of becoming a BullMQ job.
 */
export interface IdleRunners {
  /** Hands runner `runnerId` to an idle runner; false when none waits. */
  offer(runnerId: string): boolean;
  /** Runners waiting now (BullMQ counts them as active jobs). */
  readonly idle: number;
}

export interface FrameQueueOptions {
  connection: Redis;
  /** BullMQ key prefix (`<redisPrefix>:bull`). */
  prefix: string;
  attempts: number;
}

export class FrameQueue {
  readonly queue: Queue<FrameJob>;
  readonly #attempts: number;
  #idle: IdleRunners | undefined;

  constructor(opts: FrameQueueOptions) {
    this.queue = new Queue<FrameJob>(FRAME_QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
    this.#attempts = opts.attempts;
  }

  /** Where runners to start go first (the frame processor of this process). */
  setIdleRunners(idle: IdleRunners): void {
    this.#idle = idle;
  }

  /**
   * Starts runner `jobId` (the id `FrameRepository` counted it under): an idle runner of this
   * process takes it on when one waits, else it is queued as a BullMQ job.
   */
  async add(job: FrameJob, jobId: string): Promise<void> {
    if (this.#idle?.offer(jobId)) return;
    await this.queue.add('frame', job, {
      jobId,
      attempts: this.#attempts,
      // Retries are immediate: the frame is live video, a later try is worth less every second.
      // Finished jobs are kept only as a short history; results live in the outbox.
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1000 },
    });
  }

  /** Runner jobs by state; `active` counts those at work, `idle` those waiting for a camera. */
  async depth(): Promise<{
    waiting: number;
    active: number;
    idle: number;
    delayed: number;
    failed: number;
    completed: number;
  }> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    const idle = Math.min(this.#idle?.idle ?? 0, c.active ?? 0);
    return {
      waiting: c.waiting ?? 0,
      active: (c.active ?? 0) - idle,
      idle,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
