import type { Box } from '@storevision/contracts';

/**
 * A person's colours, for telling people apart when boxes alone cannot (two shoppers crossing in
 * a doorway, someone reappearing after an occlusion). The mean colour of three bands of the box —
 * hair/head, torso, legs — sampled in its middle 60 % of width: nine numbers in 0–1, computed from
 * the frame the edge already decoded, for a few hundred pixel reads per person. A learned ReID
 * embedding (BoT-SORT, DeepSORT) does this better; colour is what a 2-core box can afford per frame.
 */

/** Raw interleaved RGB pixels (as sharp's `raw()` gives them). */
export interface RgbPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Bands of the box height: [from, to]. */
const BANDS: ReadonlyArray<readonly [number, number]> = [
  [0.02, 0.15],
  [0.2, 0.5],
  [0.58, 0.88],
];
const SAMPLES_PER_AXIS = 8;

/**
 * The descriptor of `box` (in the original frame's pixels) from `image`, a decoded copy of that
 * frame at any size (`frameWidth`×`frameHeight` is the original's). Undefined when the box is too
 * small in the decoded image to say anything.
 */
export function appearanceOf(
  image: RgbPixels,
  frameWidth: number,
  frameHeight: number,
  box: Box,
): number[] | undefined {
  const sx = image.width / frameWidth;
  const sy = image.height / frameHeight;
  const x1 = box.x1 * sx;
  const x2 = box.x2 * sx;
  const y1 = box.y1 * sy;
  const y2 = box.y2 * sy;
  const w = x2 - x1;
  const h = y2 - y1;
  if (w < 3 || h < 8) return undefined;
  const out: number[] = [];
  const c = image.channels;
  for (const [from, to] of BANDS) {
    let r = 0;
    let g = 0;
    let b = 0;
    let n = 0;
    for (let j = 0; j < SAMPLES_PER_AXIS; j++) {
      const y = Math.floor(y1 + h * (from + ((to - from) * (j + 0.5)) / SAMPLES_PER_AXIS));
      if (y < 0 || y >= image.height) continue;
      for (let i = 0; i < SAMPLES_PER_AXIS; i++) {
        const x = Math.floor(x1 + w * (0.2 + (0.6 * (i + 0.5)) / SAMPLES_PER_AXIS));
        if (x < 0 || x >= image.width) continue;
        const k = (y * image.width + x) * c;
        r += image.data[k]!;
        g += image.data[k + 1]!;
        b += image.data[k + 2]!;
        n++;
      }
    }
    if (n === 0) return undefined;
    out.push(round3(r / n / 255), round3(g / n / 255), round3(b / n / 255));
  }
  return out;
}

/** Mean absolute difference of two descriptors (0 same colours, ~0.3 clearly different clothes). */
export function appearanceDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  if (n === 0) return 1;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(a[i]! - b[i]!);
  return s / n;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
