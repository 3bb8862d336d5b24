import type { Detection } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { type DecodeOptions, decodeYolov5, decodeYolov8, resolveThresholds } from './decode.ts';
import { isDetectorError } from './errors.ts';
import { computeLetterbox } from './letterbox.ts';

// A 200x100 image letterboxed into 64x64: r = 0.32, content 64x32, 16 px grey above and below.
const geometry = computeLetterbox(200, 100, 64, 64, { mode: 'letterbox' });
const labels = ['person', 'cart'];
const base: DecodeOptions = { labels, geometry, confidence: 0.25, iou: 0.45, maxDetections: 300 };

// Anchors in input pixels: cx, cy, w, h, person score, cart score.
const anchors: Array<[number, number, number, number, number, number]> = [
  [32, 32, 32, 16, 0.9, 0.1], // person → (50, 25, 150, 75) in the image
  [32, 32, 32, 16, 0.1, 0.8], // a cart on the same spot: another class, survives NMS
  [33, 32, 32, 16, 0.7, 0.0], // the same person again, suppressed
  [60, 32, 20, 8, 0.3, 0.0], // person running off the right edge → x2 clipped to 200
  [10, 30, 8, 8, 0.1, 0.2], // a weak cart, below 0.25
  [32, 5, 10, 6, 0.95, 0.0], // wholly in the top padding: nothing in the image
];

/** `[1, 4+nc, N]`, channel-major. */
function yolov8Tensor(): { data: Float32Array; dims: number[] } {
  const n = anchors.length;
  const data = new Float32Array(6 * n);
  anchors.forEach((a, i) => {
    a.forEach((v, row) => {
      data[row * n + i] = v;
    });
  });
  return { data, dims: [1, 6, n] };
}

/** `[1, N, 5+nc]`: objectness 1 except where the test says, so score = objectness × class. */
function yolov5Tensor(objectness: number[]): { data: Float32Array; dims: number[] } {
  const data = new Float32Array(anchors.length * 7);
  anchors.forEach(([cx, cy, w, h, p, c], i) => {
    data.set([cx, cy, w, h, objectness[i] ?? 1, p, c], i * 7);
  });
  return { data, dims: [1, anchors.length, 7] };
}

function summary(ds: Detection[]) {
  const r = (v: number) => +v.toFixed(4);
  return ds.map((d) => [d.label, d.classId, r(d.score), r(d.box.x1), r(d.box.y1), r(d.box.x2), r(d.box.y2)]);
}

describe('decodeYolov8', () => {
  it('keeps the best class per anchor, thresholds, runs class-aware NMS and maps back through the letterbox', () => {
    const { data, dims } = yolov8Tensor();
    expect(summary(decodeYolov8(data, dims, base))).toEqual([
      ['person', 0, 0.9, 50, 25, 150, 75],
      ['cart', 1, 0.8, 50, 25, 150, 75],
      ['person', 0, 0.3, 156.25, 37.5, 200, 62.5],
    ]);
  });

  it('applies per-label thresholds above and below the global one', () => {
    const { data, dims } = yolov8Tensor();
    const ds = decodeYolov8(data, dims, { ...base, perLabel: { cart: 0.15, person: 0.5 } });
    expect(summary(ds)).toEqual([
      ['person', 0, 0.9, 50, 25, 150, 75],
      ['cart', 1, 0.8, 50, 25, 150, 75],
      ['cart', 1, 0.2, 18.75, 31.25, 43.75, 56.25],
    ]);
  });

  it('honours maxDetections and a higher confidence', () => {
    const { data, dims } = yolov8Tensor();
    // The padding-only box scores best but is dropped before NMS, so it does not take the slot.
    expect(summary(decodeYolov8(data, dims, { ...base, maxDetections: 1 }))).toEqual([
      ['person', 0, 0.9, 50, 25, 150, 75],
    ]);
    expect(decodeYolov8(data, dims, { ...base, confidence: 0.85 })).toHaveLength(1);
  });

  it('suppresses across classes when class-agnostic', () => {
    const { data, dims } = yolov8Tensor();
    expect(decodeYolov8(data, dims, { ...base, classAgnostic: true }).map((d) => d.label)).toEqual([
      'person',
      'person',
    ]);
  });

  it('refuses an output whose class rows do not match the labels', () => {
    const { data, dims } = yolov8Tensor();
    let caught: unknown;
    try {
      decodeYolov8(data, dims, { ...base, labels: ['person'] });
    } catch (err) {
      caught = err;
    }
    expect(isDetectorError(caught, 'DETECTOR_ERR_OUTPUT_SHAPE')).toBe(true);
    expect(() => decodeYolov8(data, [1, 6, 5], base)).toThrow(/dims/);
  });
});

describe('decodeYolov5', () => {
  it('scores objectness × class and maps back through the letterbox', () => {
    // Anchor 0: 0.5 × 0.9 = 0.45; anchor 3: objectness 0.2 × 0.3 falls below 0.25.
    const { data, dims } = yolov5Tensor([0.5, 1, 1, 0.2, 1, 1]);
    // Anchor 2 (0.7) now outranks anchor 0 (0.45) and suppresses it.
    expect(summary(decodeYolov5(data, dims, base))).toEqual([
      ['cart', 1, 0.8, 50, 25, 150, 75],
      ['person', 0, 0.7, 53.125, 25, 153.125, 75],
    ]);
  });

  it('refuses [1, N, 5+nc] with the wrong class count', () => {
    const { data, dims } = yolov5Tensor([]);
    expect(() => decodeYolov5(data, dims, { ...base, labels: ['a', 'b', 'c'] })).toThrow(/5\+nc/);
  });
});

describe('resolveThresholds', () => {
  const manifest = { confidence: 0.25, iou: 0.45, maxDetections: 300, perLabel: { cart: 0.4 } };
  it('uses the manifest unless the call overrides', () => {
    expect(resolveThresholds(manifest)).toEqual({
      confidence: 0.25,
      iou: 0.45,
      maxDetections: 300,
      perLabel: { cart: 0.4 },
    });
    expect(resolveThresholds(manifest, { confidence: 0.01, perLabel: {} })).toEqual({
      confidence: 0.01,
      iou: 0.45,
      maxDetections: 300,
      perLabel: {},
    });
  });
});
