/**
 * Greedy non-maximum suppression over candidates already sorted by descending score, as
 * torchvision's `nms` does it for Ultralytics: a box is dropped when its IoU with a kept box of
 * the same class is strictly greater than the threshold. Boxes of different classes never
 * suppress each other (Ultralytics' default, `agnostic=False`).
 */

/** Candidates in structure-of-arrays form; index i is the i-th best score. */
export interface NmsCandidates {
  /** x1, y1, x2, y2 per candidate. */
  boxes: Float32Array;
  scores: Float32Array;
  classIds: Int32Array;
  count: number;
}

export interface NmsOptions {
  iouThreshold: number;
  maxDetections: number;
  /** Let any class suppress any other (Ultralytics `agnostic=True`). @defaultValue false */
  classAgnostic?: boolean;
}

/** Returns the indices of the kept candidates, best first. */
export function nms(c: NmsCandidates, options: NmsOptions): number[] {
  const { boxes, classIds, count } = c;
  const agnostic = options.classAgnostic ?? false;
  const suppressed = new Uint8Array(count);
  const areas = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * 4;
    areas[i] = Math.max(0, boxes[o + 2]! - boxes[o]!) * Math.max(0, boxes[o + 3]! - boxes[o + 1]!);
  }
  const keep: number[] = [];
  for (let i = 0; i < count && keep.length < options.maxDetections; i++) {
    if (suppressed[i]) continue;
    keep.push(i);
    const oi = i * 4;
    const x1 = boxes[oi]!;
    const y1 = boxes[oi + 1]!;
    const x2 = boxes[oi + 2]!;
    const y2 = boxes[oi + 3]!;
    const areaI = areas[i]!;
    const cls = classIds[i];
    for (let j = i + 1; j < count; j++) {
      if (suppressed[j] || (!agnostic && classIds[j] !== cls)) continue;
      const oj = j * 4;
      const w = Math.min(x2, boxes[oj + 2]!) - Math.max(x1, boxes[oj]!);
      if (w <= 0) continue;
      const h = Math.min(y2, boxes[oj + 3]!) - Math.max(y1, boxes[oj + 1]!);
      if (h <= 0) continue;
      const inter = w * h;
      if (inter / (areaI + areas[j]! - inter) > options.iouThreshold) suppressed[j] = 1;
    }
  }
  return keep;
}

/** Intersection over union of two x1,y1,x2,y2 boxes (0 when either is empty). */
export function iou(
  a: { x1: number; y1: number; x2: number; y2: number },
  b: { x1: number; y1: number; x2: number; y2: number },
): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}
