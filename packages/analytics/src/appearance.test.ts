import type { Box } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { APPEARANCE_LENGTH, appearanceDistance, appearanceOf, type RgbPixels } from './appearance.ts';

type Rgb = readonly [number, number, number];
interface Figure {
  box: Box;
  torso: Rgb;
  legs: Rgb;
  /** Share of the box width the body fills (the rest is background between swinging limbs). */
  bodyWidth: number;
}

/**
 * A store floor whose brightness rises from left (×0.8) to right (×1.2), as under uneven lighting,
 * with people drawn on it: torso and legs of a body narrower than their box.
 */
function scene(width: number, height: number, figures: Figure[]): RgbPixels {
  const data = new Uint8Array(width * height * 3);
  const floor: Rgb = [120, 125, 140];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const gain = 0.8 + (0.4 * x) / width;
      let c: Rgb = floor;
      for (const f of figures) {
        const { x1, x2, y1, y2 } = f.box;
        const cx = (x1 + x2) / 2;
        const half = ((x2 - x1) * f.bodyWidth) / 2;
        if (x < cx - half || x >= cx + half || y < y1 || y >= y2) continue;
        const v = (y - y1) / (y2 - y1);
        if (v >= 0.12 && v < 0.48) c = f.torso;
        else if (v >= 0.48) c = f.legs;
      }
      const k = (y * width + x) * 3;
      for (let i = 0; i < 3; i++) data[k + i] = Math.min(255, Math.round(c[i]! * gain));
    }
  return { data, width, height, channels: 3 };
}

const GREEN_TOP: Pick<Figure, 'torso' | 'legs'> = { torso: [70, 170, 60], legs: [90, 60, 40] };
const PINK_TOP: Pick<Figure, 'torso' | 'legs'> = { torso: [210, 90, 140], legs: [50, 60, 150] };
const at = (x: number, width = 60): Box => ({ x1: x, y1: 100, x2: x + width, y2: 260 });

describe('appearanceOf / appearanceDistance', () => {
  it('the same clothes match under different light and limb spread; different clothes do not', () => {
    const img = scene(800, 400, [
      { box: at(60), bodyWidth: 0.5, ...GREEN_TOP }, // dark side of the floor
      { box: at(640, 90), bodyWidth: 0.33, ...GREEN_TOP }, // bright side, legs apart: wider box
      { box: at(360), bodyWidth: 0.5, ...PINK_TOP },
    ]);
    const left = appearanceOf(img, 800, 400, at(60))!;
    const right = appearanceOf(img, 800, 400, at(640, 90))!;
    const pink = appearanceOf(img, 800, 400, at(360))!;
    expect(left).toHaveLength(APPEARANCE_LENGTH);
    expect(appearanceDistance(left, left)).toBe(0);
    // Same clothes: ~0.37 here (the wider box shows more floor); different clothes: ~0.8.
    expect(appearanceDistance(left, right)!).toBeLessThan(0.45);
    expect(appearanceDistance(left, pink)!).toBeGreaterThan(0.7);
    expect(appearanceDistance(right, pink)!).toBeGreaterThan(0.7);
  });

  it('reads boxes in original-frame pixels from a smaller decoded copy', () => {
    const full = scene(800, 400, [{ box: at(300), bodyWidth: 0.5, ...GREEN_TOP }]);
    const half = scene(400, 200, [
      { box: { x1: 150, y1: 50, x2: 180, y2: 130 }, bodyWidth: 0.5, ...GREEN_TOP },
    ]);
    const a = appearanceOf(full, 800, 400, at(300))!;
    const b = appearanceOf(half, 800, 400, at(300))!;
    expect(appearanceDistance(a, b)!).toBeLessThan(0.15);
  });

  it('says nothing about a box too small to sample, and does not compare descriptors of different kinds', () => {
    const img = scene(400, 200, []);
    expect(appearanceOf(img, 400, 200, { x1: 10, y1: 10, x2: 12, y2: 30 })).toBeUndefined();
    expect(appearanceDistance([0.5, 0.5], [0.5, 0.5, 0])).toBeUndefined();
  });
});
