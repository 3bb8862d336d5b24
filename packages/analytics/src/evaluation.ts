import type {
  AnalyticsConfigInput,
  AnalyticsEvent,
  Box,
  GtFrame,
  GtLineCrossing,
  GtZoneVisit,
  SceneDescription,
} from '@storevision/contracts';
import { evaluateTracking, type MotResult } from './mot-metrics.ts';

/**
 * Scoring a camera's analytics against a rendered sequence's ground truth: footfall per line,
 * occupancy and queue length per frame, dwell per visit, and tracking (MOTA, IDF1). Used by
 * `storevision bench analytics` and the edge's end-to-end test.
 */

/** The analytics config a store would draw for a rendered scene: its zones and lines, every operation. */
export function analyticsConfigForScene(scene: SceneDescription): AnalyticsConfigInput {
  const queueZone = scene.zones.find((z) => z.kind === 'queue');
  return {
    anchor: scene.anchor,
    labels: ['person'],
    zones: scene.zones.map((z) => ({ id: z.id, kind: z.kind, polygon: z.polygon })),
    lines: scene.lines.map((l) => ({ id: l.id, a: l.a, b: l.b, in: l.in })),
    operations: [
      { type: 'occupancy' },
      ...(scene.lines.length ? [{ type: 'line_crossing' as const }] : []),
      { type: 'zone_dwell' },
      ...(queueZone ? [{ type: 'queue' as const, zone: queueZone.id }] : []),
    ],
  };
}

/** What the edge said after one frame (from `GET /v1/cameras/{id}/analytics`). */
export interface ObservedFrame {
  /** Index of the frame in the sequence. */
  frame: number;
  tracks: Array<{ trackId: number; box: Box; state: 'tracked' | 'lost' }>;
  occupancy: Record<string, number>;
  queue: Record<string, number>;
}

export interface LineScore {
  line: string;
  truth: { in: number; out: number };
  counted: { in: number; out: number };
  /** |counted − truth| / truth per direction (0 when both are 0). */
  errorIn: number;
  errorOut: number;
}

export interface AnalyticsScore {
  frames: number;
  lines: LineScore[];
  /** Mean absolute error of people per zone over the frames, per zone. */
  occupancyMae: Record<string, number>;
  queueMae: Record<string, number>;
  dwell: {
    /** Completed visits in the truth (shelf zones) and how many were matched to a reported visit. */
    truthVisits: number;
    matched: number;
    reported: number;
    medianAbsErrorS: number | null;
    meanAbsErrorS: number | null;
    /** Every matched visit's absolute error, s (for pooling over sequences). */
    errorsS: number[];
  };
  tracking: MotResult;
}

/** Truth objects less visible than this are "don't care" for tracking (as in the detector's AP). */
export const MIN_VISIBLE_FOR_TRACKING = 0.3;

export function scoreAnalytics(input: {
  scene: SceneDescription;
  truthFrames: GtFrame[];
  crossings: GtLineCrossing[];
  visits: GtZoneVisit[];
  observed: ObservedFrame[];
  events: AnalyticsEvent[];
  startEpochMs: number;
}): AnalyticsScore {
  const { scene, observed } = input;
  const byIndex = new Map(input.truthFrames.map((f) => [f.frame, f]));

  // Footfall: the line counts reported by events against the true crossings of the frames pushed.
  const lastFrame = observed.length ? observed[observed.length - 1]!.frame : -1;
  const lines = scene.lines.map((l): LineScore => {
    const truth = { in: 0, out: 0 };
    for (const c of input.crossings) if (c.lineId === l.id && c.frame <= lastFrame) truth[c.direction]++;
    const counted = { in: 0, out: 0 };
    for (const e of input.events) if (e.type === 'line_crossing' && e.line === l.id) counted[e.direction]++;
    const err = (a: number, b: number) => (b === 0 ? (a === 0 ? 0 : 1) : Math.abs(a - b) / b);
    return {
      line: l.id,
      truth,
      counted,
      errorIn: err(counted.in, truth.in),
      errorOut: err(counted.out, truth.out),
    };
  });

  const occupancyMae: Record<string, number> = {};
  const queueMae: Record<string, number> = {};
  for (const z of scene.zones) {
    let occ = 0;
    let q = 0;
    let n = 0;
    for (const o of observed) {
      const t = byIndex.get(o.frame);
      if (!t) continue;
      n++;
      occ += Math.abs((o.occupancy[z.id] ?? 0) - (t.occupancy[z.id] ?? 0));
      if (z.kind === 'queue') q += Math.abs((o.queue[z.id] ?? 0) - (t.queue[z.id] ?? 0));
    }
    occupancyMae[z.id] = n ? occ / n : 0;
    if (z.kind === 'queue') queueMae[z.id] = n ? q / n : 0;
  }

  // Dwell at shelves: each completed true visit is matched to the reported visit (zone_exit) of the
  // same zone that overlaps it most in time; unmatched ones are counted, not scored.
  const shelfZones = new Set(scene.zones.filter((z) => z.kind === 'shelf').map((z) => z.id));
  const endT = lastFrame >= 0 ? (byIndex.get(lastFrame)?.t ?? Number.POSITIVE_INFINITY) : 0;
  const truthVisits = input.visits.filter(
    (v) => shelfZones.has(v.zoneId) && v.exitT !== undefined && v.exitT <= endT && v.dwellMs !== undefined,
  );
  const reported = input.events
    .filter((e) => e.type === 'zone_exit' && shelfZones.has(e.zone))
    .map((e) => {
      const exitT = Date.parse(e.time) - input.startEpochMs;
      const dwell = e.type === 'zone_exit' ? e.dwellMs : 0;
      return { zone: e.type === 'zone_exit' ? e.zone : '', enterT: exitT - dwell, exitT, dwell, used: false };
    });
  const errors: number[] = [];
  const candidates: Array<{ overlap: number; ti: number; ri: number }> = [];
  truthVisits.forEach((v, ti) => {
    reported.forEach((r, ri) => {
      if (r.zone !== v.zoneId) return;
      const inter = Math.min(v.exitT!, r.exitT) - Math.max(v.enterT, r.enterT);
      const union = Math.max(v.exitT!, r.exitT) - Math.min(v.enterT, r.enterT);
      if (inter > 0 && union > 0 && inter / union >= 0.3) candidates.push({ overlap: inter / union, ti, ri });
    });
  });
  candidates.sort((a, b) => b.overlap - a.overlap);
  const usedT = new Set<number>();
  for (const c of candidates) {
    if (usedT.has(c.ti) || reported[c.ri]!.used) continue;
    usedT.add(c.ti);
    reported[c.ri]!.used = true;
    errors.push(Math.abs(reported[c.ri]!.dwell - truthVisits[c.ti]!.dwellMs!) / 1000);
  }
  errors.sort((a, b) => a - b);

  const tracking = evaluateTracking(
    observed.flatMap((o) => {
      const t = byIndex.get(o.frame);
      if (!t) return [];
      return [
        {
          truth: t.objects
            .filter((x) => x.label === 'person')
            .map((x) => ({ id: x.trackId, box: x.box, ignore: x.visible < MIN_VISIBLE_FOR_TRACKING })),
          predicted: o.tracks
            .filter((x) => x.state === 'tracked')
            .map((x) => ({ id: x.trackId, box: x.box })),
        },
      ];
    }),
  );

  return {
    frames: observed.length,
    lines,
    occupancyMae,
    queueMae,
    dwell: {
      truthVisits: truthVisits.length,
      matched: errors.length,
      reported: reported.length,
      medianAbsErrorS: median(errors),
      meanAbsErrorS: errors.length ? errors.reduce((a, b) => a + b, 0) / errors.length : null,
      errorsS: errors,
    },
    tracking,
  };
}

export function median(sorted: number[]): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  return n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}
