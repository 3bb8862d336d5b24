import { randomUUID } from 'node:crypto';
import { CAMERA_ID_PATTERN, type FrameAccepted } from '@storevision/contracts';
import { EdgeError } from '../errors.ts';
import { checkContentType, checkImage } from '../image-check.ts';
import type { EdgeMetrics } from '../metrics.ts';
import { type CameraRoute, routeError } from '../orchestrator/camera-ownership.ts';
import { ForwardFailed, type FrameForwarder } from '../orchestrator/frame-forwarder.ts';
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
  /**
   * Where a camera's frames go (the orchestrator's plan, with store-local failover); wins over
   * `modelsFor`. A camera another node runs is forwarded there when `forwarder` is set, else 421.
   */
  route?: (cameraId: string) => CameraRoute;
  /** Forwards frames of cameras other nodes run to their owner; absent: 421 + `Location`. */
  forwarder?: FrameForwarder;
  maxPixels: number;
  retryAfterSeconds: number;
  now?: () => number;
}

/** Frame ingest: checks, one copy of the bytes in Redis, newest-wins slot, BullMQ runners for the cameras due. */
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
    /** The node that forwarded this frame (`x-storevision-forwarded-by`): never forwarded again. */
    forwardedBy?: string | undefined;
  }): Promise<FrameAccepted> {
    assertCameraId(input.cameraId);
    checkContentType(input.contentType);
    const models = await this.#modelsOrForward(input);
    // Forwarded to the camera's owner: its 202 body is the answer; nothing is stored here.
    if (!Array.isArray(models)) return models as FrameAccepted;
    const receivedAt = this.#now();
    const captureTime = parseCaptureTime(input.captureTime, receivedAt);
    await checkImage(input.body, this.#o.maxPixels);
    const bytes = input.body as Buffer;
    const frameId = randomUUID();
    const { repository, queue, metrics } = this.#o;
    const frame = { frameId, cameraId: input.cameraId, captureTime, receivedAt, models: [...models] };
    const dropped = await withRedis(this.#o.retryAfterSeconds, async () => {
      const r = await repository.ingest(frame, bytes);
      // A runner takes this frame (the camera's newest) when the camera's turn comes; a new one
      // joins only when runners are short.
      if (r.runner) await queue.add({ frameId, cameraId: input.cameraId }, r.runner);
      return r.dropped;
    });
    metrics.framesReceived.inc({ camera: input.cameraId });
    // Zero-valued series from a camera's first frame on, so dashboards see 0 drops rather than nothing.
    metrics.framesDropped.inc({ camera: input.cameraId }, 0);
    metrics.framesProcessed.inc({ camera: input.cameraId }, 0);
    if (dropped) metrics.framesDropped.inc({ camera: input.cameraId });
    return { frameId, cameraId: input.cameraId };
  }

  /** The models to run here, or the owner's answer when the frame was forwarded. */
  async #modelsOrForward(input: {
    cameraId: string;
    contentType: string | undefined;
    body: unknown;
    captureTime: string | undefined;
    forwardedBy?: string | undefined;
  }): Promise<readonly string[] | FrameAccepted> {
    if (!this.#o.route) return this.#o.modelsFor ? this.#o.modelsFor(input.cameraId) : this.#o.models;
    const r = this.#o.route(input.cameraId);
    if (r.kind === 'local') return r.models;
    const { forwarder, retryAfterSeconds } = this.#o;
    if (r.kind === 'none' || !forwarder || input.forwardedBy !== undefined || !Buffer.isBuffer(input.body))
      throw routeError(input.cameraId, r, retryAfterSeconds);
    try {
      return await forwarder.forward({
        cameraId: input.cameraId,
        frameUrl: r.frameUrl,
        ownerId: r.nodeId,
        contentType: input.contentType!,
        captureTime: input.captureTime,
        body: input.body,
      });
    } catch (err) {
      if (!(err instanceof ForwardFailed)) throw err;
      // The camera can still reach the owner itself (or find it down and try another edge).
      throw routeError(input.cameraId, r, retryAfterSeconds, ` (forwarding failed: ${err.reason})`);
    }
  }
}

function parseCaptureTime(header: string | undefined, fallback: number): number {
  if (header === undefined || header === '') return fallback;
  if (!/^\d{1,15}$/.test(header))
    throw new EdgeError('EDGE_ERR_BAD_REQUEST', 'x-capture-time must be epoch milliseconds (an integer)');
  return Number(header);
}
