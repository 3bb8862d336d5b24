import { randomUUID } from 'node:crypto';
import { CAMERA_ID_PATTERN, type FrameAccepted } from '@storevision/contracts';
import { EdgeError } from '../errors.ts';
import { checkContentType, checkImage } from '../image-check.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { FrameQueue } from '../queue/frame-queue.ts';
import type { FrameRepository } from '../repositories/frame.repository.ts';
import { withRedis } from './redis-errors.ts';

export function assertCameraId(cameraId: string): void {
  if (!CAMERA_ID_PATTERN.test(cameraId))
    throw new EdgeError('EDGE_ERR_BAD_CAMERA_ID', `got "${cameraId.slice(0, 80)}"`);
}

export interface FrameServiceOptions {
  repository: FrameRepository;
  queue: FrameQueue;
  metrics: EdgeMetrics;
  /** Models run on every camera's frames. */
  models: readonly string[];
  /** The models of one camera (the orchestrator's assignment); throws to refuse it. @defaultValue `models` */
  modelsFor?: (cameraId: string) => readonly string[];
  maxPixels: number;
  retryAfterSeconds: number;
  now?: () => number;
}

/** Frame ingest: checks, one copy of the bytes in Redis, newest-wins slot, one BullMQ job. */
export class FrameService {
  readonly #o: FrameServiceOptions;
  readonly #now: () => number;

  constructor(opts: FrameServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  async ingest(input: {
    cameraId: string;
    contentType: string | undefined;
    body: unknown;
    captureTime: string | undefined;
  }): Promise<FrameAccepted> {
    assertCameraId(input.cameraId);
    checkContentType(input.contentType);
    const models = this.#o.modelsFor ? this.#o.modelsFor(input.cameraId) : this.#o.models;
    const receivedAt = this.#now();
    const captureTime = parseCaptureTime(input.captureTime, receivedAt);
    await checkImage(input.body, this.#o.maxPixels);
    const bytes = input.body as Buffer;
    const frameId = randomUUID();
    const { repository, queue, metrics } = this.#o;
    const dropped = await withRedis(this.#o.retryAfterSeconds, async () => {
      const prev = await repository.ingest(frameId, input.cameraId, bytes);
      await queue.add({
        frameId,
        cameraId: input.cameraId,
        captureTime,
        receivedAt,
        models: [...models],
      });
      return prev;
    });
    metrics.framesReceived.inc({ camera: input.cameraId });
    // Zero-valued series from a camera's first frame on, so dashboards see 0 drops rather than nothing.
    metrics.framesDropped.inc({ camera: input.cameraId }, 0);
    metrics.framesProcessed.inc({ camera: input.cameraId }, 0);
    if (dropped) {
      metrics.framesDropped.inc({ camera: input.cameraId });
      // Its claim would find it settled and skip it; removing it just saves the worker a round trip.
      void queue.removeWaiting(dropped);
    }
    return { frameId, cameraId: input.cameraId };
  }
}

function parseCaptureTime(header: string | undefined, fallback: number): number {
  if (header === undefined || header === '') return fallback;
  if (!/^\d{1,15}$/.test(header))
    throw new EdgeError('EDGE_ERR_BAD_REQUEST', 'x-capture-time must be epoch milliseconds (an integer)');
  return Number(header);
}
