import { describe, expect, it } from 'vitest';
import { eventFactory } from '../testing/store-events.ts';
import {
  bucketStarts,
  dwellBin,
  foldRows,
  histogramQuantile,
  localDate,
  localDayStart,
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

  it('sums footfall, averages occupancy per zone and sums zones', () => {
    expect(fold('footfall_in', '1h', '1h').points.map((p) => p.value)).toEqual([0, 2, 1]);
    expect(fold('footfall_in', '1h', '1h').total.value).toBe(3);
    const occ = fold('occupancy', '1h', '1h');
    // shelf-1: (2 + 4 + 3) / 3 = 3, max 4; shelf-2: 1; the store: 3 + 1 = 4, max 4 + 1.
    expect(occ.points[1]).toMatchObject({ value: 4, n: 4, max: 5 });
    expect(occ.points[0]).toMatchObject({ value: null, n: 0 });
    expect(occ.byKey['shelf-1']![1]).toMatchObject({ value: 3, max: 4 });
    const occ5 = fold('occupancy', '1m', '5m');
    // 01:00–01:05: shelf-1 (2 + 4) / 2 = 3 plus shelf-2 1; 01:10–01:15: shelf-1 alone, 3.
    expect(occ5.points[12]).toMatchObject({ t: '2025-03-10T01:00:00.000Z', value: 4 });
    expect(occ5.points[14]).toMatchObject({ t: '2025-03-10T01:10:00.000Z', value: 3 });
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
