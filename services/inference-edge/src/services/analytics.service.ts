import {
  analyticsConfigSchema,
  type CameraAnalyticsState,
  type StoredAnalyticsConfig,
} from '@storevision/contracts';
import { EdgeError } from '../errors.ts';
import type { AnalyticsRepository, StoredEvent } from '../repositories/analytics.repository.ts';
import type { AnalyticsProcessor } from './analytics-processor.ts';
import { assertCameraId } from './frame.service.ts';
import { withRedis } from './redis-errors.ts';

export interface AnalyticsServiceOptions {
  repository: AnalyticsRepository;
  processor: AnalyticsProcessor;
  /** Models this node runs (a config may only track one of them). */
  models: readonly string[];
  retryAfterSeconds: number;
}

/** Per-camera analytics configs, live state and the event outbox, for the HTTP API. */
export class AnalyticsService {
  readonly #o: AnalyticsServiceOptions;

  constructor(opts: AnalyticsServiceOptions) {
    this.#o = opts;
  }

  /** Validates and stores a camera's config; the running analytics switch to it at once. */
  async putConfig(cameraId: string, body: unknown): Promise<StoredAnalyticsConfig> {
    assertCameraId(cameraId);
    const parsed = analyticsConfigSchema.safeParse(body);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
        .join('; ');
      throw new EdgeError('EDGE_ERR_BAD_ANALYTICS_CONFIG', detail);
    }
    const { model } = parsed.data;
    if (model !== undefined && !this.#o.models.includes(model))
      throw new EdgeError('EDGE_ERR_BAD_ANALYTICS_CONFIG', `model: "${model}" does not run on this node`);
    const stored = await withRedis(this.#o.retryAfterSeconds, () =>
      this.#o.repository.putConfig(cameraId, parsed.data),
    );
    this.#o.processor.configure(stored);
    return stored;
  }

  async getConfig(cameraId: string): Promise<StoredAnalyticsConfig> {
    assertCameraId(cameraId);
    const stored = await withRedis(this.#o.retryAfterSeconds, () => this.#o.repository.getConfig(cameraId));
    if (!stored) throw new EdgeError('EDGE_ERR_NO_ANALYTICS_CONFIG', `camera ${cameraId}`);
    return stored;
  }

  /** Stops a camera's analytics; its stored counts stay (a new config picks them up). */
  async deleteConfig(cameraId: string): Promise<void> {
    assertCameraId(cameraId);
    const existed = await withRedis(this.#o.retryAfterSeconds, () =>
      this.#o.repository.deleteConfig(cameraId),
    );
    if (!existed) throw new EdgeError('EDGE_ERR_NO_ANALYTICS_CONFIG', `camera ${cameraId}`);
    this.#o.processor.remove(cameraId);
  }

  state(cameraId: string): CameraAnalyticsState {
    assertCameraId(cameraId);
    const s = this.#o.processor.state(cameraId);
    if (!s) throw new EdgeError('EDGE_ERR_NO_ANALYTICS_CONFIG', `camera ${cameraId}`);
    return s;
  }

  async events(q: {
    after?: string;
    limit?: number;
    cameraId?: string;
  }): Promise<{ events: StoredEvent[]; next: string | null }> {
    if (q.cameraId !== undefined) assertCameraId(q.cameraId);
    if (q.after !== undefined && !/^\d+-\d+$/.test(q.after))
      throw new EdgeError('EDGE_ERR_BAD_REQUEST', 'after must be an event stream id like 1767603600000-0');
    const limit = q.limit ?? 100;
    const events = await withRedis(this.#o.retryAfterSeconds, () =>
      this.#o.repository.readEvents({
        limit,
        ...(q.after ? { after: q.after } : {}),
        ...(q.cameraId ? { cameraId: q.cameraId } : {}),
      }),
    );
    return { events, next: events.length === limit ? events[events.length - 1]!.streamId : null };
  }
}
