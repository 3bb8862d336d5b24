import { crc32, deflateSync } from 'node:zlib';
import type { ModelInput } from '@storevision/contracts';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isDetectorError } from './errors.ts';
import {
  createInputBuffer,
  decodeImage,
  float32ToFloat16Bits,
  preprocess,
  readImageSize,
  resolveInputSpec,
} from './preprocess.ts';
import { ultralyticsInput } from './ultralytics.ts';

const input = (patch: Partial<ModelInput> = {}): ModelInput => ultralyticsInput(64, 64, patch);

/** A 100x50 PNG of one colour: letterboxed into 64x64 it is 64x32 with 16 grey rows above and below. */
const solidPng = (width = 100, height = 50, rgb = { r: 200, g: 100, b: 50 }) =>
  sharp({ create: { width, height, channels: 3, background: rgb } })
    .png()
    .toBuffer();

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** A PNG whose header claims width x height but holds almost no pixel data: a decompression bomb's shape. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('preprocess', () => {
  it('letterboxes into NCHW RGB float32, normalised, grey 114 padding centred', async () => {
    const spec = resolveInputSpec(input());
    const { tensor, geometry } = await preprocess(await solidPng(), spec);
    expect(geometry).toMatchObject({
      resizedWidth: 64,
      resizedHeight: 32,
      padTop: 16,
      padBottom: 16,
      padLeft: 0,
    });
    const at = (c: number, y: number, x: number) => tensor[c * 64 * 64 + y * 64 + x]!;
    for (const c of [0, 1, 2]) {
      expect(at(c, 0, 0)).toBeCloseTo(114 / 255, 6);
      expect(at(c, 15, 63)).toBeCloseTo(114 / 255, 6);
      expect(at(c, 48, 10)).toBeCloseTo(114 / 255, 6);
    }
    expect([at(0, 16, 0), at(1, 30, 40), at(2, 47, 63)].map((v) => Math.round(v * 255))).toEqual([
      200, 100, 50,
    ]);
  });

  it('writes BGR, NHWC, mean/std normalisation as the manifest says', async () => {
    const spec = resolveInputSpec(
      input({
        layout: 'NHWC',
        shape: [1, 64, 64, 3],
        colorOrder: 'BGR',
        normalize: { scale: 1, mean: [10, 20, 30], std: [2, 4, 5] },
      }),
    );
    const { tensor } = await preprocess(await solidPng(), spec);
    const px = (y: number, x: number) => Array.from(tensor.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    const f32 = (vs: number[]) => vs.map(Math.fround);
    expect(px(0, 0)).toEqual(f32([(114 - 10) / 2, (114 - 20) / 4, (114 - 30) / 5]));
    expect(px(20, 20)).toEqual(f32([(50 - 10) / 2, (100 - 20) / 4, (200 - 30) / 5]));
  });

  it('writes raw pixels for uint8 inputs and IEEE half floats for float16 inputs', async () => {
    const u8 = await preprocess(await solidPng(), resolveInputSpec(input({ dtype: 'uint8' })));
    expect(u8.tensor).toBeInstanceOf(Uint8Array);
    expect([u8.tensor[0], u8.tensor[16 * 64]]).toEqual([114, 200]);
    const f16 = await preprocess(await solidPng(), resolveInputSpec(input({ dtype: 'float16' })));
    expect(f16.tensor).toBeInstanceOf(Uint16Array);
    expect(f16.tensor[16 * 64]).toBe(float32ToFloat16Bits(200 / 255));
    expect([1, 0.5, -2, 65504, 1e-7, 1e6].map(float32ToFloat16Bits)).toEqual([
      0x3c00, 0x3800, 0xc000, 0x7bff, 0x0002, 0x7c00,
    ]);
  });

  it('stretches without padding when the manifest says stretch', async () => {
    const { tensor, geometry } = await preprocess(
      await solidPng(),
      resolveInputSpec(input({ resize: 'stretch' })),
    );
    expect([geometry.scaleX, geometry.scaleY, geometry.padTop]).toEqual([0.64, 1.28, 0]);
    expect(Math.round(tensor[0]! * 255)).toBe(200);
  });

  it('writes into the buffer it is given, and gives the same tensor from decoded RGB as from the PNG', async () => {
    const spec = resolveInputSpec(input());
    const png = await sharp({
      create: {
        width: 90,
        height: 70,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .png()
      .toBuffer();
    const target = createInputBuffer(spec);
    const fromPng = await preprocess(png, spec, { target });
    expect(fromPng.tensor).toBe(target);
    const decoded = await decodeImage(png);
    expect([decoded.width, decoded.height, decoded.data.length]).toEqual([90, 70, 90 * 70 * 3]);
    const fromRaw = await preprocess(decoded, spec);
    expect(Array.from(fromRaw.tensor)).toEqual(Array.from(target));
  });

  it('uses the EXIF-oriented size, as cv2.imread does', async () => {
    const rotated = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#808080' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect(await readImageSize(rotated)).toMatchObject({ width: 20, height: 40 });
    const { geometry } = await preprocess(rotated, resolveInputSpec(input()));
    expect([geometry.srcWidth, geometry.srcHeight, geometry.resizedWidth, geometry.resizedHeight]).toEqual([
      20, 40, 32, 64,
    ]);
  });

  it('refuses an image above the pixel limit from its header, before decoding', async () => {
    const spec = resolveInputSpec(input());
    const bomb = pngHeaderOnly(50_000, 50_000); // 2.5 gigapixels in under 100 bytes
    const err = await rejection(preprocess(bomb, spec));
    expect(isDetectorError(err, 'DETECTOR_ERR_IMAGE_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toContain('50000x50000');
    const small = await rejection(preprocess(await solidPng(), spec, { maxPixels: 4_999 }));
    expect(isDetectorError(small, 'DETECTOR_ERR_IMAGE_TOO_LARGE')).toBe(true);
  });

  it('refuses bytes that are not a JPEG or PNG', async () => {
    const spec = resolveInputSpec(input());
    const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .webp()
      .toBuffer();
    for (const bad of [Buffer.from('not an image'), webp]) {
      expect(isDetectorError(await rejection(preprocess(bad, spec)), 'DETECTOR_ERR_UNSUPPORTED_IMAGE')).toBe(
        true,
      );
    }
  });

  it('refuses inputs without a fixed size', () => {
    expect(() => resolveInputSpec(input({ shape: [1, 3, 'height', 'width'] }))).toThrow(
      /fixed height and width/,
    );
  });
});
