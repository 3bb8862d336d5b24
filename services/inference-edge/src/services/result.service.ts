import type { CameraStats, LatestDetections } from '@storevision/contracts';
import { EdgeError } from '../errors.ts';
import type { FrameRepository } from '../repositories/frame.repository.ts';
import { assertCameraId } from './frame.service.ts';
import { withRedis } from './redis-errors.ts';

/** Reads of per-camera results and counters. */
export class ResultService {
  readonly #repo: FrameRepository;
  readonly #retryAfter: number;

  constructor(opts: { repository: FrameRepository; retryAfterSeconds: number }) {
    this.#repo = opts.repository;
    this.#retryAfter = opts.retryAfterSeconds;
  }

  async latest(cameraId: string): Promise<LatestDetections> {
    assertCameraId(cameraId);
    const [result, stats] = await withRedis(this.#retryAfter, () =>
      Promise.all([this.#repo.latest(cameraId), this.#repo.stats(cameraId)]),
    );
    if (!result) throw new EdgeError('EDGE_ERR_NO_RESULT', `camera ${cameraId}`);
    return { ...result, dropped: stats.dropped, failed: stats.failed };
  }

  async stats(cameraId: string): Promise<CameraStats> {
    assertCameraId(cameraId);
    return withRedis(this.#retryAfter, () => this.#repo.stats(cameraId));
  }
}
