import { describe, expect, it } from 'vitest';
import { iou, type NmsCandidates, nms } from './nms.ts';

function candidates(rows: Array<[number, number, number, number, number, number]>): NmsCandidates {
  // rows: x1, y1, x2, y2, score, classId — given best first.
  return {
    boxes: Float32Array.from(rows.flatMap((r) => r.slice(0, 4))),
    scores: Float32Array.from(rows.map((r) => r[4])),
    classIds: Int32Array.from(rows.map((r) => r[5])),
    count: rows.length,
  };
}

describe('nms', () => {
  it('keeps overlapping boxes of different classes (class-aware)', () => {
    const c = candidates([
      [0, 0, 10, 10, 0.9, 0],
      [0, 0, 10, 10, 0.8, 1],
    ]);
    expect(nms(c, { iouThreshold: 0.45, maxDetections: 300 })).toEqual([0, 1]);
    expect(nms(c, { iouThreshold: 0.45, maxDetections: 300, classAgnostic: true })).toEqual([0]);
  });

  it('drops a lower-scored same-class box above the IoU threshold, keeps one at or below it', () => {
    // [0,0,10,10] vs [0,0,10,5]: IoU 0.5; vs [5,0,15,10]: IoU 50/150 = 1/3.
    const c = candidates([
      [0, 0, 10, 10, 0.9, 0],
      [0, 0, 10, 5, 0.8, 0],
      [5, 0, 15, 10, 0.7, 0],
    ]);
    expect(nms(c, { iouThreshold: 0.45, maxDetections: 300 })).toEqual([0, 2]);
    // Strictly greater than the threshold suppresses (torchvision): IoU exactly 0.5 survives 0.5.
    expect(nms(c, { iouThreshold: 0.5, maxDetections: 300 })).toEqual([0, 1, 2]);
  });

  it('lets a suppressed box no longer suppress others (greedy order)', () => {
    // B overlaps A and C; A suppresses B, so C (which only overlaps B) survives.
    const c = candidates([
      [0, 0, 10, 10, 0.9, 0],
      [4, 0, 14, 10, 0.8, 0],
      [8, 0, 18, 10, 0.7, 0],
    ]);
    expect(nms(c, { iouThreshold: 0.3, maxDetections: 300 })).toEqual([0, 2]);
  });

  it('stops at maxDetections', () => {
    const c = candidates([
      [0, 0, 1, 1, 0.9, 0],
      [5, 5, 6, 6, 0.8, 0],
      [9, 9, 10, 10, 0.7, 0],
    ]);
    expect(nms(c, { iouThreshold: 0.5, maxDetections: 2 })).toEqual([0, 1]);
  });

  it('computes IoU', () => {
    expect(iou({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 5, y1: 0, x2: 15, y2: 10 })).toBeCloseTo(1 / 3, 12);
    expect(iou({ x1: 0, y1: 0, x2: 1, y2: 1 }, { x1: 2, y1: 2, x2: 3, y2: 3 })).toBe(0);
  });
});
