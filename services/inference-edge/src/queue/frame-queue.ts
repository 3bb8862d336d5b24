import type { FrameJob } from '@storevision/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The BullMQ queue of frame jobs. A job is a runner (see `FrameRepository`): queued by the frame
 * that found a camera due and too few runners alive (its payload `{frameId, cameraId}` names that
 * frame, for logs), it serves due cameras' newest frames until none is due.
 */
export const FRAME_QUEUE_NAME = 'frames';

export interface FrameQueueOptions {
  connection: Redis;
  /** BullMQ key prefix (`<redisPrefix>:bull`). */
  prefix: string;
  attempts: number;
}

export class FrameQueue {
  readonly queue: Queue<FrameJob>;
  readonly #attempts: number;

  constructor(opts: FrameQueueOptions) {
    this.queue = new Queue<FrameJob>(FRAME_QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
    this.#attempts = opts.attempts;
  }

  /** Queues runner `jobId` (the id `FrameRepository` counted it under). */
  async add(job: FrameJob, jobId: string): Promise<void> {
    await this.queue.add('frame', job, {
      jobId,
      attempts: this.#attempts,
      // Retries are immediate: the frame is live video, a later try is worth less every second.
      // Finished jobs are kept only as a short history; results live in the outbox.
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1000 },
    });
  }

  async depth(): Promise<{
    waiting: number;
    active: number;
    delayed: number;
    failed: number;
    completed: number;
  }> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
