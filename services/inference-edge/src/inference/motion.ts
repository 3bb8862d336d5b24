/**
 * Motion gating (Frigate's idea): a camera frame that looks like the last one detection ran on is
 * not run through the models again; its result repeats that frame's detections. A store at night,
 * or an aisle nobody walks down, then costs a decode and a thumbnail per frame instead of an
 * inference.
 *
 * The test is on a small grey thumbnail (`THUMB_HEIGHT` rows, block averages of the decoded frame,
 * so sensor noise averages out): a pixel has moved when it differs from the reference by more than
 * `pixelThreshold` grey levels after the mean difference of the whole picture is taken off (a light
 * flicker or an exposure step moves every pixel the same way and is not motion). The frame has
 * motion when at least `minChangedFraction` of the pixels moved. The reference is the thumbnail of
 * the frame detection last ran on, not of the previous frame, so slow motion adds up until it counts.
 */

/** Rows of the motion thumbnail (Frigate's `frame_height` is 100 at its default). */
export const THUMB_HEIGHT = 64;

export interface MotionThumbnail {
  width: number;
  height: number;
  /** Grey levels 0–255, row-major. */
  data: Uint8Array;
}

export interface MotionOptions {
  /** Grey levels a thumbnail pixel must change by to count as moved. @defaultValue 20 */
  pixelThreshold: number;
  /** Fraction of thumbnail pixels that must move (at least) for the frame to have motion. @defaultValue 0.002 */
  minChangedFraction: number;
}

/** The grey thumbnail of an RGB image (block averages; width keeps the aspect ratio). */
export function motionThumbnail(image: {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}): MotionThumbnail {
  const { data, width, height, channels } = image;
  const th = Math.max(1, Math.min(THUMB_HEIGHT, height));
  const tw = Math.max(1, Math.min(width, Math.round((width * th) / height)));
  // Weighted sums of BT.601 luma (77 R + 150 G + 29 B, i.e. 256 × grey) per cell; a cell's pixel
  // count is its columns × its rows, so the inner loop only adds.
  const sums = new Uint32Array(tw * th);
  const column = new Uint32Array(width);
  const perColumn = new Uint32Array(tw);
  for (let x = 0; x < width; x++) {
    const c = Math.min(tw - 1, Math.floor((x * tw) / width));
    column[x] = c;
    perColumn[c]! += 1;
  }
  const perRow = new Uint32Array(th);
  for (let y = 0; y < height; y++) {
    const r = Math.min(th - 1, Math.floor((y * th) / height));
    perRow[r]! += 1;
    const row = r * tw;
    let p = y * width * channels;
    for (let x = 0; x < width; x++, p += channels) {
      const cell = row + column[x]!;
      sums[cell] = sums[cell]! + 77 * data[p]! + 150 * data[p + 1]! + 29 * data[p + 2]!;
    }
  }
  const out = new Uint8Array(tw * th);
  for (let r = 0; r < th; r++)
    for (let c = 0; c < tw; c++)
      out[r * tw + c] = Math.round(sums[r * tw + c]! / (256 * Math.max(1, perRow[r]! * perColumn[c]!)));
  return { width: tw, height: th, data: out };
}

/**
 * Fraction (0–1) of pixels that moved between two thumbnails, after the mean difference is taken
 * off. Thumbnails of different sizes (the camera changed resolution) count as all moved.
 */
export function movedFraction(a: MotionThumbnail, b: MotionThumbnail, pixelThreshold: number): number {
  if (a.width !== b.width || a.height !== b.height) return 1;
  const n = a.data.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += b.data[i]! - a.data[i]!;
  mean /= n;
  let moved = 0;
  for (let i = 0; i < n; i++) if (Math.abs(b.data[i]! - a.data[i]! - mean) > pixelThreshold) moved++;
  return moved / n;
}
