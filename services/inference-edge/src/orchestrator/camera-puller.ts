import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';

/**
 * Pull-mode cameras (`rtsp://…`, `http(s)://…` MJPEG or any stream ffmpeg reads): the owner node
 * runs Debian's `ffmpeg` per camera, resampled to the assigned fps and re-encoded as a stream of
 * JPEGs on stdout, and hands each frame to the same ingest as pushed frames. A stream that ends or
 * fails is opened again with exponential back-off; frames never leave the store.
 */
export interface CameraPullerOptions {
  cameraId: string;
  url: string;
  fps: number;
  /** Ingest of one JPEG frame (the frame service's, as for a pushed frame). */
  ingest: (jpeg: Buffer, captureTime: number) => Promise<unknown>;
  logger: Logger;
  /** @defaultValue 'ffmpeg' on PATH */
  ffmpeg?: string;
  /** Longest wait before reopening a failed stream. @defaultValue 30 s */
  maxBackoffMs?: number;
}

export class CameraPuller {
  readonly stats = { frames: 0, failed: 0, restarts: 0 };
  readonly #o: CameraPullerOptions;
  #child: ChildProcess | undefined;
  #stopped = false;
  #backoff = 500;
  #timer: NodeJS.Timeout | undefined;
  #buf: Buffer = Buffer.alloc(0);
  /** A frame is being ingested: later frames until it is done are skipped (a live camera does not queue). */
  #busy = false;

  constructor(opts: CameraPullerOptions) {
    this.#o = opts;
  }

  get fps(): number {
    return this.#o.fps;
  }

  get url(): string {
    return this.#o.url;
  }

  start(): void {
    this.#stopped = false;
    if (!this.#child) this.#spawn();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(kill);
  }

  #spawn(): void {
    const { url, fps } = this.#o;
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      ...(url.startsWith('rtsp') ? ['-rtsp_transport', 'tcp'] : []),
      '-i',
      url,
      '-an',
      '-vf',
      `fps=${fps}`,
      '-f',
      'image2pipe',
      '-c:v',
      'mjpeg',
      '-q:v',
      '4',
      'pipe:1',
    ];
    const child = spawn(this.#o.ffmpeg ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#buf = Buffer.alloc(0);
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => this.#onData(d));
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.once('error', (err) =>
      this.#o.logger.warn({ err, camera: this.#o.cameraId }, 'ffmpeg did not start'),
    );
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      if (this.#stopped) return;
      this.stats.restarts++;
      this.#o.logger.warn(
        {
          camera: this.#o.cameraId,
          code,
          signal,
          stderr: stderr.trim().slice(-500),
          retryInMs: this.#backoff,
        },
        'camera stream ended; reopening',
      );
      this.#timer = setTimeout(() => this.#spawn(), this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, this.#o.maxBackoffMs ?? 30_000);
    });
  }

  /** Splits ffmpeg's MJPEG stream on JPEG start (FFD8) and end (FFD9) markers. */
  #onData(d: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    for (;;) {
      const start = this.#buf.indexOf(SOI);
      if (start < 0) {
        this.#buf = Buffer.alloc(0);
        return;
      }
      const end = this.#buf.indexOf(EOI, start + 2);
      if (end < 0) {
        if (start > 0) this.#buf = this.#buf.subarray(start);
        return;
      }
      const jpeg = Buffer.from(this.#buf.subarray(start, end + 2));
      this.#buf = this.#buf.subarray(end + 2);
      this.#backoff = 500; // the stream works again
      if (this.#busy) continue;
      this.#busy = true;
      this.#o
        .ingest(jpeg, Date.now())
        .then(
          () => this.stats.frames++,
          (err) => {
            this.stats.failed++;
            this.#o.logger.debug({ err, camera: this.#o.cameraId }, 'pulled frame refused');
          },
        )
        .finally(() => {
          this.#busy = false;
        });
    }
  }
}

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

/** The pullers of the cameras an assignment gives this node with a stream source. */
export class CameraPullers {
  readonly #pullers = new Map<string, CameraPuller>();
  readonly #make: (cameraId: string, url: string, fps: number) => CameraPuller;

  constructor(make: (cameraId: string, url: string, fps: number) => CameraPuller) {
    this.#make = make;
  }

  /** Starts pullers for `cameras` with a stream source, stops the others (and changed ones). */
  async apply(cameras: ReadonlyArray<{ cameraId: string; source: string; fps: number }>): Promise<void> {
    const wanted = new Map(cameras.filter((c) => c.source !== 'push').map((c) => [c.cameraId, c]));
    for (const [id, p] of [...this.#pullers]) {
      const w = wanted.get(id);
      if (w && w.source === p.url && w.fps === p.fps) continue;
      await p.stop();
      this.#pullers.delete(id);
    }
    for (const [id, c] of wanted) {
      if (this.#pullers.has(id)) continue;
      const p = this.#make(id, c.source, c.fps);
      this.#pullers.set(id, p);
      p.start();
    }
  }

  get(cameraId: string): CameraPuller | undefined {
    return this.#pullers.get(cameraId);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pullers.values()].map((p) => p.stop()));
    this.#pullers.clear();
  }
}
