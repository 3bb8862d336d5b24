import {
  computeLetterbox,
  DEFAULT_RESIZE_KERNEL,
  DetectorError,
  type InputSpec,
  type LetterboxGeometry,
  type RawRgbImage,
  readImageSize,
} from '@storevision/detector';
import sharp from 'sharp';

/**
 * Decode once per frame, for every model that looks at it.
 *
 * The frame is decoded straight to the size the largest model needs (its letterboxed size), in the
 * same libvips pipeline the detector uses for one model, so a JPEG is shrunk on load (libvips
 * decodes at 1/2, 1/4 or 1/8 in the DCT when the reduction allows) instead of being decoded at full
 * resolution and resized. The model needing that size takes the pixels as they are; smaller models
 * resize from them (cheap: a few hundred thousand pixels). Every model's geometry is computed
 * against the original frame, so boxes come back in the original's pixels exactly as Ultralytics'
 * `scale_boxes` would put them.
 */

export interface DecodedFrame {
  /** Size of the frame after EXIF orientation. */
  width: number;
  height: number;
  /** The decoded pixels, at most the frame's size. */
  image: RawRgbImage;
  /** Per model spec (same order): how its input is fitted to the original frame. */
  geometries: LetterboxGeometry[];
}

export async function decodeForModels(
  bytes: Buffer,
  specs: readonly InputSpec[],
  options: { maxPixels: number; kernel?: keyof sharp.KernelEnum },
): Promise<DecodedFrame> {
  const { width, height, maxPixels } = await readImageSize(bytes, { maxPixels: options.maxPixels });
  const geometries = specs.map((s) =>
    computeLetterbox(width, height, s.width, s.height, { mode: s.resize, center: s.padCenter }),
  );
  // The geometry with the most content pixels sets the decode size, if it covers every other one.
  let target = { w: width, h: height };
  const largest = geometries.reduce<LetterboxGeometry | undefined>(
    (a, g) => (!a || g.resizedWidth * g.resizedHeight > a.resizedWidth * a.resizedHeight ? g : a),
    undefined,
  );
  if (
    largest &&
    largest.resizedWidth <= width &&
    largest.resizedHeight <= height &&
    geometries.every(
      (g) => g.resizedWidth <= largest.resizedWidth && g.resizedHeight <= largest.resizedHeight,
    )
  ) {
    target = { w: largest.resizedWidth, h: largest.resizedHeight };
  }
  let pipeline = sharp(bytes, { autoOrient: true, limitInputPixels: maxPixels, failOn: 'error' });
  if (target.w !== width || target.h !== height) {
    pipeline = pipeline.resize(target.w, target.h, {
      fit: 'fill',
      kernel: options.kernel ?? DEFAULT_RESIZE_KERNEL,
    });
  }
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_IMAGE', (err as Error).message, { cause: err });
  }
  const { data, info } = out;
  return { width, height, image: { data, width: info.width, height: info.height, channels: 3 }, geometries };
}

/** The resized pixels one model's geometry needs, from the decoded frame (no copy when sizes match). */
export async function pixelsFor(
  frame: DecodedFrame,
  geometry: LetterboxGeometry,
  kernel: keyof sharp.KernelEnum = DEFAULT_RESIZE_KERNEL,
): Promise<Uint8Array> {
  const { image } = frame;
  if (image.width === geometry.resizedWidth && image.height === geometry.resizedHeight) return image.data;
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(geometry.resizedWidth, geometry.resizedHeight, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
}
