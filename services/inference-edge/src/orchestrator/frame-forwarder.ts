import { FRAME_FORWARDED_BY_HEADER, type FrameAccepted, frameAcceptedSchema } from '@storevision/contracts';
import type { Logger } from 'pino';
import type { EdgeMetrics } from '../metrics.ts';

export interface FrameForwarderOptions {
  nodeId: string;
  /** Whole request budget to the owner (connect, upload, answer). @defaultValue 2 s */
  timeoutMs: number;
  metrics: EdgeMetrics;
  logger: Logger;
  fetch?: typeof fetch;
}

/** Why a forward did not end with the owner's 202: the caller falls back to 421 + `Location`. */
export class ForwardFailed extends Error {
  override readonly name = 'ForwardFailed';
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

/**
 * Forwards a push frame to the node that runs its camera, inside the store (owners and their
 * addresses come from the store's shared plan, so frames never leave it). Node's fetch (undici)
 * keeps connections to each owner alive, so a steady camera costs one request per frame, not a
 * TCP handshake. The body is not decoded here: the owner checks the image.
 */
export class FrameForwarder {
  readonly #o: FrameForwarderOptions;
  readonly #fetch: typeof fetch;

  constructor(opts: FrameForwarderOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** The owner's 202 body, or `ForwardFailed` (unreachable, timeout, any other answer). */
  async forward(input: {
    cameraId: string;
    frameUrl: string;
    ownerId: string;
    contentType: string;
    captureTime: string | undefined;
    body: Buffer;
  }): Promise<FrameAccepted> {
    let res: Response;
    try {
      res = await this.#fetch(input.frameUrl, {
        method: 'POST',
        headers: {
          'content-type': input.contentType,
          ...(input.captureTime !== undefined ? { 'x-capture-time': input.captureTime } : {}),
          [FRAME_FORWARDED_BY_HEADER]: this.#o.nodeId,
        },
        body: input.body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
    } catch (err) {
      throw this.#failed(input, `owner ${input.ownerId} unreachable`, err);
    }
    const text = await res.text().catch(() => '');
    if (res.status !== 202)
      throw this.#failed(input, `owner ${input.ownerId} answered ${res.status} ${text.slice(0, 200)}`);
    let accepted: FrameAccepted;
    try {
      accepted = frameAcceptedSchema.parse(JSON.parse(text));
    } catch (err) {
      throw this.#failed(input, `owner ${input.ownerId} answered 202 with a malformed body`, err);
    }
    this.#o.metrics.framesForwarded.inc({ camera: input.cameraId });
    return accepted;
  }

  #failed(input: { cameraId: string; frameUrl: string }, reason: string, cause?: unknown): ForwardFailed {
    this.#o.logger.warn(
      { err: cause, cameraId: input.cameraId, owner: input.frameUrl },
      `forwarding a frame failed: ${reason}`,
    );
    return new ForwardFailed(reason, { cause });
  }
}
