import { describe, expect, it } from 'vitest';
import { eventFactory } from '../testing/store-events.ts';
import {
  bucketStart,
  bucketStarts,
  dwellBin,
  foldRows,
  histogramQuantile,
  type LevelSample,
  type LevelSpan,
  levelDeltas,
  levelMaxima,
  levelWindows,
  localDate,
  localDayStart,
  maxWindows,
  type RollupRow,
  rollupDeltas,
} from './rollup.ts';

const iso = (s: string) => Date.parse(s);

describe('store-local days', () => {
  it('start at the local midnight, as a UTC instant', () => {
    // Shanghai is UTC+8 all year: 2025-03-10 01:00Z is 09:00 local on the 10th.
    expect(new Date(localDayStart(iso('2025-03-10T01:00:00Z'), 'Asia/Shanghai')).toISOString()).toBe(
      '2025-03-09T16:00:00.000Z',
    );
    expect(new Date(localDayStart(iso('2025-03-10T16:30:00Z'), 'Asia/Shanghai')).toISOString()).toBe(
      '2025-03-10T16:00:00.000Z',
    );
    expect(localDate(iso('2025-03-10T16:30:00Z'), 'Asia/Shanghai')).toBe('2025-03-11');
    // Half-hour offset: Kolkata is UTC+5:30, a midnight inside a UTC hour (memo must not cross it).
    expect(new Date(localDayStart(iso('2025-03-10T18:10:00Z'), 'Asia/Kolkata')).toISOString()).toBe(
      '2025-03-09T18:30:00.000Z',
    );
    expect(new Date(localDayStart(iso('2025-03-10T18:40:00Z'), 'Asia/Kolkata')).toISOString()).toBe(
      '2025-03-10T18:30:00.000Z',
    );
    expect(new Date(localDayStart(iso('2025-03-10T18:20:00Z'), 'Asia/Kolkata')).toISOString()).toBe(
      '2025-03-09T18:30:00.000Z',
    );
  });

  it('are 23 and 25 hours long across daylight saving changes (Berlin)', () => {
    const days = bucketStarts(
      iso('2025-03-29T12:00:00Z'),
      iso('2025-03-31T12:00:00Z'),
      '1d',
      'Europe/Berlin',
    );
    expect(days.map((d) => new Date(d).toISOString())).toEqual([
      '2025-03-28T23:00:00.000Z',
      '2025-03-29T23:00:00.000Z', // the 30th: 23 h long
      '2025-03-30T22:00:00.000Z',
    ]);
    const autumn = bucketStarts(
      iso('2025-10-26T00:00:00Z'),
      iso('2025-10-27T12:00:00Z'),
      '1d',
      'Europe/Berlin',
    );
    expect(autumn.map((d) => new Date(d).toISOString())).toEqual([
      '2025-10-25T22:00:00.000Z',
      '2025-10-26T23:00:00.000Z', // after a 25 h day
    ]);
  });
});

describe('dwell histogram', () => {
  it('bins by upper bound and estimates quantiles like histogram_quantile', () => {
    expect([4, 5, 5.1, 12, 25, 40, 70, 400, 5000].map(dwellBin)).toEqual([0, 0, 1, 2, 3, 4, 5, 8, 11]);
    // 12, 25, 40, 70, 400 s: one each in (10,20] (20,30] (30,60] (60,120] (300,600].
    const h = [0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0];
    // p50: rank 2.5 falls in (30,60] holding the 3rd: 30 + 30 × 0.5 / 1 = 45.
    expect(histogramQuantile(h, 0.5, 400)).toBe(45);
    // p90: rank 4.5 in (300,600]: 300 + 300 × 0.5 = 450, but never above the max seen: 400.
    expect(histogramQuantile(h, 0.9, 400)).toBe(400);
    expect(histogramQuantile(new Array(12).fill(0), 0.5, 0)).toBeNull();
  });
});

describe('rollups from events', () => {
  const ev = eventFactory({ storeId: 's1' });
  const events = [
    ev.crossing('2025-03-10T01:05:10Z', 'door', 'in'),
    ev.crossing('2025-03-10T01:20:00Z', 'door', 'in'),
    ev.crossing('2025-03-10T01:30:00Z', 'door', 'out'),
    ev.crossing('2025-03-10T02:00:00Z', 'door', 'in'),
    ev.occupancy('2025-03-10T01:00:00Z', 'shelf-1', 2),
    ev.occupancy('2025-03-10T01:00:30Z', 'shelf-1', 4),
    ev.occupancy('2025-03-10T01:10:00Z', 'shelf-1', 3),
    ev.occupancy('2025-03-10T01:00:00Z', 'shelf-2', 1),
    ...[12, 25, 40, 70, 400].map((s, i) => ev.exit(`2025-03-10T01:0${2 + i}:00Z`, 'shelf-1', s)),
    ev.enter('2025-03-10T01:01:00Z', 'shelf-1'),
    ev.alert('2025-03-10T01:15:00Z', 'shelf-1', 'raised'),
    ev.alert('2025-03-10T01:16:00Z', 'shelf-1', 'cleared'),
  ];
  const rows = rollupDeltas(events, () => 'Asia/Shanghai');
  const fold = (metric: Parameters<typeof foldRows>[0]['metric'], size: '1m' | '1h', bucket: '5m' | '1h') =>
    foldRows({
      metric,
      starts: bucketStarts(iso('2025-03-10T00:00:00Z'), iso('2025-03-10T03:00:00Z'), bucket, 'UTC'),
      end: iso('2025-03-10T03:00:00Z'),
      rows: rows.filter((r) => r.metric === metric && r.bucket === size),
    });

  it('writes one row per bucket size, day rows at the store-local midnight', () => {
    const alerts = rows.filter((r) => r.metric === 'alerts');
    expect(alerts.map((r) => [r.bucket, r.start, r.n])).toEqual([
      ['1d', '2025-03-09T16:00:00.000Z', 1],
      ['1h', '2025-03-10T01:00:00.000Z', 1],
      ['1m', '2025-03-10T01:15:00.000Z', 1],
    ]);
    // zone_enter and a cleared alert add nothing.
    expect(rows.filter((r) => r.bucket === '1d').map((r) => r.metric)).toEqual([
      'alerts',
      'dwell',
      'footfall_in',
      'footfall_out',
      'occupancy',
      'occupancy',
    ]);
  });

  it('sums footfall, time-weights occupancy per zone and sums zones', () => {
    expect(fold('footfall_in', '1h', '1h').points.map((p) => p.value)).toEqual([0, 2, 1]);
    expect(fold('footfall_in', '1h', '1h').total.value).toBe(3);
    const occ = fold('occupancy', '1h', '1h');
    // Each report holds until the next one, at most 5 min. shelf-1: 2 for 30 s (01:00:00–01:00:30),
    // 4 for 300 s (to 01:05:30, not to 01:10: the hold ends first), 3 for 300 s (01:10–01:15):
    // (2·30 + 4·300 + 3·300) / 630 = 3.429 — the mean of the reports would say (2+4+3)/3 = 3.
    // shelf-2: 1 (01:00–01:05). The store: 3.429 + 1, max 4 + 1; n counts the reports.
    expect(occ.points[1]).toMatchObject({ value: 4.429, n: 4, max: 5 });
    expect(occ.points[0]).toMatchObject({ value: null, n: 0 });
    expect(occ.byKey['shelf-1']![1]).toMatchObject({ value: 3.429, max: 4 });
    expect(occ.byKey['shelf-2']![1]).toMatchObject({ value: 1, max: 1 });
    const occ5 = fold('occupancy', '1m', '5m');
    // 01:00–01:05: shelf-1 (2·30 + 4·270) / 300 = 3.8, shelf-2 1 → 4.8 (reports: (2+4)/2 + 1 = 4).
    // 01:05–01:10: no report, but shelf-1's 4 holds until 01:05:30 → 4 (reports: empty).
    // 01:10–01:15: shelf-1 alone, 3.
    expect(occ5.points.slice(12, 15).map((p) => [p.t, p.value, p.n])).toEqual([
      ['2025-03-10T01:00:00.000Z', 4.8, 3],
      ['2025-03-10T01:05:00.000Z', 4, 0],
      ['2025-03-10T01:10:00.000Z', 3, 1],
    ]);
    expect(occ5.points[15]).toMatchObject({ value: null, n: 0 });
  });

  it('splits a level across hour and store-local day boundaries', () => {
    // 23:58 in Shanghai (15:58 UTC): 6 people, no report after. It holds 5 minutes: 2 in the old
    // day and hour, 3 in the new ones. Its max counts only in its own bucket: a held level may still
    // be cut short by the next report, which (arriving in time order) does not lower a stored max.
    const late = rollupDeltas([ev.occupancy('2025-03-10T15:58:00Z', 'fresh', 6)], () => 'Asia/Shanghai');
    const w = (bucket: string) =>
      late.filter((r) => r.bucket === bucket).map((r) => [r.start, r.wsum / 60_000, r.wms / 60_000, r.max]);
    expect(w('1d')).toEqual([
      ['2025-03-09T16:00:00.000Z', 12, 2, 6],
      ['2025-03-10T16:00:00.000Z', 18, 3, 0],
    ]);
    expect(w('1h')).toEqual([
      ['2025-03-10T15:00:00.000Z', 12, 2, 6],
      ['2025-03-10T16:00:00.000Z', 18, 3, 0],
    ]);
    expect(w('1m').map(([start]) => start)).toEqual([
      '2025-03-10T15:58:00.000Z',
      '2025-03-10T15:59:00.000Z',
      '2025-03-10T16:00:00.000Z',
      '2025-03-10T16:01:00.000Z',
      '2025-03-10T16:02:00.000Z',
    ]);
    // The report counts once (n) in the bucket it was made in; the new day has time but no report.
    expect(late.filter((r) => r.bucket === '1d').map((r) => r.n)).toEqual([1, 0]);
  });

  it('places a late report between the ones around it (the earlier segment shrinks)', () => {
    const tz = () => 'UTC';
    const at = (s: string) => Date.parse(`2025-03-10T${s}Z`);
    const sample = (t: string, value: number): LevelSample => ({
      storeId: 's1',
      cameraId: 'cam-a',
      subject: 'checkout',
      metric: 'queue_length',
      t: at(t),
      value,
    });
    const first = [sample('01:00:00', 2), sample('01:10:00', 3)];
    const late = [sample('01:02:00', 5)];
    const a = levelDeltas({ existing: [], added: first, holdMs: 300_000, timezone: tz });
    const b = levelDeltas({ existing: first, added: late, holdMs: 300_000, timezone: tz });
    const hour = (rows: RollupRow[]) => rows.find((r) => r.bucket === '1h')!;
    // Before: 2 × 300 s + 3 × 300 s. The late 5 at 01:02 cuts 2's segment to 120 s (−2 × 180 s)
    // and holds itself 300 s (to 01:07, before 01:10's report).
    expect([hour(a).wsum / 1000, hour(a).wms / 1000]).toEqual([1500, 600]);
    expect([hour(b).wsum / 1000, hour(b).wms / 1000]).toEqual([-360 + 1500, -180 + 300]);
    // Together they are the step function of all three: (2·120 + 5·300 + 3·300) / 720 s.
    const all = levelDeltas({ existing: [], added: [...first, ...late], holdMs: 300_000, timezone: tz });
    expect(hour(a).wsum + hour(b).wsum).toBe(hour(all).wsum);
    expect(hour(a).wms + hour(b).wms).toBe(hour(all).wms);
    expect(hour(all).wsum / hour(all).wms).toBeCloseTo((2 * 120 + 5 * 300 + 3 * 300) / 720, 9);
    // A report repeating a stored time changes nothing.
    expect(
      levelDeltas({ existing: first, added: [sample('01:10:00', 9)], holdMs: 300_000, timezone: tz }),
    ).toEqual([]);
  });

  it('gives the same time weights whatever order and batches the reports arrive in', () => {
    const rand = seededRandom(7);
    const holdMs = 300_000;
    const tz = () => 'Asia/Kolkata'; // a half-hour offset: day boundaries inside UTC hours
    for (let round = 0; round < 20; round++) {
      const samples: LevelSample[] = [];
      for (let i = 0; i < 120; i++) {
        const s: LevelSample = {
          storeId: 's1',
          cameraId: rand() < 0.5 ? 'cam-a' : 'cam-b',
          subject: rand() < 0.5 ? 'z1' : 'z2',
          metric: 'occupancy',
          // Two hours around the store-local midnight (18:30 UTC), to the second.
          t: Date.parse('2025-03-10T17:30:00Z') + Math.floor(rand() * 7200) * 1000,
          value: Math.floor(rand() * 9),
        };
        // One report per series and time (a repeat is ignored, whichever arrives first wins).
        if (!samples.some((x) => x.cameraId === s.cameraId && x.subject === s.subject && x.t === s.t))
          samples.push(s);
      }
      const truth = levelDeltas({ existing: [], added: samples, holdMs, timezone: tz });
      // Shuffled, cut into batches, each given only the stored reports of its windows.
      const shuffled = [...samples].sort(() => rand() - 0.5);
      const stored: LevelSample[] = [];
      const sums = new Map<string, { wsum: number; wms: number }>();
      for (let i = 0; i < shuffled.length; ) {
        const size = 1 + Math.floor(rand() * 8);
        const batch = shuffled.slice(i, i + size);
        i += size;
        const windows = levelWindows(batch, holdMs);
        const existing = stored.filter((s) =>
          windows.some(
            (w) =>
              w.series.cameraId === s.cameraId &&
              w.series.subject === s.subject &&
              s.t >= w.from &&
              s.t <= w.to,
          ),
        );
        for (const r of levelDeltas({ existing, added: batch, holdMs, timezone: tz })) {
          const key = `${r.bucket}|${r.start}|${r.cameraId}|${r.subject}`;
          const acc = sums.get(key) ?? { wsum: 0, wms: 0 };
          acc.wsum += r.wsum;
          acc.wms += r.wms;
          sums.set(key, acc);
        }
        for (const s of batch)
          if (!stored.some((x) => x.cameraId === s.cameraId && x.subject === s.subject && x.t === s.t))
            stored.push(s);
      }
      const got = [...sums]
        .filter(([, v]) => v.wms !== 0 || v.wsum !== 0)
        .sort(([a], [b]) => a.localeCompare(b));
      const want = truth
        .map(
          (r) => [`${r.bucket}|${r.start}|${r.cameraId}|${r.subject}`, { wsum: r.wsum, wms: r.wms }] as const,
        )
        .sort(([a], [b]) => a.localeCompare(b));
      expect(got, `round ${round}`).toEqual(want);
    }
  });

  it('gives the same maxima whatever order and batches reports arrive in', () => {
    // The outage soaks' findings: a report held for 5 min raised the max of the next buckets, and the
    // next report, arriving in a later upload, could not lower it again (fixed by raising only where
    // a level is final); and a report arriving after the reports on both sides of it (an edge's
    // upload after an outage sends the newest events with the oldest) left the max of the segment
    // it cut (fixed by `maxSpans` + `levelMaxima`, which the hub applies as emulated here).
    const rand = seededRandom(11);
    const holdMs = 300_000;
    const tz = () => 'Asia/Kolkata'; // a half-hour offset: day boundaries inside UTC hours
    const HOUR = 3_600_000;
    let corrected = 0;
    for (let round = 0; round < 30; round++) {
      const samples: LevelSample[] = [];
      let t = Date.parse('2025-03-10T17:00:00Z');
      for (let i = 0; i < 80; i++) {
        // Gaps of 1 s to 8 min: some reports are held to the end, most are cut by the next one.
        t += 1000 * (1 + Math.floor(rand() * (rand() < 0.9 ? 60 : 480)));
        samples.push({
          storeId: 's1',
          cameraId: 'cam-a',
          subject: 'z1',
          metric: 'occupancy',
          t,
          value: Math.floor(rand() * 9),
        });
      }
      const key = (r: Pick<RollupRow, 'bucket' | 'start'>) => `${r.bucket}|${r.start}`;
      const want = new Map<string, number>();
      for (const r of levelDeltas({ existing: [], added: samples, holdMs, timezone: tz }))
        want.set(key(r), Math.max(want.get(key(r)) ?? 0, r.max));
      // Half the rounds in time order, half shuffled; cut into batches.
      const order = round % 2 === 0 ? samples : [...samples].sort(() => rand() - 0.5);
      const got = new Map<string, number>();
      const stored: LevelSample[] = [];
      const inWindows = (windows: Array<{ from: number; to: number }>) =>
        stored.filter((s) => windows.some((w) => s.t >= w.from && s.t <= w.to));
      for (let i = 0; i < order.length; ) {
        const batch = order.slice(i, i + 1 + Math.floor(rand() * 6));
        i += batch.length;
        const maxSpans: LevelSpan[] = [];
        const existing = inWindows(levelWindows(batch, holdMs));
        for (const r of levelDeltas({ existing, added: batch, holdMs, timezone: tz, maxSpans }))
          got.set(key(r), Math.max(got.get(key(r)) ?? 0, r.max)); // the upsert: the greater max
        stored.push(...batch);
        // The hub's correction: the minutes from the stored reports, hours and days from their minutes.
        const minuteMax = (from: number, to: number) => {
          let m = 0;
          for (const [k, v] of got) {
            const [bucket, start] = k.split('|') as [string, string];
            const at = Date.parse(start);
            if (bucket === '1m' && at >= from && at < to) m = Math.max(m, v);
          }
          return m;
        };
        for (const m of levelMaxima(inWindows(maxWindows(maxSpans, holdMs)), maxSpans, holdMs)) {
          corrected++;
          got.set(key({ bucket: '1m', start: new Date(m.start).toISOString() }), m.max);
          const hour = bucketStart(m.start, '1h', tz());
          const day = bucketStart(m.start, '1d', tz());
          got.set(key({ bucket: '1h', start: new Date(hour).toISOString() }), minuteMax(hour, hour + HOUR));
          got.set(
            key({ bucket: '1d', start: new Date(day).toISOString() }),
            minuteMax(day, bucketStart(day + 25 * HOUR, '1d', tz())),
          );
        }
      }
      const nonzero = (m: Map<string, number>) => [...m].filter(([, v]) => v > 0).sort();
      expect(nonzero(got), `round ${round}`).toEqual(nonzero(want));
    }
    // The shuffled rounds did need the correction.
    expect(corrected).toBeGreaterThan(20);
  });

  it('sums dwell and queue wait exactly, whatever batches the events arrive in', () => {
    const exits = [100, 200, 300].map((ms, i) =>
      ev.exit(`2025-03-10T05:00:${String(10 + i).padStart(2, '0')}Z`, 'shelf-9', ms / 1000),
    );
    const sumOf = (rows: RollupRow[]) =>
      rows.filter((r) => r.metric === 'dwell' && r.bucket === '1h').reduce((a, r) => a + r.sum, 0);
    const once = sumOf(rollupDeltas(exits, () => 'UTC'));
    // One event per batch, newest first: the store adds the batches' sums in that order.
    let oneByOne = 0;
    for (const e of [...exits].reverse()) oneByOne += sumOf(rollupDeltas([e], () => 'UTC'));
    expect(oneByOne).toBe(once);
    // In decimal seconds: (0.1 + 0.2) + 0.3 = 0.6000000000000001 but (0.3 + 0.2) + 0.1 = 0.6.
    expect(once).toBeCloseTo(0.6, 3);
  });

  it('gives dwell count, mean, p50, p90', () => {
    const d = fold('dwell', '1h', '1h');
    expect(d.points[1]).toEqual({
      t: '2025-03-10T01:00:00.000Z',
      value: 109.4,
      n: 5,
      max: 400,
      p50: 45,
      p90: 400,
    });
    expect(d.points[0]).toMatchObject({ value: null, n: 0 });
  });
});

/** A seeded generator in [0, 1): the same cases every run. */
function seededRandom(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}
