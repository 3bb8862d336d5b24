/**
 * Rendered camera frames kept on disk, in order, so that a long sequence rendered once can be
 * played again without holding it in memory: `bench outage` plays each hour-long scene twice (the
 * uninterrupted camera, then the one through the outage), and an hour of 640×480 frames at 5 fps
 * is about 1 GB per scene.
 *
 * Format: per frame a 12-byte header — capture time (epoch ms, float64 LE), JPEG length (uint32
 * LE) — then the JPEG bytes. Nothing else: the file lives only as long as the run.
 */
import { type FileHandle, open } from 'node:fs/promises';

const HEADER_BYTES = 12;

export interface SpooledFrame {
  captureTime: number;
  jpeg: Buffer;
}

export class FrameSpoolWriter {
  #frames = 0;
  #bytes = 0;

  private constructor(
    readonly path: string,
    readonly file: FileHandle,
  ) {}

  /** Creates (or truncates) the spool file. */
  static async create(path: string): Promise<FrameSpoolWriter> {
    return new FrameSpoolWriter(path, await open(path, 'w'));
  }

  get frames(): number {
    return this.#frames;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async append(frame: SpooledFrame): Promise<void> {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeDoubleLE(frame.captureTime, 0);
    header.writeUInt32LE(frame.jpeg.length, 8);
    await this.file.writev([header, frame.jpeg]);
    this.#frames++;
    this.#bytes += HEADER_BYTES + frame.jpeg.length;
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** The frames of a spool file, in the order they were appended. */
export async function* readFrameSpool(path: string): AsyncGenerator<SpooledFrame> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    let position = 0;
    for (;;) {
      const { bytesRead } = await file.read(header, 0, HEADER_BYTES, position);
      if (bytesRead === 0) return;
      if (bytesRead < HEADER_BYTES) throw new Error(`${path}: truncated frame header at byte ${position}`);
      const captureTime = header.readDoubleLE(0);
      const jpeg = Buffer.alloc(header.readUInt32LE(8));
      const body = await file.read(jpeg, 0, jpeg.length, position + HEADER_BYTES);
      if (body.bytesRead < jpeg.length) throw new Error(`${path}: truncated frame at byte ${position}`);
      position += HEADER_BYTES + jpeg.length;
      yield { captureTime, jpeg };
    }
  } finally {
    await file.close();
  }
}
