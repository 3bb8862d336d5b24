import {
  createInputBuffer,
  type InputSpec,
  preprocess,
  resolveInputSpec,
  ultralyticsInput,
  writeTensor,
} from '@storevision/detector';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeForModels, pixelsFor } from './frame-decoder.ts';

const spec = (size: number): InputSpec => resolveInputSpec(ultralyticsInput(size));

const camera = (width: number, height: number) =>
  sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 120, sigma: 40 },
    },
  })
    .jpeg({ quality: 85 })
    .toBuffer();

async function tensorVia(frame: Awaited<ReturnType<typeof decodeForModels>>, i: number, s: InputSpec) {
  const t = createInputBuffer(s);
  writeTensor(await pixelsFor(frame, frame.geometries[i]!), frame.geometries[i]!, s, t);
  return t as Float32Array;
}

/** Element-wise (vitest's deep equality is slow on million-element typed arrays). */
function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('decode once for several models', () => {
  it('decodes a 1080p JPEG straight to the letterboxed size (shrink-on-load), giving the same tensor as the one-model path', async () => {
    const jpeg = await camera(1920, 1080);
    const s320 = spec(320);
    const frame = await decodeForModels(jpeg, [s320], { maxPixels: 40e6 });
    expect([frame.width, frame.height]).toEqual([1920, 1080]);
    expect([frame.image.width, frame.image.height]).toEqual([320, 180]);
    const ours = await tensorVia(frame, 0, s320);
    const ref = (await preprocess(jpeg, s320)).tensor as Float32Array;
    expect(maxDiff(ours, ref)).toBe(0);
  });

  it('decodes for the largest model and resizes from it for the smaller one', async () => {
    const jpeg = await camera(960, 540);
    const [s320, s640] = [spec(320), spec(640)];
    const frame = await decodeForModels(jpeg, [s320, s640], { maxPixels: 40e6 });
    expect([frame.image.width, frame.image.height]).toEqual([640, 360]);
    expect(frame.geometries.map((g) => [g.resizedWidth, g.resizedHeight, g.srcWidth])).toEqual([
      [320, 180, 960],
      [640, 360, 960],
    ]);
    expect(
      maxDiff(await tensorVia(frame, 1, s640), (await preprocess(jpeg, s640)).tensor as Float32Array),
    ).toBe(0);
    // The smaller model's input is a second resize: not bit-identical, but the same picture.
    const small = await tensorVia(frame, 0, s320);
    const ref = (await preprocess(jpeg, s320)).tensor as Float32Array;
    let sum = 0;
    for (let i = 0; i < ref.length; i++) sum += Math.abs(small[i]! - ref[i]!);
    expect(sum / ref.length).toBeLessThan(0.02);
  });

  it('never upscales at decode: a small frame is decoded at its own size', async () => {
    const png = await sharp({ create: { width: 200, height: 150, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    const frame = await decodeForModels(png, [spec(320)], { maxPixels: 40e6 });
    expect([frame.image.width, frame.image.height]).toEqual([200, 150]);
    expect(frame.geometries[0]).toMatchObject({ resizedWidth: 320, resizedHeight: 240 });
  });
});
