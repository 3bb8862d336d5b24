import {
  type AnalyticsEvent,
  analyticsEventSchema,
  type StoredAnalyticsConfig,
  storedAnalyticsConfigSchema,
} from '@storevision/contracts';
import type { Redis } from 'ioredis';

/**
 * Analytics in Redis: camera configs, the event outbox, per-day line counts and the position of
 * the analytics consumer in the result outbox.
 *
 * Keys (all under `<prefix>:an:`):
 * - `config`                     hash cameraId → StoredAnalyticsConfig JSON
 * - `config-version`             hash cameraId → last version given out
 * - `cursor`                     id of the last result-outbox entry analysed
 * - `cam:<cameraId>:lines:<day>` hash `<lineId>:in|out` → count, for the store-local day; expires
 *                                after `countsTtlMs`
 * - `cam:<cameraId>:meta`        hash `nextTrackId` (track ids keep increasing across restarts) and
 *                                `day` (the store-local day of the camera's last analysed frame)
 * and `<prefix>:events`, the event outbox the uploader drains: a stream of `{id, event}` trimmed by
 * age (`MINID ~`) to the retention span.
 *
 * A batch (events, counts, cursor) is written in one MULTI/EXEC, so after a crash the consumer
 * resumes exactly after the last result whose events are stored: none lost, none counted twice.
 */
/**
 * KEYS: 1 config hash, 2 config version hash. ARGV: 1 cameraId, 2 the stored config JSON without
 * `version` (an object). Takes the camera's next version (versions never repeat, even after a
 * delete), splices it into the JSON (no cjson round trip: it would turn `[]` into `{}`), stores
 * and returns it.
 */
const PUT_CONFIG = `
local version = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local json = '{"version":' .. version .. ',' .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[1], ARGV[1], json)
return json
`;

export interface AnalyticsRepositoryOptions {
  prefix: string;
  /** How long events stay in the event outbox. */
  eventRetentionMs: number;
  /** How long per-day line counts are kept. */
  countsTtlMs: number;
}

export interface AnalyticsBatch {
  /** Result-outbox id the batch goes up to. */
  cursor: string;
  events: AnalyticsEvent[];
  /** Line count increments: cameraId → day → `<lineId>:in|out` → n. */
  counts: Map<string, Map<string, Map<string, number>>>;
  /** Per camera: the next track id and the day its counts are for. */
  meta: Map<string, { nextTrackId: number; day: string | null }>;
}

export interface StoredEvent {
  /** Stream id in the event outbox (use as `after` to page). */
  streamId: string;
  event: AnalyticsEvent;
}

export class AnalyticsRepository {
  readonly #redis: Redis;
  readonly #o: AnalyticsRepositoryOptions;

  constructor(redis: Redis, options: AnalyticsRepositoryOptions) {
    this.#redis = redis;
    this.#o = options;
  }

  #k(...parts: string[]): string {
    return [this.#o.prefix, 'an', ...parts].join(':');
  }

  get eventsKey(): string {
    return `${this.#o.prefix}:events`;
  }

  async getConfig(cameraId: string): Promise<StoredAnalyticsConfig | undefined> {
    const json = await this.#redis.hget(this.#k('config'), cameraId);
    return json ? storedAnalyticsConfigSchema.parse(JSON.parse(json)) : undefined;
  }

  async allConfigs(): Promise<StoredAnalyticsConfig[]> {
    const h = await this.#redis.hgetall(this.#k('config'));
    return Object.values(h).map((json) => storedAnalyticsConfigSchema.parse(JSON.parse(json)));
  }

  /** Stores a camera's config with the next version number (one script: concurrent writers get distinct versions). */
  async putConfig(cameraId: string, config: StoredAnalyticsConfig['config']): Promise<StoredAnalyticsConfig> {
    const stored: Omit<StoredAnalyticsConfig, 'version'> = {
      cameraId,
      updatedAt: new Date().toISOString(),
      config,
    };
    const json = (await this.#redis.eval(
      PUT_CONFIG,
      2,
      this.#k('config'),
      this.#k('config-version'),
      cameraId,
      JSON.stringify(stored),
    )) as string;
    return storedAnalyticsConfigSchema.parse(JSON.parse(json));
  }

  async deleteConfig(cameraId: string): Promise<boolean> {
    return (await this.#redis.hdel(this.#k('config'), cameraId)) === 1;
  }

  async cursor(): Promise<string> {
    return (await this.#redis.get(this.#k('cursor'))) ?? '0-0';
  }

  async lineCounts(cameraId: string, day: string): Promise<Record<string, { in: number; out: number }>> {
    const h = await this.#redis.hgetall(this.#k('cam', cameraId, 'lines', day));
    const out: Record<string, { in: number; out: number }> = {};
    for (const [field, n] of Object.entries(h)) {
      const i = field.lastIndexOf(':');
      const line = field.slice(0, i);
      const dir = field.slice(i + 1);
      const c = out[line] ?? { in: 0, out: 0 };
      if (dir === 'in' || dir === 'out') c[dir] = Number(n);
      out[line] = c;
    }
    return out;
  }

  async meta(cameraId: string): Promise<{ nextTrackId: number; day: string | null }> {
    const h = await this.#redis.hgetall(this.#k('cam', cameraId, 'meta'));
    return { nextTrackId: Number(h.nextTrackId ?? 1), day: h.day ?? null };
  }

  /** Writes a batch atomically (see the class comment). */
  async commit(batch: AnalyticsBatch): Promise<void> {
    const m = this.#redis.multi();
    const minId = Math.max(0, Date.now() - this.#o.eventRetentionMs);
    for (const e of batch.events)
      m.xadd(this.eventsKey, 'MINID', '~', String(minId), '*', 'id', e.id, 'event', JSON.stringify(e));
    for (const [cameraId, days] of batch.counts) {
      for (const [day, fields] of days) {
        const key = this.#k('cam', cameraId, 'lines', day);
        for (const [field, n] of fields) m.hincrby(key, field, n);
        m.pexpire(key, this.#o.countsTtlMs);
      }
    }
    for (const [cameraId, meta] of batch.meta)
      m.hset(this.#k('cam', cameraId, 'meta'), {
        nextTrackId: meta.nextTrackId,
        ...(meta.day ? { day: meta.day } : {}),
      });
    m.set(this.#k('cursor'), batch.cursor);
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('analytics batch was not written');
  }

  /** Oldest-first page of the event outbox, optionally one camera's. */
  async readEvents(opts: { after?: string; limit: number; cameraId?: string }): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    let start = opts.after ? `(${opts.after}` : '-';
    // A camera filter may skip many entries; page through until the limit is filled or the end.
    for (;;) {
      const rows = await this.#redis.xrange(this.eventsKey, start, '+', 'COUNT', Math.max(opts.limit, 100));
      for (const [streamId, fields] of rows) {
        const json = fields[fields.indexOf('event') + 1];
        if (!json) continue;
        const event = analyticsEventSchema.parse(JSON.parse(json));
        if (opts.cameraId && event.cameraId !== opts.cameraId) continue;
        out.push({ streamId, event });
        if (out.length >= opts.limit) return out;
      }
      if (rows.length < Math.max(opts.limit, 100)) return out;
      start = `(${rows[rows.length - 1]![0]}`;
    }
  }

  async eventCount(): Promise<number> {
    return this.#redis.xlen(this.eventsKey);
  }
}
