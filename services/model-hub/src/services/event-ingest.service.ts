import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  type AnalyticsEvent,
  analyticsEventSchema,
  type EventBatchAck,
  eventBatchSchema,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { HubError } from '../errors.ts';
import type { HubMetrics } from '../metrics.ts';
import type { EventRecord, EventRepository } from '../repositories/event.repository.ts';
import { DEFAULT_LEVEL_HOLD_MS, levelSamples, reportDeltas } from './rollup.ts';
import { inScope } from './token.service.ts';

/** What live views (SSE) hear after each batch. */
export interface IngestNotice {
  storeId: string;
  nodeId: string;
  accepted: number;
  /** Capture time of the newest new event, when any. */
  lastEventTime: string | null;
  /** New events by type. */
  types: Record<string, number>;
}

export interface EventIngestOptions {
  repository: EventRepository;
  metrics: HubMetrics;
  logger: Logger;
  /** Raw events and minute rollups are kept this long. */
  retentionMs: number;
  /** How long an occupancy or queue-length report holds without a newer one. @defaultValue 5 min */
  levelHoldMs?: number;
  now?: () => Date;
}

/**
 * Ingest of store events from edges: validates each event on its own, stores the new ones and
 * their rollups in one transaction (idempotent on the event id: a retried batch adds nothing), and
 * tells live listeners. Also runs retention.
 */
export class EventIngestService {
  readonly #o: EventIngestOptions;
  readonly #log: Logger;
  readonly #bus = new EventEmitter();
  readonly #now: () => Date;

  constructor(opts: EventIngestOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'events' });
    this.#now = opts.now ?? (() => new Date());
    // One listener per open dashboard; no leak warning at a few dozen.
    this.#bus.setMaxListeners(0);
  }

  /**
   * `scope`: the stores the uploading token may write (undefined: every store); a batch for
   * another store is refused whole with `HUB_ERR_STORE_OUT_OF_SCOPE`, before anything is stored.
   */
  async ingest(body: unknown, scope?: readonly string[]): Promise<EventBatchAck> {
    const t0 = performance.now();
    const parsed = eventBatchSchema.safeParse(body);
    if (!parsed.success)
      throw new HubError(
        'HUB_ERR_BAD_EVENT_BATCH',
        parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
      );
    const batch = parsed.data;
    if (!inScope(scope, batch.storeId))
      throw new HubError('HUB_ERR_STORE_OUT_OF_SCOPE', `store ${batch.storeId}`);
    const rejected: EventBatchAck['rejected'] = [];
    const valid: AnalyticsEvent[] = [];
    const records: EventRecord[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    batch.events.forEach((raw, index) => {
      const r = analyticsEventSchema.safeParse(raw);
      const rawId = (raw as { id?: unknown } | null)?.id;
      const id = typeof rawId === 'string' ? rawId : null;
      if (!r.success) {
        rejected.push({
          index,
          id,
          message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        });
        return;
      }
      const e = r.data;
      const ms = Date.parse(e.time);
      if (!Number.isFinite(ms)) {
        rejected.push({ index, id, message: `time: not an ISO 8601 time: ${e.time}` });
        return;
      }
      if (e.storeId !== batch.storeId) {
        rejected.push({ index, id, message: `storeId ${e.storeId} is not the batch's ${batch.storeId}` });
        return;
      }
      if (seen.has(e.id)) {
        duplicates++;
        return;
      }
      seen.add(e.id);
      const event = { ...e, time: new Date(ms).toISOString() };
      valid.push(event);
      records.push({
        id: e.id,
        storeId: e.storeId,
        cameraId: e.cameraId,
        nodeId: e.nodeId,
        type: e.type,
        time: event.time,
        body: JSON.stringify(raw),
      });
    });
    const byId = new Map(valid.map((e) => [e.id, e]));
    const inserted = await this.#o.repository.ingest({
      storeId: batch.storeId,
      nodeId: batch.nodeId,
      timezone: batch.timezone && isTimeZone(batch.timezone) ? batch.timezone : 'UTC',
      backlog: batch.backlog ?? null,
      receivedAt: this.#now().toISOString(),
      events: records,
      deltas: (stored, timezone) =>
        reportDeltas(
          stored.map((r) => byId.get(r.id)!),
          () => timezone,
        ),
      levels: (stored) => levelSamples(stored.map((r) => byId.get(r.id)!)),
      holdMs: this.#o.levelHoldMs ?? DEFAULT_LEVEL_HOLD_MS,
    });
    duplicates += records.length - inserted.length;
    const { metrics } = this.#o;
    metrics.eventsIngested.inc({ result: 'accepted' }, inserted.length);
    metrics.eventsIngested.inc({ result: 'duplicate' }, duplicates);
    metrics.eventsIngested.inc({ result: 'rejected' }, rejected.length);
    metrics.eventBatchSeconds.observe((performance.now() - t0) / 1000);
    if (rejected.length > 0)
      this.#log.warn(
        { storeId: batch.storeId, nodeId: batch.nodeId, rejected: rejected.slice(0, 5) },
        'events rejected',
      );
    const types: Record<string, number> = {};
    let lastEventTime: string | null = null;
    for (const r of inserted) {
      types[r.type] = (types[r.type] ?? 0) + 1;
      if (lastEventTime === null || r.time > lastEventTime) lastEventTime = r.time;
    }
    const notice: IngestNotice = {
      storeId: batch.storeId,
      nodeId: batch.nodeId,
      accepted: inserted.length,
      lastEventTime,
      types,
    };
    this.#bus.emit('ingest', notice);
    return { accepted: inserted.length, duplicates, rejected };
  }

  /** Calls `fn` after every batch until the returned function is called. */
  subscribe(fn: (n: IngestNotice) => void): () => void {
    this.#bus.on('ingest', fn);
    return () => this.#bus.off('ingest', fn);
  }

  /** Deletes raw events, minute rollups and level reports past the retention. */
  async prune(): Promise<{ events: number; minuteRollups: number; levelSamples: number }> {
    const before = new Date(this.#now().getTime() - this.#o.retentionMs).toISOString();
    const res = await this.#o.repository.prune(before, before);
    if (res.events > 0 || res.minuteRollups > 0 || res.levelSamples > 0)
      this.#log.info(res, 'pruned store events past retention');
    return res;
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
