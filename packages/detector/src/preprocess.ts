import type { ModelInput } from '@storevision/contracts';
import sharp from 'sharp';
import { DetectorError } from './errors.ts';
import { computeLetterbox, type LetterboxGeometry } from './letterbox.ts';

/**
 * Image → model input tensor, following the manifest's `input` section.
 *
 * libvips decodes and resizes in one pass (a JPEG is shrunk in the DCT when the reduction is 2× or
 * more, which is most of the decode cost saved on 1080p+ camera frames); the letterbox padding is
 * not drawn by libvips but written straight into the tensor, so each frame's pixels are copied
 * once, from sharp's small resized buffer into the caller's preallocated tensor.
 */

/** Default refusal limit: 40 megapixels, far above any camera, far below a decompression bomb. */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/**
 * Resampling kernel. `linear` is the closest libvips kernel to the cv2 `INTER_LINEAR` resize that
 * Ultralytics trains and validates with (see `real-yolov8n.int.test.ts`).
 */
export const DEFAULT_RESIZE_KERNEL = 'linear' satisfies keyof sharp.KernelEnum;

/** An already-decoded image: interleaved 8-bit RGB, `width * height * 3` bytes. */
export interface RawRgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

export type InputTensorData = Float32Array | Uint8Array | Uint16Array;

/** The manifest's `input`, resolved into numbers the hot loop can use. */
export interface InputSpec {
  name: string;
  width: number;
  height: number;
  layout: 'NCHW' | 'NHWC';
  dtype: 'float32' | 'float16' | 'uint8';
  /** Tensor dims with the batch fixed to 1. */
  dims: number[];
  elementCount: number;
  /** Source channel (0 = R) for each tensor channel. */
  channelSource: [number, number, number];
  /** Tensor value = pixel * mul[c] + add[c] (ignored for uint8 inputs, which take raw pixels). */
  mul: [number, number, number];
  add: [number, number, number];
  resize: 'letterbox' | 'stretch';
  padValue: number;
  padCenter: boolean;
}

export function resolveInputSpec(input: ModelInput): InputSpec {
  const shape = input.shape;
  const withBatch = shape.length === 4 ? shape : [1, ...shape];
  const [, a, b, c] = withBatch;
  const [channels, height, width] = input.layout === 'NCHW' ? [a, b, c] : [c, a, b];
  if (typeof width !== 'number' || typeof height !== 'number' || width <= 0 || height <= 0) {
    throw new DetectorError(
      'DETECTOR_ERR_UNSUPPORTED_INPUT',
      `input ${input.name} needs a fixed height and width, got shape ${JSON.stringify(shape)}`,
    );
  }
  if (channels !== 3 && channels !== -1 && typeof channels !== 'string') {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_INPUT', `input ${input.name} must have 3 channels`);
  }
  const dims = input.layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  if (shape.length === 3) dims.shift();
  const { scale, mean, std } = input.normalize;
  const mul: [number, number, number] = [scale / std[0], scale / std[1], scale / std[2]];
  const add: [number, number, number] = [-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]];
  return {
    name: input.name,
    width,
    height,
    layout: input.layout,
    dtype: input.dtype,
    dims,
    elementCount: width * height * 3,
    channelSource: input.colorOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0],
    mul,
    add,
    resize: input.resize,
    padValue: input.padValue,
    padCenter: input.padCenter,
  };
}

/** A tensor buffer of the right type and size for `spec`, to be reused frame after frame. */
export function createInputBuffer(spec: InputSpec): InputTensorData {
  if (spec.dtype === 'uint8') return new Uint8Array(spec.elementCount);
  if (spec.dtype === 'float16') return new Uint16Array(spec.elementCount);
  return new Float32Array(spec.elementCount);
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this, from the header, before decoding. @defaultValue 40_000_000 */
  maxPixels?: number;
}

/**
 * Reads the header only and refuses oversized or unreadable images, so a decompression bomb never
 * reaches the decoder. Returns the size after EXIF orientation (what cv2.imread would return).
 */
export async function readImageSize(image: Buffer, options: DecodeOptions = {}) {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  let meta: sharp.Metadata;
  try {
    // No sharp limit here: the header read allocates nothing, and our own check below gives the
    // caller a typed error instead of sharp's generic one.
    meta = await sharp(image, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_IMAGE', (err as Error).message, { cause: err });
  }
  if (meta.format !== 'jpeg' && meta.format !== 'png') {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_IMAGE', `format ${meta.format}`);
  }
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    throw new DetectorError(
      'DETECTOR_ERR_IMAGE_TOO_LARGE',
      `${meta.width}x${meta.height} is ${pixels} pixels, limit ${maxPixels}`,
    );
  }
  return { width: meta.autoOrient.width, height: meta.autoOrient.height, maxPixels };
}

/**
 * Decodes a JPEG/PNG once into full-size RGB, for callers that feed the same frame to several
 * models (each then resizes from it without decoding again).
 */
export async function decodeImage(image: Buffer, options: DecodeOptions = {}): Promise<RawRgbImage> {
  const { maxPixels } = await readImageSize(image, options);
  try {
    const { data, info } = await sharp(image, {
      autoOrient: true,
      limitInputPixels: maxPixels,
      failOn: 'error',
    })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_IMAGE', (err as Error).message, { cause: err });
  }
}

export interface PreprocessOptions extends DecodeOptions {
  /** Tensor to write into (from `createInputBuffer`); a new one is allocated when absent. */
  target?: InputTensorData;
  /** libvips resampling kernel. @defaultValue 'linear' */
  kernel?: keyof sharp.KernelEnum;
}

export interface PreprocessResult {
  tensor: InputTensorData;
  geometry: LetterboxGeometry;
  /** Header read, decode and resize (one libvips pipeline), in ms. */
  decodeMs: number;
  /** Padding, layout change and normalisation into the tensor, in ms. */
  preprocessMs: number;
}

/** Encoded image (JPEG/PNG) or decoded RGB → input tensor plus the geometry to map boxes back. */
export async function preprocess(
  image: Buffer | RawRgbImage,
  spec: InputSpec,
  options: PreprocessOptions = {},
): Promise<PreprocessResult> {
  const t0 = performance.now();
  const kernel = options.kernel ?? DEFAULT_RESIZE_KERNEL;
  let pipeline: sharp.Sharp;
  let srcWidth: number;
  let srcHeight: number;
  if (Buffer.isBuffer(image)) {
    const size = await readImageSize(image, options);
    srcWidth = size.width;
    srcHeight = size.height;
    pipeline = sharp(image, { autoOrient: true, limitInputPixels: size.maxPixels, failOn: 'error' });
  } else {
    if (image.channels !== 3 || image.data.length !== image.width * image.height * 3) {
      throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_IMAGE', 'raw image must be interleaved 8-bit RGB');
    }
    srcWidth = image.width;
    srcHeight = image.height;
    pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  }
  const geometry = computeLetterbox(srcWidth, srcHeight, spec.width, spec.height, {
    mode: spec.resize,
    center: spec.padCenter,
  });
  if (geometry.resizedWidth !== srcWidth || geometry.resizedHeight !== srcHeight) {
    pipeline = pipeline.resize(geometry.resizedWidth, geometry.resizedHeight, { fit: 'fill', kernel });
  }
  let pixels: Buffer;
  try {
    const out = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (out.info.width !== geometry.resizedWidth || out.info.height !== geometry.resizedHeight) {
      throw new Error(`resize produced ${out.info.width}x${out.info.height}`);
    }
    pixels = out.data;
  } catch (err) {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_IMAGE', (err as Error).message, { cause: err });
  }
  const t1 = performance.now();
  const tensor = options.target ?? createInputBuffer(spec);
  if (tensor.length !== spec.elementCount) {
    throw new DetectorError('DETECTOR_ERR_UNSUPPORTED_INPUT', `target holds ${tensor.length} values`);
  }
  writeTensor(pixels, geometry, spec, tensor);
  return { tensor, geometry, decodeMs: t1 - t0, preprocessMs: performance.now() - t1 };
}

/**
 * Writes resized RGB pixels, padded per `geometry`, into `tensor` in the spec's layout, colour
 * order, normalisation and dtype. Exported for callers that resize by other means.
 */
export function writeTensor(
  pixels: Uint8Array,
  geometry: LetterboxGeometry,
  spec: InputSpec,
  tensor: InputTensorData,
): void {
  if (spec.dtype === 'float16') {
    const f32 = new Float32Array(spec.elementCount);
    writeValues(pixels, geometry, spec, f32, false);
    const u16 = tensor as Uint16Array;
    for (let i = 0; i < f32.length; i++) u16[i] = float32ToFloat16Bits(f32[i]!);
    return;
  }
  writeValues(pixels, geometry, spec, tensor as Float32Array | Uint8Array, spec.dtype === 'uint8');
}

function writeValues(
  pixels: Uint8Array,
  g: LetterboxGeometry,
  spec: InputSpec,
  out: Float32Array | Uint8Array,
  raw: boolean,
): void {
  const W = spec.width;
  const H = spec.height;
  const plane = W * H;
  const [s0, s1, s2] = spec.channelSource;
  const [m0, m1, m2] = raw ? [1, 1, 1] : spec.mul;
  const [a0, a1, a2] = raw ? [0, 0, 0] : spec.add;
  const pad = spec.padValue;
  const p0 = pad * m0 + a0;
  const p1 = pad * m1 + a1;
  const p2 = pad * m2 + a2;
  const left = g.padLeft;
  const right = left + g.resizedWidth;
  const top = g.padTop;
  const bottom = top + g.resizedHeight;
  const rowBytes = g.resizedWidth * 3;
  const nchw = spec.layout === 'NCHW';
  for (let y = 0; y < H; y++) {
    const inContent = y >= top && y < bottom;
    const srcRow = (y - top) * rowBytes - left * 3;
    for (let x = 0; x < W; x++) {
      let v0: number;
      let v1: number;
      let v2: number;
      if (inContent && x >= left && x < right) {
        const si = srcRow + x * 3;
        v0 = pixels[si + s0]! * m0 + a0;
        v1 = pixels[si + s1]! * m1 + a1;
        v2 = pixels[si + s2]! * m2 + a2;
      } else {
        v0 = p0;
        v1 = p1;
        v2 = p2;
      }
      if (nchw) {
        const di = y * W + x;
        out[di] = v0;
        out[di + plane] = v1;
        out[di + 2 * plane] = v2;
      } else {
        const di = (y * W + x) * 3;
        out[di] = v0;
        out[di + 1] = v1;
        out[di + 2] = v2;
      }
    }
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even (for float16 model inputs). */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}
