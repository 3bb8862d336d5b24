import { type ExpressionBuilder, type Kysely, sql, type Transaction } from 'kysely';
import type { HubDatabase } from '../db/schema.ts';
import {
  bucketStart,
  HISTOGRAM_BINS,
  type LevelSample,
  type LevelSpan,
  levelDeltas,
  levelMaxima,
  levelWindows,
  localDayStart,
  maxWindows,
  mergeRows,
  type RollupRow,
  type RollupSize,
  seriesKey,
} from '../services/rollup.ts';

/** A validated event, ready to store. */
export interface EventRecord {
  id: string;
  storeId: string;
  cameraId: string;
  nodeId: string;
  type: string;
  /** Capture time, ISO UTC (normalised). */
  time: string;
  body: string;
}

export interface IngestBatch {
  storeId: string;
  nodeId: string;
  /** For a store the hub has not seen: its time zone. */
  timezone: string;
  backlog: number | null;
  receivedAt: string;
  events: EventRecord[];
  /** The report rollup rows the newly stored events add, given the store's time zone. */
  deltas(inserted: EventRecord[], timezone: string): RollupRow[];
  /** The level reports (occupancy, queue length) among the newly stored events. */
  levels(inserted: EventRecord[]): LevelSample[];
  /** How long a level report holds without a newer one (see `levelDeltas`). */
  holdMs: number;
}

export interface StoredRollup {
  storeId: string;
  cameraId: string;
  subject: string;
  start: string;
  n: number;
  sum: number;
  max: number;
  h: number[];
  /** Levels' time weights (see `RollupRow`). */
  wsum: number;
  wms: number;
}

type HistColumn = `h${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11}`;
const HIST_COLUMNS = Array.from({ length: HISTOGRAM_BINS }, (_, i) => `h${i}` as HistColumn);
/** Rows per upsert statement: 20 parameters each, under SQLite's 32 766. */
const UPSERT_CHUNK = 500;
/** Events per insert statement: 8 parameters each. */
const INSERT_CHUNK = 1000;
/** Sample windows per select (5 parameters each), and samples per insert (6 each). */
const WINDOW_CHUNK = 1000;

/**
 * Store events and their rollups in the metadata database; the only place that writes SQL for
 * them. The same statements run on SQLite and PostgreSQL: `ON CONFLICT DO NOTHING RETURNING` for
 * idempotent inserts, `ON CONFLICT DO UPDATE` with `excluded.*` for additive upserts.
 */
export class EventRepository {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  /**
   * One batch, in one transaction: the store (created on first sight) and node status, the events
   * not stored before (by id), and their rollups. Resolves the events that were new.
   */
  async ingest(batch: IngestBatch): Promise<EventRecord[]> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('stores')
        .values({
          id: batch.storeId,
          name: batch.storeId,
          timezone: batch.timezone,
          created_at: batch.receivedAt,
          updated_at: batch.receivedAt,
          last_event_time: null,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      await trx
        .insertInto('store_nodes')
        .values({
          store_id: batch.storeId,
          node_id: batch.nodeId,
          last_seen_at: batch.receivedAt,
          backlog: batch.backlog,
        })
        .onConflict((oc) =>
          oc.columns(['store_id', 'node_id']).doUpdateSet({
            last_seen_at: batch.receivedAt,
            backlog: batch.backlog,
          }),
        )
        .execute();
      if (batch.events.length === 0) return [];

      const insertedIds = new Set<string>();
      for (let i = 0; i < batch.events.length; i += INSERT_CHUNK) {
        const rows = await trx
          .insertInto('store_events')
          .values(
            batch.events.slice(i, i + INSERT_CHUNK).map((e) => ({
              id: e.id,
              store_id: e.storeId,
              camera_id: e.cameraId,
              node_id: e.nodeId,
              type: e.type,
              time: e.time,
              received_at: batch.receivedAt,
              body: e.body,
            })),
          )
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id')
          .execute();
        for (const r of rows) insertedIds.add(r.id);
      }
      const inserted = batch.events.filter((e) => insertedIds.has(e.id));
      if (inserted.length === 0) return [];

      // ISO strings of one format compare as times. Updating the store row first also takes its
      // row lock (PostgreSQL) until commit: batches of one store place their level reports one
      // after the other, each seeing the reports the one before stored.
      let newest = inserted[0]!.time;
      for (const e of inserted) if (e.time > newest) newest = e.time;
      await trx
        .updateTable('stores')
        .set({
          last_event_time: sql<string>`case when last_event_time is null or last_event_time < ${newest} then ${newest} else last_event_time end`,
        })
        .where('id', '=', batch.storeId)
        .execute();
      const store = await trx
        .selectFrom('stores')
        .select('timezone')
        .where('id', '=', batch.storeId)
        .executeTakeFirstOrThrow();
      const reports = batch.deltas(inserted, store.timezone);
      const maxSpans: LevelSpan[] = [];
      const levels = await placeLevels(trx, batch.levels(inserted), batch.holdMs, store.timezone, maxSpans);
      await upsertRollups(trx, mergeRows(reports, levels));
      if (maxSpans.length > 0) await correctMaxima(trx, maxSpans, batch.holdMs, store.timezone);
      return inserted;
    });
  }

  /** Rollup rows of one metric and bucket size for some stores, `start` in [from, to). */
  async rollups(q: {
    storeIds: string[];
    metric: string;
    bucket: RollupSize;
    from: string;
    to: string;
    cameraId?: string;
    subject?: string;
  }): Promise<StoredRollup[]> {
    if (q.storeIds.length === 0) return [];
    let query = this.db
      .selectFrom('event_rollups')
      .selectAll()
      .where('store_id', 'in', q.storeIds)
      .where('metric', '=', q.metric)
      .where('bucket', '=', q.bucket)
      .where('start', '>=', q.from)
      .where('start', '<', q.to);
    if (q.cameraId !== undefined) query = query.where('camera_id', '=', q.cameraId);
    if (q.subject !== undefined) query = query.where('subject', '=', q.subject);
    const rows = await query.execute();
    return rows.map((r) => ({
      storeId: r.store_id,
      cameraId: r.camera_id,
      subject: r.subject,
      start: r.start,
      n: Number(r.n),
      sum: Number(r.sum),
      max: Number(r.max),
      h: HIST_COLUMNS.map((c) => Number(r[c])),
      wsum: Number(r.tw_sum),
      wms: Number(r.tw_ms),
    }));
  }

  /** Every rollup row of one size of a store (rebuilding day rollups after a time zone change). */
  async rollupsOfStore(
    storeId: string,
    bucket: RollupSize,
  ): Promise<Array<StoredRollup & { metric: string }>> {
    const rows = await this.db
      .selectFrom('event_rollups')
      .selectAll()
      .where('store_id', '=', storeId)
      .where('bucket', '=', bucket)
      .execute();
    return rows.map((r) => ({
      storeId: r.store_id,
      metric: r.metric,
      cameraId: r.camera_id,
      subject: r.subject,
      start: r.start,
      n: Number(r.n),
      sum: Number(r.sum),
      max: Number(r.max),
      h: HIST_COLUMNS.map((c) => Number(r[c])),
      wsum: Number(r.tw_sum),
      wms: Number(r.tw_ms),
    }));
  }

  /**
   * The cameras of a store with events since `since`, per owning node, with their newest event
   * time (one grouped scan of the store's `(store_id, time)` index range).
   */
  async cameras(
    storeId: string,
    since: string,
  ): Promise<Array<{ cameraId: string; nodeId: string; lastEventTime: string }>> {
    const rows = await this.db
      .selectFrom('store_events')
      .select((eb) => ['camera_id', 'node_id', eb.fn.max('time').as('last')])
      .where('store_id', '=', storeId)
      .where('time', '>=', since)
      .groupBy(['camera_id', 'node_id'])
      .execute();
    return rows.map((r) => ({ cameraId: r.camera_id, nodeId: r.node_id, lastEventTime: String(r.last) }));
  }

  /** Raw events of a store, `time` in [from, to), oldest first (tests, exports). */
  async events(storeId: string, from: string, to: string): Promise<Array<{ id: string; body: string }>> {
    return this.db
      .selectFrom('store_events')
      .select(['id', 'body'])
      .where('store_id', '=', storeId)
      .where('time', '>=', from)
      .where('time', '<', to)
      .orderBy('time')
      .orderBy('id')
      .execute();
  }

  async countEvents(storeId?: string): Promise<number> {
    let q = this.db.selectFrom('store_events').select((eb) => eb.fn.countAll().as('n'));
    if (storeId !== undefined) q = q.where('store_id', '=', storeId);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  /**
   * Retention: raw events received before `rawBefore`, and minute rollups and level reports older
   * than `minutesBefore` go. Hour and day rollups stay (they are small).
   */
  async prune(
    rawBefore: string,
    minutesBefore: string,
  ): Promise<{ events: number; minuteRollups: number; levelSamples: number }> {
    const ev = await this.db
      .deleteFrom('store_events')
      .where('received_at', '<', rawBefore)
      .executeTakeFirst();
    const ru = await this.db
      .deleteFrom('event_rollups')
      .where('bucket', '=', '1m')
      .where('start', '<', minutesBefore)
      .executeTakeFirst();
    const ls = await this.db.deleteFrom('level_samples').where('time', '<', minutesBefore).executeTakeFirst();
    return {
      events: Number(ev.numDeletedRows),
      minuteRollups: Number(ru.numDeletedRows),
      levelSamples: Number(ls.numDeletedRows),
    };
  }

  /**
   * Replaces a store's day rollups (after its time zone changed) with `rows`, built from its hour
   * rollups by the caller, in one transaction.
   */
  async replaceDayRollups(storeId: string, rows: RollupRow[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('event_rollups')
        .where('store_id', '=', storeId)
        .where('bucket', '=', '1d')
        .execute();
      await upsertRollups(trx, rows);
    });
  }
}

/**
 * Stores new level reports and returns the time weights they change: reads the reports already
 * stored near them (`levelWindows`), inserts the new ones (a report at a time its series already
 * has is a repeat and changes nothing) and hands both to `levelDeltas`.
 */
async function placeLevels(
  trx: Transaction<HubDatabase>,
  samples: LevelSample[],
  holdMs: number,
  timezone: string,
  maxSpans: LevelSpan[],
): Promise<RollupRow[]> {
  if (samples.length === 0) return [];
  const existing = await storedSamples(trx, levelWindows(samples, holdMs));
  const unique = new Map<string, LevelSample>();
  for (const s of samples) {
    const key = `${s.storeId}\u0000${s.metric}\u0000${s.cameraId}\u0000${s.subject}\u0000${s.t}`;
    if (!unique.has(key)) unique.set(key, s);
  }
  const list = [...unique.values()];
  const added: LevelSample[] = [];
  for (let i = 0; i < list.length; i += WINDOW_CHUNK) {
    const chunk = list.slice(i, i + WINDOW_CHUNK);
    const rows = await trx
      .insertInto('level_samples')
      .values(
        chunk.map((s) => ({
          store_id: s.storeId,
          metric: s.metric,
          camera_id: s.cameraId,
          subject: s.subject,
          time: iso(s.t),
          value: s.value,
        })),
      )
      .onConflict((oc) => oc.columns(['store_id', 'metric', 'camera_id', 'subject', 'time']).doNothing())
      .returning(['metric', 'camera_id', 'subject', 'time'])
      .execute();
    const stored = new Set(
      rows.map((r) => `${r.metric}\u0000${r.camera_id}\u0000${r.subject}\u0000${r.time}`),
    );
    for (const s of chunk)
      if (stored.has(`${s.metric}\u0000${s.cameraId}\u0000${s.subject}\u0000${iso(s.t)}`)) added.push(s);
  }
  return levelDeltas({ existing, added, holdMs, timezone: () => timezone, maxSpans });
}

/**
 * Sets the `max` of the buckets where a late report cut a segment already ended (`maxSpans` of
 * `levelDeltas`): each minute's to `levelMaxima` of the stored reports, then each hour's and
 * store-local day's around them to the largest of their minutes. Runs after the batch's upsert,
 * in its transaction. Rare: only a report arriving after the reports on both sides of it gets
 * here. Two reports of one series at the same time keep the first (`level_samples`); an edge
 * makes one level per zone and frame, so they carry the same value.
 */
async function correctMaxima(
  trx: Transaction<HubDatabase>,
  spans: LevelSpan[],
  holdMs: number,
  timezone: string,
): Promise<void> {
  const samples = await storedSamples(trx, maxWindows(spans, holdMs));
  const outer = new Map<
    string,
    { series: LevelSpan['series']; bucket: '1h' | '1d'; start: number; end: number }
  >();
  for (const m of levelMaxima(samples, spans, holdMs)) {
    await trx
      .updateTable('event_rollups')
      .set({ max: m.max })
      .where((eb) => seriesRow(eb, m.series, '1m', iso(m.start)))
      .execute();
    for (const bucket of ['1h', '1d'] as const) {
      const start = bucketStart(m.start, bucket, timezone);
      const end = bucket === '1h' ? start + 3_600_000 : localDayStart(start + 25 * 3_600_000, timezone);
      outer.set(`${seriesKey(m.series)}\u0000${bucket}\u0000${start}`, {
        series: m.series,
        bucket,
        start,
        end,
      });
    }
  }
  for (const o of outer.values()) {
    const { storeId, metric, cameraId, subject } = o.series;
    const minutes = (agg: 'max' | 'sum', column: 'max' | 'n' | 'tw_ms') =>
      sql<number>`(select ${sql.raw(agg)}(m.${sql.ref(column)}) from event_rollups m where m.store_id = ${storeId} and m.metric = ${metric} and m.bucket = '1m' and m.camera_id = ${cameraId} and m.subject = ${subject} and m.start >= ${iso(o.start)} and m.start < ${iso(o.end)})`;
    await trx
      .updateTable('event_rollups')
      .set({ max: minutes('max', 'max') })
      .where((eb) => seriesRow(eb, o.series, o.bucket, iso(o.start)))
      // Only while every minute of it is still stored (minute rollups are pruned before hours and
      // days): its reports and covered time add up to the hour's or day's own. Otherwise the max
      // stays as it is — possibly too high, never too low.
      .where((eb) => eb.and([eb('n', '=', minutes('sum', 'n')), eb('tw_ms', '=', minutes('sum', 'tw_ms'))]))
      .execute();
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The condition naming one rollup row of a level series. */
function seriesRow(
  eb: ExpressionBuilder<HubDatabase, 'event_rollups'>,
  series: LevelSpan['series'],
  bucket: RollupSize,
  start: string,
) {
  return eb.and([
    eb('store_id', '=', series.storeId),
    eb('metric', '=', series.metric),
    eb('bucket', '=', bucket),
    eb('start', '=', start),
    eb('camera_id', '=', series.cameraId),
    eb('subject', '=', series.subject),
  ]);
}

/** The stored level reports inside `windows` (per series, time in [from, to]). */
async function storedSamples(
  trx: Transaction<HubDatabase>,
  windows: ReadonlyArray<Pick<LevelSpan, 'series' | 'from' | 'to'>>,
): Promise<LevelSample[]> {
  const existing: LevelSample[] = [];
  for (let i = 0; i < windows.length; i += WINDOW_CHUNK) {
    const chunk = windows.slice(i, i + WINDOW_CHUNK);
    const rows = await trx
      .selectFrom('level_samples')
      .select(['store_id', 'metric', 'camera_id', 'subject', 'time', 'value'])
      .where((eb) =>
        eb.or(
          chunk.map((w) =>
            eb.and([
              eb('store_id', '=', w.series.storeId),
              eb('metric', '=', w.series.metric),
              eb('camera_id', '=', w.series.cameraId),
              eb('subject', '=', w.series.subject),
              eb('time', '>=', iso(w.from)),
              eb('time', '<=', iso(w.to)),
            ]),
          ),
        ),
      )
      .execute();
    for (const r of rows)
      existing.push({
        storeId: r.store_id,
        metric: r.metric as LevelSample['metric'],
        cameraId: r.camera_id,
        subject: r.subject,
        t: Date.parse(r.time),
        value: Number(r.value),
      });
  }
  return existing;
}

/**
 * Adds `rows` to the stored rollups (inserting the ones that do not exist). Rows without a
 * histogram (everything but dwell) go without the 12 histogram columns: less than half the
 * parameters to bind, and the columns keep their default 0.
 */
async function upsertRollups(trx: Transaction<HubDatabase>, rows: RollupRow[]): Promise<void> {
  const withHist = rows.filter((r) => r.h.some((c) => c > 0));
  const plain = rows.filter((r) => !r.h.some((c) => c > 0));
  for (const [list, hist] of [
    [plain, false],
    [withHist, true],
  ] as const) {
    for (let i = 0; i < list.length; i += UPSERT_CHUNK) {
      const chunk = list.slice(i, i + UPSERT_CHUNK);
      await trx
        .insertInto('event_rollups')
        .values(
          chunk.map((r) => {
            const row = {
              store_id: r.storeId,
              metric: r.metric,
              bucket: r.bucket,
              start: r.start,
              camera_id: r.cameraId,
              subject: r.subject,
              n: r.n,
              sum: r.sum,
              max: r.max,
              tw_sum: r.wsum,
              tw_ms: r.wms,
            } as Record<string, string | number>;
            if (hist)
              HIST_COLUMNS.forEach((c, j) => {
                row[c] = r.h[j] ?? 0;
              });
            return row as never;
          }),
        )
        .onConflict((oc) =>
          oc.columns(['store_id', 'metric', 'bucket', 'start', 'camera_id', 'subject']).doUpdateSet(() => {
            const set: Record<string, unknown> = {
              n: sql`event_rollups.n + excluded.n`,
              sum: sql`event_rollups.sum + excluded.sum`,
              max: sql`case when excluded.max > event_rollups.max then excluded.max else event_rollups.max end`,
              tw_sum: sql`event_rollups.tw_sum + excluded.tw_sum`,
              tw_ms: sql`event_rollups.tw_ms + excluded.tw_ms`,
            };
            if (hist)
              for (const c of HIST_COLUMNS)
                set[c] = sql`event_rollups.${sql.ref(c)} + excluded.${sql.ref(c)}`;
            return set as never;
          }),
        )
        .execute();
    }
  }
}
