import type { Detection, OutputFormat, Thresholds } from '@storevision/contracts';
import { DetectorError } from './errors.ts';
import { inputToSourceX, inputToSourceY, type LetterboxGeometry } from './letterbox.ts';
import { nms } from './nms.ts';

/**
 * Raw YOLO output tensor → detections in source-image pixels, the way Ultralytics'
 * `non_max_suppression` + `scale_boxes` do it: best class per anchor (not multi-label),
 * confidence threshold, class-aware greedy NMS in input pixels, then undo letterbox and clip.
 *
 * The hot path touches only typed arrays: no object is created for an anchor until it has passed
 * the threshold, NMS and the detection cap.
 */

/** Per-call threshold overrides; anything left out comes from the manifest. */
export interface ThresholdOverrides {
  confidence?: number;
  iou?: number;
  maxDetections?: number;
  /** Per-label confidence. Replaces the manifest's map as a whole (pass `{}` to drop it). */
  perLabel?: Record<string, number>;
}

export interface DecodeOptions {
  labels: readonly string[];
  geometry: LetterboxGeometry;
  /** Minimum score for a detection, inclusive as the manifest says (Ultralytics uses `>`; only exact ties differ). */
  confidence: number;
  /** Same-class boxes overlapping a better one by more than this IoU are dropped. */
  iou: number;
  maxDetections: number;
  /** Per-label confidence replacing `confidence` for that label (higher or lower). */
  perLabel?: Record<string, number>;
  /** Let boxes of any class suppress each other. @defaultValue false */
  classAgnostic?: boolean;
  /** At most this many best candidates enter NMS (Ultralytics `max_nms`). @defaultValue 30000 */
  maxCandidates?: number;
}

/** Manifest thresholds with per-call overrides applied. */
export function resolveThresholds(
  base: Thresholds,
  overrides: ThresholdOverrides = {},
): Pick<DecodeOptions, 'confidence' | 'iou' | 'maxDetections' | 'perLabel'> {
  return {
    confidence: overrides.confidence ?? base.confidence,
    iou: overrides.iou ?? base.iou,
    maxDetections: overrides.maxDetections ?? base.maxDetections,
    perLabel: overrides.perLabel ?? base.perLabel ?? {},
  };
}

/** Decodes either output format. */
export function decodeOutput(
  format: OutputFormat,
  data: Float32Array,
  dims: readonly number[],
  options: DecodeOptions,
): Detection[] {
  return format === 'yolov8' ? decodeYolov8(data, dims, options) : decodeYolov5(data, dims, options);
}

/**
 * YOLOv8/v11 detection head: `[1, 4+nc, N]`, channel-major; rows cx, cy, w, h (input pixels), then
 * nc class scores with the sigmoid already applied.
 */
export function decodeYolov8(
  data: Float32Array,
  dims: readonly number[],
  options: DecodeOptions,
): Detection[] {
  const { rows, cols } = lastTwoDims(dims, data.length);
  const nc = rows - 4;
  const n = cols;
  checkClassCount(nc, options.labels, dims, 'yolov8 expects [1, 4+nc, N]');
  const thr = classThresholds(options);
  const minThr = minOf(thr);

  // Best class per anchor, one contiguous class row at a time (cache-friendly: the tensor is
  // channel-major, so walking the classes of one anchor would stride N floats per step).
  const best = data.slice(4 * n, 5 * n);
  const bestClass = new Int32Array(n);
  for (let c = 1; c < nc; c++) {
    const row = (4 + c) * n;
    for (let i = 0; i < n; i++) {
      const s = data[row + i]!;
      if (s > best[i]!) {
        best[i] = s;
        bestClass[i] = c;
      }
    }
  }
  const cand = new Candidates(n);
  for (let i = 0; i < n; i++) {
    const s = best[i]!;
    if (s >= minThr && s >= thr[bestClass[i]!]!) cand.push(i, s, bestClass[i]!);
  }
  return cand.finish(options, (i, out, o) => {
    const cx = data[i]!;
    const cy = data[n + i]!;
    const hw = data[2 * n + i]! / 2;
    const hh = data[3 * n + i]! / 2;
    out[o] = cx - hw;
    out[o + 1] = cy - hh;
    out[o + 2] = cx + hw;
    out[o + 3] = cy + hh;
  });
}

/**
 * YOLOv5-style head: `[1, N, 5+nc]`, anchor-major; columns cx, cy, w, h (input pixels),
 * objectness, nc class scores; a detection's score is objectness × class score.
 */
export function decodeYolov5(
  data: Float32Array,
  dims: readonly number[],
  options: DecodeOptions,
): Detection[] {
  const { rows, cols } = lastTwoDims(dims, data.length);
  const n = rows;
  const stride = cols;
  const nc = stride - 5;
  checkClassCount(nc, options.labels, dims, 'yolov5 expects [1, N, 5+nc]');
  const thr = classThresholds(options);
  const minThr = minOf(thr);
  const cand = new Candidates(n);
  for (let i = 0; i < n; i++) {
    const o = i * stride;
    const obj = data[o + 4]!;
    // Class scores are at most 1, so no class can pass when objectness alone does not.
    if (obj < minThr) continue;
    let bestC = 0;
    let bestS = data[o + 5]!;
    for (let c = 1; c < nc; c++) {
      const s = data[o + 5 + c]!;
      if (s > bestS) {
        bestS = s;
        bestC = c;
      }
    }
    const score = obj * bestS;
    if (score >= minThr && score >= thr[bestC]!) cand.push(i, score, bestC);
  }
  return cand.finish(options, (i, out, o) => {
    const a = i * stride;
    const cx = data[a]!;
    const cy = data[a + 1]!;
    const hw = data[a + 2]! / 2;
    const hh = data[a + 3]! / 2;
    out[o] = cx - hw;
    out[o + 1] = cy - hh;
    out[o + 2] = cx + hw;
    out[o + 3] = cy + hh;
  });
}

/** Anchors that passed the threshold, as parallel typed arrays. */
class Candidates {
  readonly index: Int32Array;
  readonly score: Float32Array;
  readonly classId: Int32Array;
  count = 0;

  constructor(capacity: number) {
    this.index = new Int32Array(capacity);
    this.score = new Float32Array(capacity);
    this.classId = new Int32Array(capacity);
  }

  push(index: number, score: number, classId: number): void {
    const k = this.count++;
    this.index[k] = index;
    this.score[k] = score;
    this.classId[k] = classId;
  }

  /** Sorts by score, runs NMS, maps the survivors back to source pixels. */
  finish(
    options: DecodeOptions,
    writeBox: (anchor: number, out: Float32Array, offset: number) => void,
  ): Detection[] {
    const order = new Int32Array(this.count);
    for (let k = 0; k < this.count; k++) order[k] = k;
    const score = this.score;
    order.sort((a, b) => score[b]! - score[a]!);
    const capacity = Math.min(this.count, options.maxCandidates ?? 30_000);
    const g = options.geometry;
    const sorted = {
      boxes: new Float32Array(capacity * 4),
      scores: new Float32Array(capacity),
      classIds: new Int32Array(capacity),
      count: 0,
    };
    for (let r = 0; r < this.count && sorted.count < capacity; r++) {
      const c = order[r]!;
      const k = sorted.count;
      writeBox(this.index[c]!, sorted.boxes, k * 4);
      // A box lying wholly in the letterbox padding clips to nothing in the image (and the Detection
      // contract wants x2 > x1): drop it before NMS so it neither suppresses nor takes a slot.
      if (isEmptyInSource(sorted.boxes, k * 4, g)) continue;
      sorted.scores[k] = score[c]!;
      sorted.classIds[k] = this.classId[c]!;
      sorted.count++;
    }
    const keep = nms(sorted, {
      iouThreshold: options.iou,
      maxDetections: options.maxDetections,
      classAgnostic: options.classAgnostic ?? false,
    });
    const detections: Detection[] = [];
    for (const k of keep) {
      const o = k * 4;
      const x1 = inputToSourceX(sorted.boxes[o]!, g);
      const y1 = inputToSourceY(sorted.boxes[o + 1]!, g);
      const x2 = inputToSourceX(sorted.boxes[o + 2]!, g);
      const y2 = inputToSourceY(sorted.boxes[o + 3]!, g);
      const classId = sorted.classIds[k]!;
      detections.push({
        label: options.labels[classId]!,
        classId,
        score: Math.min(1, Math.max(0, sorted.scores[k]!)),
        box: { x1, y1, x2, y2 },
      });
    }
    return detections;
  }
}

function isEmptyInSource(boxes: Float32Array, o: number, g: LetterboxGeometry): boolean {
  return (
    inputToSourceX(boxes[o + 2]!, g) <= inputToSourceX(boxes[o]!, g) ||
    inputToSourceY(boxes[o + 3]!, g) <= inputToSourceY(boxes[o + 1]!, g)
  );
}

function lastTwoDims(dims: readonly number[], length: number): { rows: number; cols: number } {
  const batch = dims.length === 3 ? dims[0] : 1;
  const rows = dims[dims.length - 2];
  const cols = dims[dims.length - 1];
  if (
    (dims.length !== 2 && dims.length !== 3) ||
    batch !== 1 ||
    rows === undefined ||
    cols === undefined ||
    rows * cols !== length
  ) {
    throw new DetectorError(
      'DETECTOR_ERR_OUTPUT_SHAPE',
      `dims ${JSON.stringify(dims)} with ${length} values`,
    );
  }
  return { rows, cols };
}

function checkClassCount(nc: number, labels: readonly string[], dims: readonly number[], what: string): void {
  if (nc !== labels.length) {
    throw new DetectorError(
      'DETECTOR_ERR_OUTPUT_SHAPE',
      `${what}; dims ${JSON.stringify(dims)} give ${nc} classes but there are ${labels.length} labels`,
    );
  }
}

function classThresholds(options: DecodeOptions): Float32Array {
  const thr = new Float32Array(options.labels.length).fill(options.confidence);
  const perLabel = options.perLabel;
  if (perLabel) {
    options.labels.forEach((label, c) => {
      const t = perLabel[label];
      if (t !== undefined) thr[c] = t;
    });
  }
  return thr;
}

function minOf(a: Float32Array): number {
  let m = Number.POSITIVE_INFINITY;
  for (const v of a) if (v < m) m = v;
  return m;
}
