import { isDetectorError, readImageSize } from '@storevision/detector';
import { EdgeError } from './errors.ts';

/**
 * The cheap checks an image passes before it is queued, on the HTTP thread: content type, header
 * (format, size against the pixel limit, via sharp's metadata read that decodes no pixels), and
 * completeness. sharp reads the header of a truncated JPEG or PNG happily, so completeness is
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
  let size: { width: number; height: number };
  try {
    size = await readImageSize(body, { maxPixels });
  } catch (err) {
    if (isDetectorError(err, 'DETECTOR_ERR_IMAGE_TOO_LARGE'))
      throw new EdgeError('EDGE_ERR_IMAGE_TOO_LARGE', err.message, { cause: err });
    throw new EdgeError('EDGE_ERR_BAD_IMAGE', (err as Error).message, { cause: err });
  }
  if (!hasEndMarker(body, format))
    throw new EdgeError('EDGE_ERR_BAD_IMAGE', `truncated ${format.toUpperCase()} (no end marker)`);
  return { format, width: size.width, height: size.height };
}
