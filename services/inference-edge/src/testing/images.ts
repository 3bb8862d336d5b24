import sharp from 'sharp';

/** A real JPEG whose SOF header claims `width × height` (a decompression bomb's header). */
export async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const b = Buffer.from(
    await sharp({ create: { width: 64, height: 48, channels: 3, background: '#884422' } })
      .jpeg()
      .toBuffer(),
  );
  for (let i = 2; i < b.length - 9; i++) {
    if (b[i] === 0xff && b[i + 1] !== undefined && b[i + 1]! >= 0xc0 && b[i + 1]! <= 0xc2) {
      b.writeUInt16BE(height, i + 5);
      b.writeUInt16BE(width, i + 7);
      return b;
    }
  }
  throw new Error('no SOF marker');
}

/**
 * A PNG with a valid header and IEND but scrambled pixel data: it passes every check before the
 * queue and only the decoder finds it broken.
 */
export async function corruptPng(): Promise<Buffer> {
  const png = await sharp({
    create: {
      width: 320,
      height: 240,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 30 },
    },
  })
    .png()
    .toBuffer();
  const b = Buffer.from(png);
  const idat = b.indexOf(Buffer.from('IDAT'));
  for (let k = idat + 200; k < idat + 400; k++) b[k] = b[k]! ^ 0x5a;
  return b;
}
