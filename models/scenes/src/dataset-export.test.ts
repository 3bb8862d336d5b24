import type { GtObject } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { yoloLabelLines } from './dataset-export.ts';

const person = (trackId: number, visible: number, box = { x1: 100, y1: 40, x2: 140, y2: 200 }): GtObject => ({
  trackId,
  classId: 0,
  label: 'person',
  box,
  visible,
  anchor: [(box.x1 + box.x2) / 2, box.y2],
});

describe('yoloLabelLines', () => {
  const objects = [person(1, 1), person(2, 0.3), person(3, 0.15), person(4, 0.05)];

  it('labels only objects at least minVisible visible, with the whole (amodal) box', () => {
    const opts = { minHeightPx: 5, scale: 1 };
    expect(yoloLabelLines(objects, 640, 480, { ...opts, minVisible: 0.25 })).toHaveLength(2);
    const lines = yoloLabelLines(objects, 640, 480, { ...opts, minVisible: 0.1 });
    expect(lines).toHaveLength(3);
    // A person 15 % visible keeps the box of the whole figure, not of the part that shows.
    expect(lines[2]).toBe('0 0.187500 0.250000 0.062500 0.333333');
  });

  it('drops boxes shorter than minHeightPx after downscaling', () => {
    const small = person(5, 1, { x1: 10, y1: 10, x2: 14, y2: 30 }); // 20 px tall
    expect(yoloLabelLines([small], 640, 480, { minVisible: 0.1, minHeightPx: 5, scale: 0.3 })).toHaveLength(
      1,
    );
    expect(yoloLabelLines([small], 640, 480, { minVisible: 0.1, minHeightPx: 5, scale: 0.2 })).toHaveLength(
      0,
    );
  });
});
