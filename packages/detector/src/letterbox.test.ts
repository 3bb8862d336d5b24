import { describe, expect, it } from 'vitest';
import { computeLetterbox, inputToSourceX, inputToSourceY, roundHalfEven } from './letterbox.ts';

describe('computeLetterbox (Ultralytics LetterBox geometry)', () => {
  it('fits a portrait photo to 640: bus.jpg 810x1080 → 480x640, 80 px grey each side', () => {
    const g = computeLetterbox(810, 1080, 640, 640, { mode: 'letterbox' });
    expect(g.scaleX).toBeCloseTo(640 / 1080, 12);
    expect(g.scaleY).toBe(g.scaleX);
    expect([g.resizedWidth, g.resizedHeight]).toEqual([480, 640]);
    expect([g.padLeft, g.padRight, g.padTop, g.padBottom]).toEqual([80, 80, 0, 0]);
  });

  it('fits a landscape photo: zidane.jpg 1280x720 → 640x360, 140 px top and bottom', () => {
    const g = computeLetterbox(1280, 720, 640, 640, { mode: 'letterbox' });
    expect([g.resizedWidth, g.resizedHeight]).toEqual([640, 360]);
    expect([g.padTop, g.padBottom]).toEqual([140, 140]);
  });

  it('puts the odd pixel of an odd pad at the bottom (top = round(dh - 0.1))', () => {
    // 640x427 at r = 1: dh = 213 / 2 = 106.5 → top round(106.4) = 106, bottom 107.
    const g = computeLetterbox(640, 427, 640, 640, { mode: 'letterbox' });
    expect([g.padTop, g.padBottom]).toEqual([106, 107]);
  });

  it("rounds the resized size like Python's round (half to even), not Math.round", () => {
    // 20x13 into 10: r = 0.5, 13 * 0.5 = 6.5 → Python round gives 6 (Math.round would give 7).
    const g = computeLetterbox(20, 13, 10, 10, { mode: 'letterbox' });
    expect(g.resizedHeight).toBe(6);
    expect([g.padTop, g.padBottom]).toEqual([2, 2]);
    expect([roundHalfEven(6.5), roundHalfEven(7.5), roundHalfEven(2.4), roundHalfEven(2.6)]).toEqual([
      6, 8, 2, 3,
    ]);
  });

  it('upscales small images (Ultralytics scaleup=True): 500x375 → 640x480', () => {
    const g = computeLetterbox(500, 375, 640, 640, { mode: 'letterbox' });
    expect(g.scaleX).toBeCloseTo(1.28, 12);
    expect([g.resizedWidth, g.resizedHeight, g.padTop]).toEqual([640, 480, 80]);
  });

  it('places the image top-left when not centred, all padding bottom/right', () => {
    const g = computeLetterbox(1280, 720, 640, 640, { mode: 'letterbox', center: false });
    expect([g.padLeft, g.padTop, g.padRight, g.padBottom]).toEqual([0, 0, 0, 280]);
  });

  it('stretches without padding, with separate x and y scales', () => {
    const g = computeLetterbox(1280, 720, 320, 320, { mode: 'stretch' });
    expect([g.scaleX, g.scaleY, g.padLeft, g.padTop]).toEqual([0.25, 320 / 720, 0, 0]);
  });

  it('maps input pixels back to the source and clips to it', () => {
    const g = computeLetterbox(1280, 720, 640, 640, { mode: 'letterbox' });
    expect(inputToSourceX(320, g)).toBe(640);
    expect(inputToSourceY(140 + 180, g)).toBe(360);
    expect(inputToSourceY(100, g)).toBe(0); // in the top pad
    expect(inputToSourceY(600, g)).toBe(720); // in the bottom pad
  });
});
