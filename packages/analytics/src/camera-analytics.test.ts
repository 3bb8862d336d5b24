import {
  type AnalyticsConfigInput,
  type AnalyticsEvent,
  analyticsConfigSchema,
  analyticsEventSchema,
} from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { CameraAnalytics } from './camera-analytics.ts';

const W = 1000;
const H = 1000;
const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);

type ZoneIn = NonNullable<AnalyticsConfigInput['zones']>[number];
type LineIn = NonNullable<AnalyticsConfigInput['lines']>[number];

/** Feet positions (normalised) of each person in one frame. */
type Positions = Array<[number, number]>;

function engine(input: AnalyticsConfigInput, timezone = 'UTC') {
  return new CameraAnalytics({
    cameraId: 'cam-1',
    storeId: 'store-1',
    nodeId: 'node-a',
    config: analyticsConfigSchema.parse(input),
    configVersion: 1,
    timezone,
  });
}

/** Runs frames at `fps`; returns every event and the engine. */
function run(a: CameraAnalytics, frames: Positions[], fps = 10, t0 = T0) {
  const events: AnalyticsEvent[] = [];
  frames.forEach((people, i) => {
    const detections = people.map(([x, y]) => ({
      label: 'person',
      classId: 0,
      score: 0.9,
      box: { x1: x * W - 30, y1: y * H - 160, x2: x * W + 30, y2: y * H },
    }));
    events.push(
      ...a.process({
        frameId: `f${t0}-${i}`,
        captureTime: t0 + (i * 1000) / fps,
        width: W,
        height: H,
        detections,
      }),
    );
  });
  return events;
}

/** A person walking in a straight line from `from` to `to` over `n` frames. */
function walk(from: [number, number], to: [number, number], n: number): Positions[] {
  return Array.from({ length: n }, (_, i) => {
    const f = n === 1 ? 0 : i / (n - 1);
    return [[from[0] + (to[0] - from[0]) * f, from[1] + (to[1] - from[1]) * f]];
  });
}

const doorLine: LineIn = { id: 'door', a: [0.2, 0.5], b: [0.8, 0.5], in: [0, 1] };
const byType = (events: AnalyticsEvent[], type: AnalyticsEvent['type']) =>
  events.filter((e) => e.type === type);

describe('line crossing', () => {
  const config = { lines: [doorLine], operations: [{ type: 'line_crossing' }] } as AnalyticsConfigInput;

  it('counts one in and one out for a person walking through and back', () => {
    const a = engine(config);
    const events = run(a, [...walk([0.5, 0.3], [0.5, 0.7], 20), ...walk([0.5, 0.7], [0.5, 0.3], 20)]);
    const crossings = byType(events, 'line_crossing');
    expect(crossings.map((e) => e.type === 'line_crossing' && e.direction)).toEqual(['in', 'out']);
    expect(a.state().lines).toEqual({ door: { in: 1, out: 0 + 1 } });
    for (const e of events) expect(analyticsEventSchema.parse(e)).toEqual(e);
  });

  it('a person jittering on the line (feet ±1.5% across it for 5 s) is not counted', () => {
    const a = engine(config);
    const jitter: Positions[] = Array.from({ length: 50 }, (_, i) => [[0.5, 0.5 + (i % 2 ? 0.015 : -0.015)]]);
    const events = run(a, [
      ...walk([0.5, 0.3], [0.5, 0.485], 10),
      ...jitter,
      ...walk([0.5, 0.485], [0.5, 0.3], 10),
    ]);
    expect(byType(events, 'line_crossing')).toHaveLength(0);
    expect(a.state().lines.door).toEqual({ in: 0, out: 0 });
  });

  it('walking round the end of the line changes sides without counting', () => {
    const a = engine(config);
    const path = [...walk([0.9, 0.3], [0.9, 0.7], 20), ...walk([0.9, 0.7], [0.5, 0.7], 10)];
    expect(byType(run(a, path), 'line_crossing')).toHaveLength(0);
  });

  it('counts a crossing that happened while the person was hidden (lost track, seen again beyond)', () => {
    const a = engine(config);
    const path = walk([0.5, 0.3], [0.5, 0.7], 20).map((p, i) => (i >= 8 && i < 14 ? [] : p));
    const crossings = byType(run(a, path), 'line_crossing');
    expect(crossings).toHaveLength(1);
  });

  it('counts a person who crossed before their track was confirmed (first seen just before the line)', () => {
    // Seen first 1% before the line, then beyond it: the track is confirmed on its second frame,
    // already on the far side. The crossing happened in view and counts once.
    const a = engine(config);
    const events = run(a, walk([0.5, 0.49], [0.5, 0.8], 12));
    expect(byType(events, 'line_crossing').map((e) => e.type === 'line_crossing' && e.direction)).toEqual([
      'in',
    ]);
    // Someone first seen beyond the line, walking on, crossed nothing in view.
    const b = engine(config);
    expect(byType(run(b, walk([0.5, 0.52], [0.5, 0.8], 12)), 'line_crossing')).toHaveLength(0);
  });

  it('keeps counting through a config change and records the new config version', () => {
    const a = engine(config);
    run(a, walk([0.5, 0.3], [0.5, 0.7], 20));
    const moved = analyticsConfigSchema.parse({ ...config, lines: [{ ...doorLine, a: [0.1, 0.5] }] });
    a.reconfigure(moved, 2);
    const events = run(a, walk([0.3, 0.3], [0.3, 0.7], 20), 10, T0 + 60_000);
    expect(a.state().lines.door).toEqual({ in: 2, out: 0 });
    expect(byType(events, 'line_crossing').map((e) => e.configVersion)).toEqual([2]);
  });

  it('resets counts at the store-local midnight', () => {
    const a = engine(config, 'Asia/Shanghai');
    // 15:59:58 UTC is 23:59:58 in Shanghai.
    const beforeMidnight = Date.UTC(2026, 10, 27, 15, 59, 50);
    run(a, walk([0.5, 0.3], [0.5, 0.7], 20), 10, beforeMidnight - 2000);
    expect(a.state()).toMatchObject({ day: '2026-11-27', lines: { door: { in: 1, out: 0 } } });
    run(a, walk([0.5, 0.7], [0.5, 0.3], 20), 10, beforeMidnight + 30_000);
    expect(a.state()).toMatchObject({ day: '2026-11-28', lines: { door: { in: 0, out: 1 } } });
  });
});

describe('zones: occupancy and dwell', () => {
  const shelf: ZoneIn = {
    id: 'shelf',
    kind: 'shelf',
    polygon: [
      [0.41, 0.4],
      [0.59, 0.4],
      [0.59, 0.6],
      [0.41, 0.6],
    ],
  };
  const config = {
    zones: [shelf],
    operations: [{ type: 'occupancy', intervalSeconds: 5 }, { type: 'zone_dwell' }],
  } as AnalyticsConfigInput;

  it('reports enter, exit and the dwell to the frame, and occupancy on each change', () => {
    const a = engine(config);
    const stay: Positions[] = Array.from({ length: 30 }, () => [[0.5, 0.5]]);
    const events = run(a, [
      ...walk([0.2, 0.5], [0.5, 0.5], 10),
      ...stay,
      ...walk([0.5, 0.5], [0.8, 0.5], 10),
    ]);
    const enter = byType(events, 'zone_enter');
    const exit = byType(events, 'zone_exit');
    expect(enter).toHaveLength(1);
    expect(exit).toHaveLength(1);
    // Feet inside (0.41 < x < 0.59) from frame 7 (x=0.433) to frame 42 (x=0.567); out from frame 43 (x=0.6).
    const ex = exit[0]!;
    expect(ex.type === 'zone_exit' && ex.dwellMs).toBe((43 - 7) * 100);
    expect(Date.parse(enter[0]!.time)).toBe(T0 + 700);
    const changes = byType(events, 'occupancy').filter(
      (e) => e.type === 'occupancy' && e.reason === 'change',
    );
    expect(changes.map((e) => e.type === 'occupancy' && e.count)).toEqual([1, 0]);
  });

  it('feet jittering across the zone edge count one visit, not many', () => {
    const a = engine(config);
    const edge: Positions[] = Array.from({ length: 40 }, (_, i) => [[0.41 + (i % 2 ? 0.01 : -0.01), 0.5]]);
    const events = run(a, [
      ...walk([0.2, 0.5], [0.4, 0.5], 5),
      ...edge,
      ...walk([0.41, 0.5], [0.5, 0.5], 10),
    ]);
    expect(byType(events, 'zone_enter')).toHaveLength(1);
    expect(byType(events, 'zone_exit')).toHaveLength(0);
  });

  it('emits an occupancy event per interval while nothing changes', () => {
    const a = engine(config);
    const events = run(
      a,
      Array.from({ length: 120 }, () => [[0.5, 0.5]] as Positions),
    );
    const interval = byType(events, 'occupancy').filter(
      (e) => e.type === 'occupancy' && e.reason === 'interval',
    );
    // At 0 s, then every 5 s of capture time over 12 s.
    expect(interval.map((e) => Date.parse(e.time) - T0)).toEqual([0, 5000, 10000]);
    expect(a.state().zones.shelf).toEqual({ kind: 'shelf', occupancy: 1 });
  });
});

describe('queue and alerts', () => {
  const queue: ZoneIn = {
    id: 'queue',
    kind: 'queue',
    polygon: [
      [0, 0.4],
      [1, 0.4],
      [1, 0.8],
      [0, 0.8],
    ],
  };

  it('queue length follows the people waiting; the wait estimate follows departures', () => {
    const a = engine({ zones: [queue], operations: [{ type: 'queue' }] });
    // Three people wait; one leaves the queue (steps out below it) every 10 s.
    const frames: Positions[] = [];
    for (let i = 0; i < 400; i++) {
      const t = i / 10;
      const people: Positions = [];
      for (let k = 0; k < 3; k++)
        people.push([0.2 + 0.3 * k, 0.6 + Math.min(0.35, Math.max(0, t - 10 * (k + 1)) * 0.5)]);
      frames.push(people);
    }
    const events = byType(run(a, frames), 'queue');
    // 0 until the tracks are confirmed on the second frame, then 3, and one fewer every 10 s.
    expect(
      events
        .filter((e) => e.type === 'queue' && e.reason === 'change')
        .map((e) => e.type === 'queue' && e.length),
    ).toEqual([3, 2, 1, 0]);
    const afterFirst = events.find((e) => e.type === 'queue' && e.length === 2);
    // One departure (feet below the zone ~0.5 s after leaving at 10 s) in ~10.5 s → 2 waiting ≈ 21 s.
    const wait = afterFirst?.type === 'queue' ? afterFirst.waitSeconds : null;
    expect(wait).toBeGreaterThanOrEqual(20);
    expect(wait).toBeLessThanOrEqual(22);
  });

  it('raises over-crowding after forSeconds above the threshold and clears it', () => {
    const zone: ZoneIn = {
      id: 'hall',
      polygon: [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
    };
    const a = engine({
      zones: [zone],
      operations: [
        { type: 'alerts', rules: [{ kind: 'overcrowding', zone: 'hall', maxPeople: 2, forSeconds: 3 }] },
      ],
    });
    const three: Positions = [
      [0.2, 0.5],
      [0.5, 0.5],
      [0.8, 0.5],
    ];
    // Two leave the picture after 5 s; a vanished person still counts for maxLostSeconds (3 s: they
    // may be hidden), so the alert clears 3 s later.
    const frames: Positions[] = [...Array(50).fill(three), ...Array(50).fill([[0.2, 0.5]])];
    const alerts = byType(run(a, frames), 'alert');
    expect(alerts.map((e) => e.type === 'alert' && [e.alert, e.state, e.value])).toEqual([
      ['overcrowding', 'raised', 3],
      ['overcrowding', 'cleared', 1],
    ]);
    // Tracks are confirmed on frame 1 and count in the zone after its inertia (2 frames), on frame 2:
    // above 2 people from 0.2 s, raised 3 s later.
    expect(Date.parse(alerts[0]!.time) - T0).toBe(3200);
  });

  it('raises loitering for the person who stays too long, and clears it when they leave', () => {
    const zone: ZoneIn = {
      id: 'shelf',
      polygon: [
        [0.4, 0.4],
        [0.6, 0.4],
        [0.6, 0.6],
        [0.4, 0.6],
      ],
    };
    const a = engine({
      zones: [zone],
      operations: [{ type: 'alerts', rules: [{ kind: 'loitering', zone: 'shelf', dwellSeconds: 4 }] }],
    });
    const frames: Positions[] = [...Array(60).fill([[0.5, 0.5]]), ...walk([0.5, 0.5], [0.9, 0.5], 10)];
    const alerts = byType(run(a, frames), 'alert');
    expect(alerts.map((e) => e.type === 'alert' && [e.alert, e.state, e.trackId])).toEqual([
      ['loitering', 'raised', 1],
      ['loitering', 'cleared', 1],
    ]);
  });
});

describe('events', () => {
  it('the same frames give the same event ids (a replay is deduplicated, not counted twice)', () => {
    const config = { lines: [doorLine], operations: [{ type: 'line_crossing' }] } as AnalyticsConfigInput;
    const path = [...walk([0.5, 0.3], [0.5, 0.7], 20), ...walk([0.5, 0.7], [0.5, 0.3], 20)];
    const first = run(engine(config), path).map((e) => e.id);
    const second = run(engine(config), path).map((e) => e.id);
    expect(first).toHaveLength(2);
    expect(second).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });

  it('skips a result older than the last one analysed and says so', () => {
    const a = engine({ lines: [doorLine], operations: [{ type: 'line_crossing' }] });
    a.process({ frameId: 'b', captureTime: T0 + 100, width: W, height: H, detections: [] });
    expect(a.process({ frameId: 'a', captureTime: T0, width: W, height: H, detections: [] })).toEqual([]);
    expect(a.state().frames).toEqual({ analysed: 1, outOfOrder: 1 });
    expect(a.state().frameId).toBe('b');
  });
});
