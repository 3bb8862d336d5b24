import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isEdgeError } from './errors.ts';
import { checkContentType, checkImage, hasEndMarker } from './image-check.ts';
import { jpegClaiming } from './testing/images.ts';

// Noise, so that the entropy-coded data is long and a cut lands well after the header.
const noise = () =>
  sharp({
    create: {
      width: 64,
      height: 48,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 30 },
    },
  });
const jpeg = () => noise().jpeg().toBuffer();
const png = () => noise().png().toBuffer();

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isEdgeError(err) ? err.code : String(err);
  }
}

describe('image checks before queueing', () => {
  it('accepts complete JPEG and PNG and reports their size', async () => {
    expect(await checkImage(await jpeg(), 40e6)).toMatchObject({ format: 'jpeg', width: 64, height: 48 });
    expect(await checkImage(await png(), 40e6)).toMatchObject({ format: 'png', width: 64, height: 48 });
  });

  it('finds truncated JPEG and PNG that sharp reads a header from', async () => {
    const j = await jpeg();
    const p = await png();
    expect(hasEndMarker(j, 'jpeg')).toBe(true);
    expect(hasEndMarker(Buffer.concat([j, Buffer.alloc(8)]), 'jpeg')).toBe(true);
    const cutJ = j.subarray(0, Math.floor(j.length * 0.8));
    const cutP = p.subarray(0, p.length - 20);
    // The point of the check: the header alone looks fine.
    expect((await sharp(cutJ).metadata()).width).toBe(64);
    expect(await codeOf(checkImage(cutJ, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
    expect(await codeOf(checkImage(cutP, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
  });

  it('refuses non-images and empty bodies with EDGE_ERR_BAD_IMAGE', async () => {
    expect(await codeOf(checkImage(Buffer.from('hello, not an image'), 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
    expect(await codeOf(checkImage(Buffer.alloc(0), 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
    expect(await codeOf(checkImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), 40e6))).toBe(
      'EDGE_ERR_BAD_IMAGE',
    );
    expect(await codeOf(checkImage(undefined, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
  });

  it('refuses broken headers that end with a valid end marker', async () => {
    const j = await jpeg();
    const sos = j.indexOf(Buffer.from([0xff, 0xda]));
    const sof = j.indexOf(Buffer.from([0xff, 0xc0]));
    // A scan and no frame header: the SOF segment renamed to an APP segment.
    const noSof = Buffer.from(j);
    noSof[sof + 1] = 0xe5;
    expect(await codeOf(checkImage(noSof, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
    // Zero width.
    const zero = Buffer.from(j);
    zero.writeUInt16BE(0, sof + 7);
    expect(await codeOf(checkImage(zero, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
    // Header segments only, then EOI: no scan.
    const noScan = Buffer.concat([j.subarray(0, sos), Buffer.from([0xff, 0xd9])]);
    expect(await codeOf(checkImage(noScan, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
    // PNG whose IHDR fails its CRC.
    const p = Buffer.from(await png());
    p[17] = p[17]! ^ 1;
    expect(await codeOf(checkImage(p, 40e6))).toBe('EDGE_ERR_BAD_IMAGE');
  });

  it('refuses an image over the pixel limit from its header alone (413)', async () => {
    const bomb = await jpegClaiming(10_000, 5_000);
    expect(bomb.length).toBeLessThan(10_000);
    expect(await codeOf(checkImage(bomb, 40_000_000))).toBe('EDGE_ERR_IMAGE_TOO_LARGE');
    expect(await codeOf(checkImage(await jpeg(), 64 * 48 - 1))).toBe('EDGE_ERR_IMAGE_TOO_LARGE');
  });

  it('takes image/jpeg and image/png (with parameters) and nothing else', () => {
    expect(checkContentType('image/jpeg')).toBe('image/jpeg');
    expect(checkContentType('IMAGE/PNG; q=1')).toBe('image/png');
    for (const t of [undefined, 'application/json', 'image/gif', 'application/octet-stream', 'text/plain'])
      expect(() => checkContentType(t)).toThrow(
        expect.objectContaining({ code: 'EDGE_ERR_UNSUPPORTED_MEDIA_TYPE' }),
      );
  });
});
