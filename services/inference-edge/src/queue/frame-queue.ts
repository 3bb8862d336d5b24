import { randomUUID } from 'node:crypto';
import type { FrameJob } from '@storevision/contracts';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The BullMQ queue of frame jobs. A job is a camera's turn: queued by the frame that found none due
 * (its id is that frame's id, its payload `{frameId, cameraId}`), it takes the camera's newest
 * pending frame when it runs (`FrameRepository.claim`).
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

  /**
   * Queues a camera's turn. `requeue`: a turn that yielded to others (`FrameProcessor`) goes to the
   * back of the queue, under a fresh job id (its first job may still be in the finished history).
   */
  async add(job: FrameJob, opts: { requeue?: boolean } = {}): Promise<void> {
    await this.queue.add('frame', job, {
      jobId: opts.requeue ? `${job.frameId}.${randomUUID()}` : job.frameId,
      attempts: this.#attempts,
      // Newest first. A waiting job is a camera's turn and takes that camera's newest frame, so the
      // order only decides which camera goes next: under overload LIFO serves the camera whose turn
      // began last (`storevision bench edge`, 3x overload: fresher frames than FIFO). Evenly paced
      // cameras are still served in turn. A turn that yielded waits behind every other.
      lifo: !opts.requeue,
      // Retries are immediate: the frame is live video, a later try is worth less every second.
      // Finished jobs are kept only as a short history; results live in the outbox.
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1000 },
    });
  }

  /** The Redis lists of jobs waiting for a worker and running (see `FrameRepository`). */
  get keys(): { wait: string; active: string } {
    return { wait: this.queue.keys.wait!, active: this.queue.keys.active! };
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
