/**
 * Letterbox geometry, computed exactly like Ultralytics' `LetterBox` (ultralytics/data/augment.py)
 * and undone exactly like its `scale_boxes`, so that boxes from an Ultralytics export land on the
 * same pixels as in Python. Pure arithmetic: the pixels are moved in `preprocess.ts`.
 */

export type ResizeMode = 'letterbox' | 'stretch';

export interface LetterboxGeometry {
  /** Size of the source image (after EXIF orientation), in pixels. */
  srcWidth: number;
  srcHeight: number;
  /** Size of the model input, in pixels. */
  inputWidth: number;
  inputHeight: number;
  /** Size the source is resized to before padding. */
  resizedWidth: number;
  resizedHeight: number;
  /** Input pixels per source pixel. Equal for `letterbox` (Ultralytics' gain `r`). */
  scaleX: number;
  scaleY: number;
  /** Padding in input pixels; content starts at (padLeft, padTop). */
  padLeft: number;
  padTop: number;
  padRight: number;
  padBottom: number;
}

/**
 * Python 3's `round()`: halves go to the even neighbour. Ultralytics rounds the resized size with
 * it, and `Math.round` would differ by one pixel whenever `w * r` ends in exactly .5.
 */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface LetterboxOptions {
  mode: ResizeMode;
  /** Centre the resized image (Ultralytics) or put it at the top-left. @defaultValue true */
  center?: boolean;
}

export function computeLetterbox(
  srcWidth: number,
  srcHeight: number,
  inputWidth: number,
  inputHeight: number,
  options: LetterboxOptions,
): LetterboxGeometry {
  if (options.mode === 'stretch') {
    return {
      srcWidth,
      srcHeight,
      inputWidth,
      inputHeight,
      resizedWidth: inputWidth,
      resizedHeight: inputHeight,
      scaleX: inputWidth / srcWidth,
      scaleY: inputHeight / srcHeight,
      padLeft: 0,
      padTop: 0,
      padRight: 0,
      padBottom: 0,
    };
  }
  const center = options.center ?? true;
  const r = Math.min(inputHeight / srcHeight, inputWidth / srcWidth);
  // Never let rounding push the content past the input (or to zero) on extreme aspect ratios.
  const resizedWidth = Math.min(inputWidth, Math.max(1, roundHalfEven(srcWidth * r)));
  const resizedHeight = Math.min(inputHeight, Math.max(1, roundHalfEven(srcHeight * r)));
  let dw = inputWidth - resizedWidth;
  let dh = inputHeight - resizedHeight;
  if (center) {
    dw /= 2;
    dh /= 2;
  }
  // Ultralytics: top = round(dh - 0.1), left = round(dw - 0.1): an odd pad puts the extra pixel
  // at the bottom/right. (dh - 0.1 is never a tie, so Math.round equals Python's round here;
  // max(0, …) because Math.round(-0.1) is -0.)
  const padTop = center ? Math.max(0, Math.round(dh - 0.1)) : 0;
  const padLeft = center ? Math.max(0, Math.round(dw - 0.1)) : 0;
  return {
    srcWidth,
    srcHeight,
    inputWidth,
    inputHeight,
    resizedWidth,
    resizedHeight,
    scaleX: r,
    scaleY: r,
    padLeft,
    padTop,
    padRight: inputWidth - resizedWidth - padLeft,
    padBottom: inputHeight - resizedHeight - padTop,
  };
}

/** Maps an x coordinate in input pixels back to the source image, clipped to it (Ultralytics `scale_boxes`). */
export function inputToSourceX(x: number, g: LetterboxGeometry): number {
  const v = (x - g.padLeft) / g.scaleX;
  return Math.min(Math.max(v, 0), g.srcWidth);
}

/** Maps a y coordinate in input pixels back to the source image, clipped to it. */
export function inputToSourceY(y: number, g: LetterboxGeometry): number {
  const v = (y - g.padTop) / g.scaleY;
  return Math.min(Math.max(v, 0), g.srcHeight);
}
