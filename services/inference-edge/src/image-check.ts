import { crc32 } from 'node:zlib';
import { EdgeError } from './errors.ts';

/**
 * The cheap checks an image passes before it is queued, on the HTTP thread: content type, header
 * (format, size against the pixel limit, parsed here in JS: the JPEG markers up to the first scan
 * as libjpeg's header read walks them, the PNG signature and IHDR chunk with its CRC; no decoder,
 * no libuv thread, no allocation), and completeness. sharp reads the header of a truncated JPEG or PNG happily, so completeness is
 * checked from the last bytes: a JPEG ends with the EOI marker FF D9 (some encoders pad after it
 * with zeros, which we allow), a PNG with its IEND chunk. Corruption inside an otherwise complete
 * file is only found by the decoder: the worker reports it and the frame is counted as failed
 * (`EDGE_ERR_BAD_IMAGE`, not retried); the synchronous detect answers 400.
 */

export const IMAGE_CONTENT_TYPES = ['image/jpeg', 'image/png'] as const;

const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/** `image/jpeg; charset=…` → `image/jpeg`; throws 415 for anything else. */
export function checkContentType(header: string | undefined): 'image/jpeg' | 'image/png' {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  if (type === 'image/jpeg' || type === 'image/png') return type;
  throw new EdgeError('EDGE_ERR_UNSUPPORTED_MEDIA_TYPE', `got ${header ? `"${header}"` : 'none'}`);
}

/** Whether an encoded JPEG/PNG has its end marker (not truncated). */
export function hasEndMarker(bytes: Uint8Array, format: 'jpeg' | 'png'): boolean {
  if (format === 'png') {
    if (bytes.length < PNG_IEND.length) return false;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      .subarray(bytes.length - PNG_IEND.length)
      .equals(PNG_IEND);
  }
  let end = bytes.length;
  // Allow a little zero padding after EOI, as some camera firmware writes.
  const floor = Math.max(0, end - 64);
  while (end > floor && bytes[end - 1] === 0) end--;
  return end >= 4 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

export interface CheckedImage {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
}

/** Header and completeness checks; throws 400 `EDGE_ERR_BAD_IMAGE` or 413 `EDGE_ERR_IMAGE_TOO_LARGE`. */
export async function checkImage(body: unknown, maxPixels: number): Promise<CheckedImage> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new EdgeError('EDGE_ERR_BAD_IMAGE', 'empty body');
  // The body's own signature decides the format (a camera that labels a PNG as JPEG still works).
  const format =
    body[0] === 0xff && body[1] === 0xd8 ? 'jpeg' : body[0] === 0x89 && body[1] === 0x50 ? 'png' : undefined;
  if (!format) throw new EdgeError('EDGE_ERR_BAD_IMAGE', 'no JPEG or PNG signature');
  const size = format === 'jpeg' ? jpegSize(body) : pngSize(body);
  const pixels = size.width * size.height;
  if (pixels > maxPixels)
    throw new EdgeError(
      'EDGE_ERR_IMAGE_TOO_LARGE',
      `${size.width}x${size.height} is ${pixels} pixels, limit ${maxPixels}`,
    );
  if (!hasEndMarker(body, format))
    throw new EdgeError('EDGE_ERR_BAD_IMAGE', `truncated ${format.toUpperCase()} (no end marker)`);
  return { format, width: size.width, height: size.height };
}

const badHeader = (what: string) => new EdgeError('EDGE_ERR_BAD_IMAGE', `corrupt JPEG header: ${what}`);

/**
 * The frame size from a JPEG's SOF segment (as stored, before any EXIF orientation), walking the
 * markers from SOI to the first SOS like libjpeg's `jpeg_read_header`: every segment must fit in
 * the body, an SOF (any of the 13 coding processes) must come before the scan, with non-zero
 * dimensions and a length that matches its component count.
 */
function jpegSize(b: Buffer): { width: number; height: number } {
  let size: { width: number; height: number } | undefined;
  let i = 2;
  for (;;) {
    // Garbage between segments is skipped (libjpeg warns and goes on), as are fill bytes.
    while (i < b.length && b[i] !== 0xff) i++;
    while (i < b.length && b[i] === 0xff) i++;
    if (i >= b.length) throw badHeader(size ? 'no scan' : 'no frame header (SOF)');
    const marker = b[i]!;
    i++;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (marker === 0xd8 || marker === 0xd9)
      throw badHeader(`marker 0x${marker.toString(16)} before the scan`);
    if (marker === 0xda) {
      if (!size) throw badHeader('scan before the frame header (SOF)');
      return size;
    }
    if (i + 2 > b.length) throw badHeader('segment cut off');
    const len = b.readUInt16BE(i);
    if (len < 2 || i + len > b.length) throw badHeader(`segment 0x${marker.toString(16)} of ${len} bytes`);
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      if (size) throw badHeader('two frame headers');
      if (len < 8) throw badHeader('short frame header');
      const height = b.readUInt16BE(i + 3);
      const width = b.readUInt16BE(i + 5);
      const components = b[i + 7]!;
      if (width === 0 || height === 0 || components === 0 || len !== 8 + 3 * components)
        throw badHeader(`frame header ${width}x${height}, ${components} components, ${len} bytes`);
      size = { width, height };
    }
    i += len;
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_COLOR_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/** The size from a PNG's IHDR chunk (first, 13 bytes, valid fields and CRC, like libspng checks it). */
function pngSize(b: Buffer): { width: number; height: number } {
  const bad = (what: string) => new EdgeError('EDGE_ERR_BAD_IMAGE', `corrupt PNG header: ${what}`);
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE)) throw bad('signature');
  if (b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR') throw bad('no IHDR first');
  if (crc32(b.subarray(12, 29)) !== b.readUInt32BE(29)) throw bad('IHDR CRC');
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const depth = b[24]!;
  const color = b[25]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff)
    throw bad(`${width}x${height}`);
  if (!PNG_COLOR_DEPTHS[color]?.includes(depth)) throw bad(`color type ${color}, bit depth ${depth}`);
  if (b[26] !== 0 || b[27] !== 0 || b[28]! > 1) throw bad('compression, filter or interlace method');
  return { width, height };
}
