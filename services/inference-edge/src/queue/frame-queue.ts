import type { FrameJob } from '@storevision/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The BullMQ queue of frame jobs; the job id is the frame id and the payload holds no bytes. */
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

  async add(job: FrameJob): Promise<void> {
    await this.queue.add('frame', job, {
      jobId: job.frameId,
      attempts: this.#attempts,
      // Newest first. Every waiting job is a camera's newest frame (an older one is dropped and its
      // job removed), so the order only decides which camera goes next: under overload FIFO would
      // always take the frame closest to being superseded, about one camera period old, while LIFO
      // takes the one that just arrived, so every processed frame is as fresh as the node allows
      // (`storevision bench edge`, 3x overload). Evenly paced cameras are still served in turn.
      lifo: true,
      // Retries are immediate: the frame is live video, a later try is worth less every second.
      // Finished jobs are kept only as a short history; results live in the outbox.
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1000 },
    });
  }

  /** Best effort: a superseded frame's job is removed while it still waits (its claim would skip it anyway). */
  async removeWaiting(frameId: string): Promise<void> {
    await this.queue.remove(frameId).catch(() => 0);
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
