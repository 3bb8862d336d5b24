import {
  type MetricBucket,
  metricBucketSchema,
  type PutStoreRequest,
  putStoreRequestSchema,
  type StoreComparison,
  type StoreMetric,
  type StoreMetrics,
  type StoreStatus,
  storeMetricSchema,
} from '@storevision/contracts';
import { HubError } from '../errors.ts';
import type { EventRepository } from '../repositories/event.repository.ts';
import type { StoreRecord, StoreRepository } from '../repositories/store.repository.ts';
import {
  bucketStarts,
  foldRows,
  getOrSet,
  localDayStart,
  type RollupRow,
  type RollupSize,
} from './rollup.ts';
import { inScope } from './token.service.ts';

/** Most buckets one answer may hold (5-minute buckets for a month is 8 640). */
export const MAX_BUCKETS = 10_000;
const STORE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const HOUR = 3_600_000;

export interface MetricsQuery {
  metric?: string;
  from?: string;
  to?: string;
  bucket?: string;
  zone?: string;
  camera?: string;
}

export interface CompareQuery {
  metric?: string;
  from?: string;
  to?: string;
  bucket?: string;
  /** Comma-separated store ids; all stores when absent. */
  stores?: string;
}

/** A camera is listed while it sent an event in this many days (within raw-event retention). */
const CAMERA_DAYS = 7;

/** `GET /v1/stores/{storeId}/cameras` answer. */
export interface StoreCameras {
  storeId: string;
  timezone: string;
  cameras: Array<{ cameraId: string; nodeId: string; lastEventTime: string }>;
}

/** The stored size a requested bucket is folded from. */
const SOURCE: Record<MetricBucket, RollupSize> = { '1m': '1m', '5m': '1m', '1h': '1h', '1d': '1d' };

/**
 * Stores and their metrics, read from the rollups. Times are UTC on the wire; a store's time zone
 * decides where its days start ("today", day buckets).
 */
export class StoreMetricsService {
  readonly #stores: StoreRepository;
  readonly #events: EventRepository;
  readonly #nodeUpAfterMs: number;
  readonly #now: () => Date;

  constructor(opts: {
    stores: StoreRepository;
    events: EventRepository;
    nodeUpAfterMs: number;
    now?: () => Date;
  }) {
    this.#stores = opts.stores;
    this.#events = opts.events;
    this.#nodeUpAfterMs = opts.nodeUpAfterMs;
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * Every store (within `scope`, when the token has one) with its live status and today's totals.
   */
  async listStores(scope?: readonly string[]): Promise<StoreStatus[]> {
    const stores = (await this.#stores.list()).filter((s) => inScope(scope, s.id));
    const nodes = await this.#stores.nodes(scope && stores.map((s) => s.id));
    const now = this.#now().getTime();
    const ids = stores.map((s) => s.id);
    const today = new Map(stores.map((s) => [s.id, localDayStart(now, s.timezone)]));
    const minStart = new Date(Math.min(now, ...today.values())).toISOString();
    const end = new Date(now + 26 * HOUR).toISOString();
    const totals = async (metric: StoreMetric) => {
      const out = new Map<string, number>();
      for (const r of await this.#events.rollups({
        storeIds: ids,
        metric,
        bucket: '1d',
        from: minStart,
        to: end,
      }))
        if (Date.parse(r.start) === today.get(r.storeId))
          out.set(r.storeId, (out.get(r.storeId) ?? 0) + r.sum);
      return out;
    };
    const [fin, fout, alerts] = await Promise.all([
      totals('footfall_in'),
      totals('footfall_out'),
      totals('alerts'),
    ]);
    return stores.map((s) => {
      const items = nodes
        .filter((n) => n.storeId === s.id)
        .map((n) => ({
          nodeId: n.nodeId,
          up: now - Date.parse(n.lastSeenAt) <= this.#nodeUpAfterMs,
          lastSeenAt: n.lastSeenAt,
          backlog: n.backlog,
        }));
      return {
        storeId: s.id,
        name: s.name,
        timezone: s.timezone,
        nodes: { up: items.filter((n) => n.up).length, total: items.length, items },
        lastEventTime: s.lastEventTime,
        today: {
          footfallIn: fin.get(s.id) ?? 0,
          footfallOut: fout.get(s.id) ?? 0,
          alerts: alerts.get(s.id) ?? 0,
        },
      };
    });
  }

  /**
   * Creates or updates a store. A new time zone moves the day boundaries: the store's day rollups
   * are rebuilt from its hour rollups (exact for zones on whole-hour offsets).
   */
  async putStore(storeId: string, body: unknown): Promise<{ created: boolean; store: StoreRecord }> {
    if (!STORE_ID.test(storeId)) throw new HubError('HUB_ERR_BAD_STORE_ID', storeId.slice(0, 80));
    const parsed = putStoreRequestSchema.safeParse(body);
    if (!parsed.success)
      throw new HubError(
        'HUB_ERR_BAD_REQUEST',
        parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
      );
    const req: PutStoreRequest = parsed.data;
    const before = await this.#stores.put(storeId, req, this.#now().toISOString());
    if (before && before.timezone !== req.timezone) await this.#rebuildDays(storeId, req.timezone);
    return { created: !before, store: (await this.#stores.get(storeId))! };
  }

  async #rebuildDays(storeId: string, timezone: string): Promise<void> {
    const hours = await this.#events.rollupsOfStore(storeId, '1h');
    const days = new Map<string, RollupRow>();
    for (const r of hours) {
      const start = new Date(localDayStart(Date.parse(r.start), timezone)).toISOString();
      const key = `${r.metric}\u0000${start}\u0000${r.cameraId}\u0000${r.subject}`;
      const d = days.get(key);
      if (!d) {
        days.set(key, { ...r, metric: r.metric as StoreMetric, bucket: '1d', start, h: [...r.h] });
        continue;
      }
      d.n += r.n;
      d.sum += r.sum;
      d.max = Math.max(d.max, r.max);
      d.wsum += r.wsum;
      d.wms += r.wms;
      r.h.forEach((c, i) => {
        d.h[i]! += c;
      });
    }
    await this.#events.replaceDayRollups(storeId, [...days.values()]);
  }

  async metrics(storeId: string, q: MetricsQuery, scope?: readonly string[]): Promise<StoreMetrics> {
    const store = await this.#store(storeId, scope);
    const metric = parseMetric(q.metric);
    const bucket = parseBucket(q.bucket, '1h');
    const { starts, end } = this.#range(q.from, q.to, bucket, store.timezone, 1);
    const rows = await this.#events.rollups({
      storeIds: [storeId],
      metric,
      bucket: SOURCE[bucket],
      from: new Date(starts[0]!).toISOString(),
      to: new Date(end).toISOString(),
      ...(q.camera ? { cameraId: q.camera } : {}),
      ...(q.zone ? { subject: q.zone } : {}),
    });
    const folded = foldRows({ metric, starts, end, rows });
    return {
      storeId,
      metric,
      bucket,
      from: new Date(starts[0]!).toISOString(),
      to: new Date(end).toISOString(),
      timezone: store.timezone,
      ...folded,
    };
  }

  /** One metric for many stores; each store's day buckets follow its own time zone. */
  async compare(q: CompareQuery, scope?: readonly string[]): Promise<StoreComparison> {
    const metric = parseMetric(q.metric);
    const bucket = parseBucket(q.bucket, '1d');
    // Out-of-scope stores are as absent as stores that do not exist: naming one is a 404.
    const all = (await this.#stores.list()).filter((s) => inScope(scope, s.id));
    let stores = all;
    if (q.stores) {
      const wanted = [
        ...new Set(
          q.stores
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      ];
      const byId = new Map(all.map((s) => [s.id, s]));
      const missing = wanted.filter((id) => !byId.has(id));
      if (missing.length > 0) throw new HubError('HUB_ERR_STORE_NOT_FOUND', missing.join(', '));
      stores = wanted.map((id) => byId.get(id)!);
    }
    const ranges = stores.map((s) => this.#range(q.from, q.to, bucket, s.timezone, 7));
    const cells = ranges.reduce((n, r) => n + r.starts.length, 0);
    if (cells > 100 * MAX_BUCKETS)
      throw new HubError('HUB_ERR_BAD_TIME_RANGE', `${cells} store buckets asked for; narrow the range`);
    const from = Math.min(...ranges.map((r) => r.starts[0]!));
    const to = Math.max(...ranges.map((r) => r.end));
    const rows = await this.#events.rollups({
      storeIds: stores.map((s) => s.id),
      metric,
      bucket: SOURCE[bucket],
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    });
    const byStore = new Map<string, typeof rows>();
    for (const r of rows) getOrSet(byStore, r.storeId, () => [] as typeof rows).push(r);
    return {
      metric,
      bucket,
      from: new Date(stores.length ? from : Date.parse(q.from ?? '') || 0).toISOString(),
      to: new Date(stores.length ? to : Date.parse(q.to ?? '') || 0).toISOString(),
      stores: stores.map((s, i) => {
        const { starts, end } = ranges[i]!;
        const f = foldRows({ metric, starts, end, rows: byStore.get(s.id) ?? [] });
        return { storeId: s.id, total: f.total, points: f.points };
      }),
    };
  }

  /**
   * The cameras of a store that sent events in the last `CAMERA_DAYS` days, each with the node
   * that owns it (whose edge serves the camera's frames and geometry) and its newest event time.
   */
  async cameras(storeId: string, scope?: readonly string[]): Promise<StoreCameras> {
    const store = await this.#store(storeId, scope);
    const since = new Date(this.#now().getTime() - CAMERA_DAYS * 24 * HOUR).toISOString();
    const rows = await this.#events.cameras(storeId, since);
    // A camera moved between nodes keeps its newest owner.
    const byCamera = new Map<string, { cameraId: string; nodeId: string; lastEventTime: string }>();
    for (const r of rows) {
      const seen = byCamera.get(r.cameraId);
      if (!seen || r.lastEventTime > seen.lastEventTime) byCamera.set(r.cameraId, r);
    }
    return {
      storeId,
      timezone: store.timezone,
      cameras: [...byCamera.values()].sort((a, b) => a.cameraId.localeCompare(b.cameraId)),
    };
  }

  /** A store the scope covers; one outside it is a 404 like a missing one (its existence is not told). */
  async #store(storeId: string, scope?: readonly string[]): Promise<StoreRecord> {
    if (!STORE_ID.test(storeId)) throw new HubError('HUB_ERR_BAD_STORE_ID', storeId.slice(0, 80));
    const s = inScope(scope, storeId) ? await this.#stores.get(storeId) : undefined;
    if (!s) throw new HubError('HUB_ERR_STORE_NOT_FOUND', storeId);
    return s;
  }

  /**
   * Output buckets for [from, to): defaults to the last `defaultDays` store-local days ending with
   * today; `from` is floored to its bucket and the end extended to a whole bucket.
   */
  #range(
    fromText: string | undefined,
    toText: string | undefined,
    bucket: MetricBucket,
    timezone: string,
    defaultDays: number,
  ): { starts: number[]; end: number } {
    const now = this.#now().getTime();
    const parse = (v: string | undefined, name: string) => {
      if (v === undefined || v === '') return undefined;
      // ISO 8601 only: a date, or a date and time with a zone (Z or ±hh:mm).
      if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(v))
        throw new HubError(
          'HUB_ERR_BAD_TIME_RANGE',
          `${name} is not an ISO 8601 time with a zone: ${v.slice(0, 40)}`,
        );
      const ms = Date.parse(v);
      if (!Number.isFinite(ms)) throw new HubError('HUB_ERR_BAD_TIME_RANGE', `${name}: ${v.slice(0, 40)}`);
      return ms;
    };
    const today = localDayStart(now, timezone);
    const to = parse(toText, 'to') ?? localDayStart(today + 25 * HOUR, timezone);
    let from = parse(fromText, 'from');
    if (from === undefined) {
      from = today;
      for (let d = 1; d < defaultDays; d++) from = localDayStart(from - 1, timezone);
    }
    if (!(from < to)) throw new HubError('HUB_ERR_BAD_TIME_RANGE', 'from must be before to');
    const approx =
      (to - from) /
      (bucket === '1m' ? 60_000 : bucket === '5m' ? 300_000 : bucket === '1h' ? HOUR : 86_400_000);
    if (approx > MAX_BUCKETS + 2)
      throw new HubError('HUB_ERR_BAD_TIME_RANGE', `${Math.ceil(approx)} ${bucket} buckets asked for`);
    const starts = bucketStarts(from, to, bucket, timezone);
    const last = starts[starts.length - 1]!;
    const end =
      bucket === '1d'
        ? localDayStart(last + 25 * HOUR, timezone)
        : last + (bucket === '1m' ? 60_000 : bucket === '5m' ? 300_000 : HOUR);
    return { starts, end };
  }
}

function parseMetric(v: string | undefined): StoreMetric {
  const r = storeMetricSchema.safeParse(v);
  if (!r.success) throw new HubError('HUB_ERR_BAD_METRIC_QUERY', `metric=${String(v).slice(0, 40)}`);
  return r.data;
}

function parseBucket(v: string | undefined, fallback: MetricBucket): MetricBucket {
  if (v === undefined || v === '') return fallback;
  const r = metricBucketSchema.safeParse(v);
  if (!r.success) throw new HubError('HUB_ERR_BAD_METRIC_QUERY', `bucket=${v.slice(0, 40)}`);
  return r.data;
}
