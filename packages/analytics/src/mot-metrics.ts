import type { Box } from '@storevision/contracts';
import { linearAssignment } from './assignment.ts';
import { iou } from './tracker.ts';

/** One frame of a tracking evaluation. */
export interface MotFrame {
  /** Ground-truth objects; `ignore` ones (mostly hidden people) neither count as missed nor make matches false positives. */
  truth: Array<{ id: number; box: Box; ignore?: boolean }>;
  predicted: Array<{ id: number; box: Box }>;
}

export interface MotResult {
  frames: number;
  /** Ground-truth objects counted (not ignored). */
  truth: number;
  predicted: number;
  matches: number;
  falsePositives: number;
  misses: number;
  idSwitches: number;
  /** Detections matched to their identity's best-paired truth (IDF1's numerator / 2). */
  idtp: number;
  /** CLEAR MOT accuracy: 1 − (misses + false positives + id switches) / truth. */
  mota: number;
  /** Identity F1 (Ristani et al. 2016): 2·IDTP / (truth + predicted). */
  idf1: number;
  precision: number;
  recall: number;
}

/**
 * CLEAR MOT and IDF1 the way MOTChallenge computes them: per frame, predictions are matched to the
 * truth at IoU ≥ `threshold` (keeping last frame's pairs where they still hold); predictions matched
 * to ignored truth are dropped before counting; IDF1 pairs whole identities by a global assignment.
 */
export function evaluateTracking(frames: readonly MotFrame[], threshold = 0.5): MotResult {
  const maxCost = 1 - threshold;
  let truthN = 0;
  let predN = 0;
  let matchesN = 0;
  let fp = 0;
  let fn = 0;
  let idsw = 0;
  const lastMatch = new Map<number, number>(); // truth id -> pred id it was last matched to
  const prevPairs = new Map<number, number>(); // truth id -> pred id, previous frame
  const pairFrames = new Map<number, Map<number, number>>(); // truth id -> pred id -> frames with IoU ≥ thr
  const truthIds = new Set<number>();
  const predIds = new Set<number>();

  for (const f of frames) {
    // Drop predictions that sit on ignored truth, and the ignored truth.
    const all = linearAssignment(
      f.predicted.map((p) => f.truth.map((t) => 1 - iou(p.box, t.box))),
      f.truth.length,
      maxCost,
    );
    const dropped = new Set<number>();
    for (const [pi, ti] of all.matches) if (f.truth[ti]!.ignore) dropped.add(pi);
    const truth = f.truth.filter((t) => !t.ignore);
    const pred = f.predicted.filter((_, i) => !dropped.has(i));
    truthN += truth.length;
    predN += pred.length;
    for (const t of truth) truthIds.add(t.id);
    for (const p of pred) predIds.add(p.id);

    // IDF1 co-occurrence counts.
    for (const t of truth) {
      for (const p of pred) {
        if (iou(t.box, p.box) < threshold) continue;
        let m = pairFrames.get(t.id);
        if (!m) {
          m = new Map();
          pairFrames.set(t.id, m);
        }
        m.set(p.id, (m.get(p.id) ?? 0) + 1);
      }
    }

    // CLEAR MOT: keep last frame's pairs that still overlap, assign the rest.
    const usedT = new Set<number>();
    const usedP = new Set<number>();
    const pairs: Array<[number, number]> = [];
    truth.forEach((t, ti) => {
      const pid = prevPairs.get(t.id);
      if (pid === undefined) return;
      const pi = pred.findIndex((p, i) => p.id === pid && !usedP.has(i));
      if (pi >= 0 && iou(t.box, pred[pi]!.box) >= threshold) {
        usedT.add(ti);
        usedP.add(pi);
        pairs.push([ti, pi]);
      }
    });
    const restT = truth.map((_, i) => i).filter((i) => !usedT.has(i));
    const restP = pred.map((_, i) => i).filter((i) => !usedP.has(i));
    const a = linearAssignment(
      restT.map((ti) => restP.map((pi) => 1 - iou(truth[ti]!.box, pred[pi]!.box))),
      restP.length,
      maxCost,
    );
    for (const [r, c] of a.matches) pairs.push([restT[r]!, restP[c]!]);
    prevPairs.clear();
    for (const [ti, pi] of pairs) {
      const tid = truth[ti]!.id;
      const pid = pred[pi]!.id;
      const before = lastMatch.get(tid);
      if (before !== undefined && before !== pid) idsw++;
      lastMatch.set(tid, pid);
      prevPairs.set(tid, pid);
    }
    matchesN += pairs.length;
    fn += truth.length - pairs.length;
    fp += pred.length - pairs.length;
  }

  const tIds = [...truthIds];
  const pIds = [...predIds];
  const pIndex = new Map(pIds.map((id, i) => [id, i]));
  const cost = tIds.map(() => new Array<number>(pIds.length).fill(0));
  tIds.forEach((tid, ti) => {
    for (const [pid, n] of pairFrames.get(tid) ?? []) cost[ti]![pIndex.get(pid)!] = -n;
  });
  let idtp = 0;
  for (const [ti, pi] of linearAssignment(cost, pIds.length, 0).matches) idtp -= cost[ti]![pi]!;

  const safe = (x: number, y: number) => (y > 0 ? x / y : 0);
  return {
    frames: frames.length,
    truth: truthN,
    predicted: predN,
    matches: matchesN,
    falsePositives: fp,
    misses: fn,
    idSwitches: idsw,
    idtp,
    mota: truthN > 0 ? 1 - (fn + fp + idsw) / truthN : 0,
    idf1: safe(2 * idtp, truthN + predN),
    precision: safe(matchesN, predN),
    recall: safe(matchesN, truthN),
  };
}
