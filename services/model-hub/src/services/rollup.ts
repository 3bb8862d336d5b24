import type { AnalyticsEvent, MetricBucket, MetricPoint, StoreMetric } from '@storevision/contracts';

/**
 * Rollups: what the hub keeps of store events for the dashboard, and the arithmetic on them. Pure
 * functions (no I/O), so the numbers are unit-tested against hand-computed values.
 *
 * Each event adds to one row per bucket size — minute and hour (UTC-aligned) and day (aligned to
 * the store-local midnight) — keyed by store, camera, subject (the zone or line) and metric. A row
 * holds `n` (observations), `sum`, `max` and, for dwell, a 12-bin histogram: all of them merge by
 * addition or max, so a late event from a backlog lands in the right buckets with one upsert, in
 * any order. The one exception: a level report arriving after the reports on both sides of it has
 * the `max` of the buckets it cut set again (see `levelDeltas`).
 *
 * What each event adds (ARCHITECTURE.md's metrics):
 * | event                       | metric                     | subject | n | sum             | max    |
 * |-----------------------------|----------------------------|---------|---|-----------------|--------|
 * | line_crossing in / out      | footfall_in / footfall_out | line    | 1 | 1               | 1      |
 * | occupancy                   | occupancy                  | zone    | 1 | count           | count  |
 * | zone_exit                   | dwell (seconds)            | zone    | 1 | dwell           | dwell  |
 * | queue                       | queue_length               | zone    | 1 | length          | length |
 * | queue with a wait estimate  | queue_wait (seconds)       | zone    | 1 | wait            | wait   |
 * | alert raised                | alerts                     | zone    | 1 | 1               | 1      |
 *
 * Occupancy and queue length are levels, reported on each change and at an interval (60 s and
 * 30 s by default), so a mean of the reports over-weights busy moments (many changes) and leaves
 * a bucket without a report empty although the level held through it. Their mean is the
 * time-weighted mean of the step function instead: each report's value holds from its time until
 * the next report of the same camera and zone, but at most `holdMs` (a camera that stopped
 * reporting does not hold its last count forever). Each row adds `wsum` (value × ms) and `wms`
 * (ms covered) for the part of every step segment inside its bucket, so a segment crossing a
 * bucket boundary is split at it. A late report splits the segment it falls in: the rows get the
 * difference (the earlier report's segment shortened, negative; the new one, positive), which
 * the same additive upsert folds in — see `levelDeltas`. `n` and `sum` still count the reports,
 * and `max` is the largest level seen in the bucket (a late report that shows it too high has it
 * set again: `levelMaxima`).
 */

/** Upper bounds (seconds) of the dwell histogram bins `h0`…`h10`; `h11` is everything above. */
export const DWELL_BOUNDS_SECONDS = [5, 10, 20, 30, 60, 120, 180, 300, 600, 1200, 1800] as const;
export const HISTOGRAM_BINS = DWELL_BOUNDS_SECONDS.length + 1;

export type RollupSize = '1m' | '1h' | '1d';
export const ROLLUP_SIZES: readonly RollupSize[] = ['1m', '1h', '1d'];

export interface RollupRow {
  storeId: string;
  cameraId: string;
  subject: string;
  metric: StoreMetric;
  bucket: RollupSize;
  /** Bucket start, ISO UTC. */
  start: string;
  n: number;
  sum: number;
  max: number;
  /** HISTOGRAM_BINS counts (all zero except for dwell). */
  h: number[];
  /** Levels (occupancy, queue length): Σ value × ms of the step function inside the bucket. */
  wsum: number;
  /** Levels: ms of the bucket the step function covers (the time-weighted mean is wsum / wms). */
  wms: number;
}

/** How long a level report holds without a newer one. @defaultValue 5 min (5× the occupancy interval) */
export const DEFAULT_LEVEL_HOLD_MS = 300_000;

/** One report of a level (occupancy or queue length): a point of the step function of one series. */
export interface LevelSample {
  storeId: string;
  cameraId: string;
  subject: string;
  metric: 'occupancy' | 'queue_length';
  /** Capture time, epoch ms. */
  t: number;
  value: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** How a metric combines across zones and over time (see `foldRows`). */
export type MetricKind = 'count' | 'level' | 'mean';
export const METRIC_KIND: Record<StoreMetric, MetricKind> = {
  footfall_in: 'count',
  footfall_out: 'count',
  alerts: 'count',
  occupancy: 'level',
  queue_length: 'level',
  dwell: 'mean',
  queue_wait: 'mean',
};

// Time zones ---------------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
const dayStarts = new Map<string, number>();

/** The wall-clock offset of `tz` at `ms`, in ms (local = UTC + offset). */
function tzOffset(ms: number, tz: string): number {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return local - Math.floor(ms / 1000) * 1000;
}

/**
 * The UTC instant of the store-local midnight starting the day `ms` falls in. Memoised per time
 * zone and hour (every event asks; `Intl` is slow).
 */
export function localDayStart(ms: number, tz: string): number {
  if (tz === 'UTC') return Math.floor(ms / 86_400_000) * 86_400_000;
  const hour = Math.floor(ms / HOUR) * HOUR;
  const key = `${tz}|${hour}`;
  const cached = dayStarts.get(key);
  // Valid when no midnight lies between it and ms: every day is at least 23 h long, so a start
  // less than 23 h before ms is the latest one (an hour may hold a midnight: UTC+5:30).
  if (cached !== undefined && ms >= cached && ms - cached < 23 * HOUR) return cached;
  const off = tzOffset(ms, tz);
  const local = ms + off;
  let start = Math.floor(local / 86_400_000) * 86_400_000 - off;
  // The offset at midnight may differ from the one now (DST changed today): correct once.
  const off2 = tzOffset(start, tz);
  if (off2 !== off) start = Math.floor(local / 86_400_000) * 86_400_000 - off2;
  if (start > ms) start -= 86_400_000; // cannot happen with real zones; keeps the invariant
  if (dayStarts.size > 100_000) dayStarts.clear();
  dayStarts.set(key, start);
  return start;
}

/** The store-local date (`YYYY-MM-DD`) of `ms`. */
export function localDate(ms: number, tz: string): string {
  return new Date(ms + tzOffset(ms, tz)).toISOString().slice(0, 10);
}

/** Start of the bucket of size `size` that `ms` falls in (day buckets: store-local). */
export function bucketStart(ms: number, size: MetricBucket, tz: string): number {
  switch (size) {
    case '1m':
      return Math.floor(ms / MINUTE) * MINUTE;
    case '5m':
      return Math.floor(ms / (5 * MINUTE)) * 5 * MINUTE;
    case '1h':
      return Math.floor(ms / HOUR) * HOUR;
    case '1d':
      return localDayStart(ms, tz);
  }
}

/** Bucket starts covering [from, to): from floored to its bucket. */
export function bucketStarts(from: number, to: number, size: MetricBucket, tz: string): number[] {
  const out: number[] = [];
  let t = bucketStart(from, size, tz);
  while (t < to) {
    out.push(t);
    // A day is 23–25 h long: 25 h on always lands in the next one.
    t = size === '1d' ? localDayStart(t + 25 * HOUR, tz) : t + stepMs(size);
  }
  return out;
}

function stepMs(size: Exclude<MetricBucket, '1d'>): number {
  return size === '1m' ? MINUTE : size === '5m' ? 5 * MINUTE : HOUR;
}

// Events → rollup rows ------------------------------------------------------------------------------

/** Which histogram bin a dwell falls in. */
export function dwellBin(seconds: number): number {
  const i = DWELL_BOUNDS_SECONDS.findIndex((b) => seconds <= b);
  return i === -1 ? HISTOGRAM_BINS - 1 : i;
}

interface Observation {
  metric: StoreMetric;
  subject: string;
  value: number;
  dwellBin?: number;
}

/**
 * Seconds to the nearest 1/1024 s (under 0.5 ms off). Such numbers add up exactly in a double, so
 * a bucket's sum — and the mean shown — is the same whatever batches its events arrived in (with
 * decimal seconds the order of the additions moved the last bit, and a mean on a rounding boundary
 * with it: the outage soak saw 2.087 vs 2.088).
 */
const dyadic = (seconds: number) => Math.round(seconds * 1024) / 1024;

/** What one event contributes (see the table above); nothing for zone_enter and cleared alerts. */
export function observations(e: AnalyticsEvent): Observation[] {
  switch (e.type) {
    case 'line_crossing':
      return [{ metric: e.direction === 'in' ? 'footfall_in' : 'footfall_out', subject: e.line, value: 1 }];
    case 'occupancy':
      return [{ metric: 'occupancy', subject: e.zone, value: e.count }];
    case 'zone_exit': {
      const s = e.dwellMs / 1000;
      return [{ metric: 'dwell', subject: e.zone, value: dyadic(s), dwellBin: dwellBin(s) }];
    }
    case 'queue': {
      const out: Observation[] = [{ metric: 'queue_length', subject: e.zone, value: e.length }];
      if (e.waitSeconds !== null)
        out.push({ metric: 'queue_wait', subject: e.zone, value: dyadic(e.waitSeconds) });
      return out;
    }
    case 'alert':
      return e.state === 'raised' ? [{ metric: 'alerts', subject: e.zone, value: 1 }] : [];
    case 'zone_enter':
      return [];
  }
}

/** Rollup rows being summed, keyed by their primary key. */
export class RowSet {
  readonly rows = new Map<string, RollupRow>();

  /** The row's key: series first (so a segment's rows share a prefix), then bucket size and start. */
  static key(k: Pick<RollupRow, 'storeId' | 'metric' | 'bucket' | 'start' | 'cameraId' | 'subject'>): string {
    return `${k.storeId}\u0000${k.metric}\u0000${k.cameraId}\u0000${k.subject}\u0000${k.bucket}\u0000${k.start}`;
  }

  get(
    k: Pick<RollupRow, 'storeId' | 'metric' | 'bucket' | 'start' | 'cameraId' | 'subject'>,
    key = RowSet.key(k),
  ): RollupRow {
    let r = this.rows.get(key);
    if (!r) {
      r = {
        storeId: k.storeId,
        metric: k.metric,
        bucket: k.bucket,
        start: k.start,
        cameraId: k.cameraId,
        subject: k.subject,
        ...emptyAcc(),
      };
      this.rows.set(key, r);
    }
    return r;
  }

  /**
   * In a stable order: concurrent upserts on PostgreSQL then lock rows in the same order (no
   * deadlock). A row that only lost time (a late report shortened a segment) has no max of its
   * own: 0 never raises a stored one (levels are never negative).
   */
  sorted(): RollupRow[] {
    return [...this.rows.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, r]) => (Number.isFinite(r.max) ? r : { ...r, max: 0 }));
  }
}

/**
 * The report rollups (n, sum, max, dwell histogram) a set of events adds, merged per row key (an
 * upsert statement may not touch one row twice). `timezone` gives each store's day boundary.
 * Levels' time weights come from `levelDeltas`.
 */
export function reportDeltas(
  events: AnalyticsEvent[],
  timezone: (storeId: string) => string,
  into = new RowSet(),
): RollupRow[] {
  for (const e of events) {
    const obs = observations(e);
    if (obs.length === 0) continue;
    const ms = Date.parse(e.time);
    const tz = timezone(e.storeId);
    for (const size of ROLLUP_SIZES) {
      const start = new Date(bucketStart(ms, size, tz)).toISOString();
      for (const o of obs) {
        const r = into.get({
          storeId: e.storeId,
          metric: o.metric,
          bucket: size,
          start,
          cameraId: e.cameraId,
          subject: o.subject,
        });
        r.n += 1;
        r.sum += o.value;
        if (o.value > r.max) r.max = o.value;
        if (o.dwellBin !== undefined) r.h[o.dwellBin]! += 1;
      }
    }
  }
  return into.sorted();
}

/** The level reports among `events`: the points of the occupancy and queue-length step functions. */
export function levelSamples(events: AnalyticsEvent[]): LevelSample[] {
  const out: LevelSample[] = [];
  for (const e of events) {
    if (e.type !== 'occupancy' && e.type !== 'queue') continue;
    out.push({
      storeId: e.storeId,
      cameraId: e.cameraId,
      subject: e.zone,
      metric: e.type === 'occupancy' ? 'occupancy' : 'queue_length',
      t: Date.parse(e.time),
      value: e.type === 'occupancy' ? e.count : e.length,
    });
  }
  return out;
}

/** The series (step function) a sample belongs to. */
export const seriesKey = (s: Pick<LevelSample, 'storeId' | 'metric' | 'cameraId' | 'subject'>) =>
  `${s.storeId}\u0000${s.metric}\u0000${s.cameraId}\u0000${s.subject}`;

/**
 * The stored samples `levelDeltas` needs to see for `added`: per series, every sample within
 * `holdMs` of an added one (ranges that overlap are merged). A segment depends only on its own
 * report and the next one within `holdMs`, so a report can only shorten the segment of a report
 * at most `holdMs` before it, whose next report is at most `holdMs` after that one.
 */
export function levelWindows(
  added: readonly LevelSample[],
  holdMs: number,
): Array<{ series: LevelSample; from: number; to: number }> {
  const bySeries = new Map<string, LevelSample[]>();
  for (const s of added) getOrSet(bySeries, seriesKey(s), () => []).push(s);
  const out: Array<{ series: LevelSample; from: number; to: number }> = [];
  for (const list of bySeries.values()) {
    const times = list.map((s) => s.t).sort((a, b) => a - b);
    let from = times[0]! - holdMs;
    let to = times[0]! + holdMs;
    for (const t of times.slice(1)) {
      if (t - holdMs <= to) to = t + holdMs;
      else {
        out.push({ series: list[0]!, from, to });
        from = t - holdMs;
        to = t + holdMs;
      }
    }
    out.push({ series: list[0]!, from, to });
  }
  return out;
}

/**
 * The time weights (`wsum`, `wms`, and `max`) that adding the reports `added` to the step
 * functions changes, given the reports already stored near them (`existing`: at least those of
 * `levelWindows(added)`, more is harmless). Each report holds until the next report of its series
 * but at most `holdMs`; a segment is split at bucket boundaries. A report at a time its series
 * already has is ignored (the first one stored wins), as is a repeat within `added`.
 *
 * Applying the deltas of batches one after another, in any order, gives the time weights of all
 * reports at once (`rollup.test.ts` checks this against random late arrivals).
 *
 * `max` is upserted with the greater of the two, so it is raised only where a level is known for
 * good: in the report's own bucket, and over a segment that a later report ended (inside
 * `holdMs`) — never over the part of a segment that is only held, which a later report may still
 * cut short. Reports that arrive in time order per series, in any batches, give the maxima of all
 * reports at once. A report arriving after a later one of its series can cut a segment that was
 * already ended, and the buckets of the part cut off keep that segment's level as their max: such
 * spans go to `maxSpans`, and the caller sets those buckets' max to what `levelMaxima` computes
 * from the stored reports (the hours and days around them to the max of their minutes). With it,
 * any order and batching gives the maxima of all reports at once (checked in `rollup.test.ts`).
 * An edge's upload after an outage does arrive out of order: each batch carries the newest events
 * too, so the backlog sent oldest first meets them in the middle.
 */
export function levelDeltas(opts: {
  existing: readonly LevelSample[];
  added: readonly LevelSample[];
  holdMs: number;
  timezone: (storeId: string) => string;
  into?: RowSet;
  /** Receives the spans whose bucket maxima are too high now (see above). */
  maxSpans?: LevelSpan[];
}): RollupRow[] {
  const { holdMs } = opts;
  const rows = opts.into ?? new RowSet();
  const old = new Map<string, Map<number, LevelSample>>();
  for (const s of opts.existing) getOrSet(old, seriesKey(s), () => new Map()).set(s.t, s);
  const fresh = new Map<string, Map<number, LevelSample>>();
  for (const s of opts.added) {
    const key = seriesKey(s);
    if (old.get(key)?.has(s.t)) continue;
    const m = getOrSet(fresh, key, () => new Map());
    if (!m.has(s.t)) m.set(s.t, s);
  }
  for (const [key, added] of fresh) {
    const before = [...(old.get(key)?.values() ?? [])].sort((a, b) => a.t - b.t);
    const after = [...before, ...added.values()].sort((a, b) => a.t - b.t);
    const tz = opts.timezone(after[0]!.storeId);
    const endsBefore = new Map<number, number>();
    const endedBefore = new Set<number>();
    before.forEach((s, i) => {
      const next = before[i + 1]?.t;
      endsBefore.set(s.t, Math.min(next ?? Number.POSITIVE_INFINITY, s.t + holdMs));
      if (next !== undefined && next < s.t + holdMs) endedBefore.add(s.t);
    });
    after.forEach((s, i) => {
      const next = after[i + 1]?.t;
      const end = Math.min(next ?? Number.POSITIVE_INFINITY, s.t + holdMs);
      // Ended by a later report, not by the hold: the segment is final.
      const ended = next !== undefined && next < s.t + holdMs;
      const was = endsBefore.get(s.t);
      if (was === undefined) {
        addSegment(rows, s, s.t, end, 1, tz);
        raiseMax(rows, s, s.t, ended ? end : s.t + 1, tz);
      } else if (end !== was) {
        addSegment(rows, s, end, was, -1, tz); // shortened by a new report
        if (ended) raiseMax(rows, s, s.t, end, tz);
        // Its level was raised over [end, was) before, and may be above what is there now.
        if (endedBefore.has(s.t) && s.value > 0) opts.maxSpans?.push({ series: s, from: end, to: was });
      }
    });
  }
  return rows.sorted();
}

/** A time span [from, to) of one series (a late report cut a segment there: see `levelDeltas`). */
export interface LevelSpan {
  series: Pick<LevelSample, 'storeId' | 'metric' | 'cameraId' | 'subject'>;
  from: number;
  to: number;
}

/**
 * The stored reports `levelMaxima` needs for `spans`: per span, its series' reports from `holdMs`
 * before the first minute it touches to `holdMs` after the last (a segment reaching a minute starts
 * at most `holdMs` before it, and a report's next one ends it only within `holdMs`).
 */
export function maxWindows(spans: readonly LevelSpan[], holdMs: number): LevelSpan[] {
  return spans.map((s) => ({
    series: s.series,
    from: bucketStart(s.from, '1m', 'UTC') - holdMs,
    to: bucketStart(s.to - 1, '1m', 'UTC') + MINUTE + holdMs,
  }));
}

/**
 * The exact `max` of every minute bucket that `spans` touch, from the reports of their series
 * (`samples`: at least those of `maxWindows(spans)`): the largest level reported in the minute or
 * held into it by a segment a later report ended — what `levelDeltas` gives the minute when all
 * reports arrive at once. A minute that no report reaches gets 0.
 */
export function levelMaxima(
  samples: readonly LevelSample[],
  spans: readonly LevelSpan[],
  holdMs: number,
): Array<{ series: LevelSpan['series']; start: number; max: number }> {
  const minutes = new Map<string, Map<number, number>>();
  const seriesOf = new Map<string, LevelSpan['series']>();
  for (const span of spans) {
    const key = seriesKey(span.series);
    seriesOf.set(key, span.series);
    const m = getOrSet(minutes, key, () => new Map());
    for (let t = bucketStart(span.from, '1m', 'UTC'); t < span.to; t += MINUTE) m.set(t, 0);
  }
  const bySeries = new Map<string, LevelSample[]>();
  for (const s of samples) if (minutes.has(seriesKey(s))) getOrSet(bySeries, seriesKey(s), () => []).push(s);
  for (const [key, list] of bySeries) {
    const m = minutes.get(key)!;
    const raise = (minute: number, value: number) => {
      const v = m.get(minute);
      if (v !== undefined && value > v) m.set(minute, value);
    };
    list.sort((a, b) => a.t - b.t);
    list.forEach((s, i) => {
      raise(bucketStart(s.t, '1m', 'UTC'), s.value);
      const next = list[i + 1]?.t;
      if (next === undefined || next >= s.t + holdMs) return;
      for (let t = bucketStart(s.t, '1m', 'UTC'); t < next; t += MINUTE) raise(t, s.value);
    });
  }
  const out: Array<{ series: LevelSpan['series']; start: number; max: number }> = [];
  for (const [key, m] of minutes)
    for (const [start, max] of m) out.push({ series: seriesOf.get(key)!, start, max });
  return out;
}

/** Adds (sign 1) or removes (sign -1) the level `s.value` over [from, to) to every bucket size. */
function addSegment(rows: RowSet, s: LevelSample, from: number, to: number, sign: 1 | -1, tz: string) {
  forEachBucket(rows, s, from, to, tz, (r, ms) => {
    r.wsum += sign * s.value * ms;
    r.wms += sign * ms;
  });
}

/** Raises the `max` of every bucket that [from, to) touches to the level `s.value`. */
function raiseMax(rows: RowSet, s: LevelSample, from: number, to: number, tz: string) {
  forEachBucket(rows, s, from, to, tz, (r) => {
    if (s.value > r.max) r.max = s.value;
  });
}

/** The row of each bucket (every size) that [from, to) of `s`'s series touches, with the ms inside it. */
function forEachBucket(
  rows: RowSet,
  s: LevelSample,
  from: number,
  to: number,
  tz: string,
  f: (r: RollupRow, ms: number) => void,
) {
  if (!(to > from)) return;
  // Every row of a segment is of one series: build its part of the key once.
  const prefix = `${s.storeId}\u0000${s.metric}\u0000${s.cameraId}\u0000${s.subject}\u0000`;
  for (const size of ROLLUP_SIZES) {
    let start = bucketStart(from, size, tz);
    while (start < to) {
      const next = size === '1d' ? localDayStart(start + 25 * HOUR, tz) : start + stepMs(size);
      const iso = new Date(start).toISOString();
      const r = rows.get(
        {
          storeId: s.storeId,
          metric: s.metric,
          bucket: size,
          start: iso,
          cameraId: s.cameraId,
          subject: s.subject,
        },
        `${prefix}${size}\u0000${iso}`,
      );
      f(r, Math.min(to, next) - Math.max(from, start));
      start = next;
    }
  }
}

/** Rows of several lists summed per key (one upsert statement may not touch a row twice). */
export function mergeRows(...lists: RollupRow[][]): RollupRow[] {
  const rows = new RowSet();
  for (const list of lists)
    for (const r of list) {
      const m = rows.get(r);
      m.n += r.n;
      m.sum += r.sum;
      if (r.max > m.max) m.max = r.max;
      for (let i = 0; i < HISTOGRAM_BINS; i++) m.h[i]! += r.h[i] ?? 0;
      m.wsum += r.wsum;
      m.wms += r.wms;
    }
  return rows.sorted();
}

/**
 * Every rollup row of a set of events, from nothing: reports and time weights of all their
 * levels (a level's step function then sees only these events). The hub's incremental ingest must
 * arrive at the same rows; tests use this as the ground truth.
 */
export function rollupDeltas(
  events: AnalyticsEvent[],
  timezone: (storeId: string) => string,
  holdMs = DEFAULT_LEVEL_HOLD_MS,
): RollupRow[] {
  const rows = new RowSet();
  reportDeltas(events, timezone, rows);
  return levelDeltas({ existing: [], added: levelSamples(events), holdMs, timezone, into: rows });
}

// Percentiles ---------------------------------------------------------------------------------------

/**
 * The q-quantile of a histogram, as Prometheus' `histogram_quantile` estimates it: find the bin
 * holding rank q·n and interpolate linearly inside it (from 0 for the first); never above the
 * largest value observed (which also bounds the open last bin).
 */
export function histogramQuantile(h: readonly number[], q: number, max: number): number | null {
  const n = h.reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  const rank = q * n;
  let cum = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h[i]!;
    if (c > 0 && cum + c >= rank) {
      const lower = i === 0 ? 0 : DWELL_BOUNDS_SECONDS[i - 1]!;
      const upper = i < DWELL_BOUNDS_SECONDS.length ? DWELL_BOUNDS_SECONDS[i]! : max;
      return Math.min(max, lower + (upper - lower) * ((rank - cum) / c));
    }
    cum += c;
  }
  return max;
}

// Rows → series ------------------------------------------------------------------------------------

interface Acc {
  n: number;
  sum: number;
  max: number;
  h: number[];
  wsum: number;
  wms: number;
}

const emptyAcc = (): Acc => ({
  n: 0,
  sum: 0,
  max: Number.NEGATIVE_INFINITY,
  h: new Array(HISTOGRAM_BINS).fill(0),
  wsum: 0,
  wms: 0,
});

function addAcc(
  a: Acc,
  r: { n: number; sum: number; max: number; h: readonly number[]; wsum?: number; wms?: number },
): void {
  a.n += r.n;
  a.sum += r.sum;
  if (r.max > a.max) a.max = r.max;
  for (let i = 0; i < HISTOGRAM_BINS; i++) a.h[i]! += r.h[i] ?? 0;
  a.wsum += r.wsum ?? 0;
  a.wms += r.wms ?? 0;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/**
 * One point from the accumulators of the series (camera × subject) that fall in a bucket:
 * - count metrics: the sum of counts;
 * - level metrics (occupancy, queue length): the sum over series of each series' time-weighted
 *   mean over the time its step function covers, so the store's occupancy is the people in all
 *   its zones; `max` sums the series' maxima (an upper bound); `n` counts reports. Rows written
 *   before time weights existed (`wms` 0) fall back to the mean of their reports;
 * - mean metrics (dwell, queue wait): observation-weighted mean, overall max, p50/p90 (dwell).
 */
function toPoint(t: string, metric: StoreMetric, accs: Iterable<Acc>): MetricPoint {
  const kind = METRIC_KIND[metric];
  let n = 0;
  if (kind === 'count') {
    let sum = 0;
    for (const a of accs) {
      n += a.n;
      sum += a.sum;
    }
    return { t, value: sum, n };
  }
  if (kind === 'level') {
    let value = 0;
    let max = 0;
    let covered = false;
    for (const a of accs) {
      // A millisecond of rounding slack: shortened segments subtract exactly, but be safe.
      const mean = a.wms > 0.5 ? a.wsum / a.wms : a.n > 0 ? a.sum / a.n : undefined;
      if (mean === undefined) continue;
      covered = true;
      n += a.n;
      value += mean;
      max += Number.isFinite(a.max) ? a.max : 0;
    }
    return covered ? { t, value: round(value), n, max: round(max) } : { t, value: null, n: 0, max: null };
  }
  const all = emptyAcc();
  for (const a of accs) addAcc(all, a);
  if (all.n === 0)
    return { t, value: null, n: 0, max: null, ...(metric === 'dwell' ? { p50: null, p90: null } : {}) };
  const point: MetricPoint = { t, value: round(all.sum / all.n), n: all.n, max: round(all.max) };
  if (metric === 'dwell') {
    point.p50 = round(histogramQuantile(all.h, 0.5, all.max)!);
    point.p90 = round(histogramQuantile(all.h, 0.9, all.max)!);
  }
  return point;
}

export interface FoldInput {
  metric: StoreMetric;
  /** Output bucket starts (ms, ascending) and the end of the last one. */
  starts: number[];
  end: number;
  rows: Iterable<
    Pick<RollupRow, 'cameraId' | 'subject' | 'start' | 'n' | 'sum' | 'max' | 'h'> &
      Partial<Pick<RollupRow, 'wsum' | 'wms'>>
  >;
}

export interface Folded {
  points: MetricPoint[];
  byKey: Record<string, MetricPoint[]>;
  total: MetricPoint;
}

/**
 * Folds stored rollup rows (of a finer or equal size) into the output buckets: per bucket and
 * series first, then across series with `toPoint`. Rows outside [starts[0], end) are ignored.
 */
export function foldRows({ metric, starts, end, rows }: FoldInput): Folded {
  const nb = starts.length;
  // bucket index → series key → acc; series key is camera + subject, byKey groups by subject.
  const perBucket: Array<Map<string, Acc>> = starts.map(() => new Map());
  const subjects = new Map<string, Set<string>>();
  const totals = new Map<string, Acc>();
  for (const r of rows) {
    const ms = Date.parse(r.start);
    if (nb === 0 || ms < starts[0]! || ms >= end) continue;
    const i = upperBound(starts, ms) - 1;
    const series = `${r.cameraId}\u0000${r.subject}`;
    addAcc(getOrSet(perBucket[i]!, series, emptyAcc), r);
    addAcc(getOrSet(totals, series, emptyAcc), r);
    getOrSet(subjects, r.subject, () => new Set<string>()).add(series);
  }
  const iso = starts.map((t) => new Date(t).toISOString());
  const points = perBucket.map((m, i) => toPoint(iso[i]!, metric, m.values()));
  const byKey: Record<string, MetricPoint[]> = {};
  for (const [subject, series] of [...subjects].sort(([a], [b]) => a.localeCompare(b))) {
    byKey[subject] = perBucket.map((m, i) =>
      toPoint(
        iso[i]!,
        metric,
        [...series].map((k) => m.get(k) ?? emptyAcc()),
      ),
    );
  }
  const total = toPoint(iso[0] ?? new Date(end).toISOString(), metric, totals.values());
  return { points, byKey, total };
}

export function getOrSet<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** First index whose value is > x. */
function upperBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
