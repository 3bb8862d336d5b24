import { performance } from 'node:perf_hooks';
import {
  type CameraSnapshotMeta,
  SNAPSHOT_EDGE_MAX_SIDE,
  SNAPSHOT_MAX_BOXES,
  type SnapshotBox,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import sharp from 'sharp';
import type { EdgeMetrics } from '../metrics.ts';
import type { FrameRepository } from '../repositories/frame.repository.ts';
import type { SnapshotFrame } from './analytics-processor.ts';

export interface SnapshotUploaderOptions {
  /** Sets the "keep the next frame" flags and takes the kept frames (the request connection). */
  frames: Pick<FrameRepository, 'wantSnapshots' | 'takeSnapshotFrame'>;
  /** The cameras this node runs analytics for (the ones a snapshot is taken of). */
  cameras: () => string[];
  /** The hub's base URL (`PUT <hubUrl>/v1/stores/{storeId}/cameras/{cameraId}/snapshot`). */
  hubUrl: string;
  /** This node's hub token, or a function asked before each upload (see `EventUploader`). */
  hubToken?: string | (() => Promise<string | undefined>);
  nodeId: string;
  storeId: string;
  /** At most one snapshot per camera this often. */
  intervalMs: number;
  /** Long side of the uploaded JPEG. @defaultValue SNAPSHOT_EDGE_MAX_SIDE (640) */
  maxSide?: number;
  /** JPEG quality. @defaultValue 70 */
  quality?: number;
  /** Blur the people's boxes before the picture leaves the store. @defaultValue true */
  blurPeople?: boolean;
  metrics: EdgeMetrics;
  logger: Logger;
  /** One upload's time limit. @defaultValue 10 s */
  requestTimeoutMs?: number;
  /** @defaultValue global fetch */
  fetch?: typeof fetch;
}

/**
 * The latest picture of each camera this node runs analytics for, sent to the hub for the
 * dashboard's camera view: a small JPEG (long side 640 px), metadata stripped, people blurred by
 * default, with the boxes of that very frame and the camera's zones and lines. Frames otherwise
 * never leave the store; this is one downscaled picture per camera per interval, and the hub keeps
 * only the latest.
 *
 * Kept off the frame path: once per interval it sets a flag per camera in Redis; the frame
 * processor's result script, finding the flag, copies that frame's bytes aside (one DEL per frame
 * otherwise). The analytics processor, analysing that frame, hands over the camera's state right
 * after it (`offer`), and this class — on the main thread, sharp working in libuv's pool — makes
 * and uploads the JPEG, one camera at a time. A failed upload is not retried: the next interval
 * brings a newer picture.
 */
export class SnapshotUploader {
  readonly #o: SnapshotUploaderOptions;
  readonly #log: Logger;
  readonly #fetch: typeof fetch;
  readonly #pending = new Map<string, SnapshotFrame>();
  #timer: NodeJS.Timeout | undefined;
  #working: Promise<void> | undefined;
  #closed = false;
  readonly #stop = new AbortController();
  #warned = new Set<string>();

  constructor(opts: SnapshotUploaderOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'snapshots' });
    this.#fetch = opts.fetch ?? fetch;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    const tick = () =>
      void this.requestFrames().catch((err) => this.#log.debug({ err }, 'asking for snapshot frames failed'));
    tick();
    this.#timer = setInterval(tick, this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Asks for the next processed frame of every analysed camera to be kept (one round). */
  async requestFrames(): Promise<void> {
    // The flag outlives one interval a little, so a camera at a low frame rate still gets one.
    await this.#o.frames.wantSnapshots(this.#o.cameras(), Math.max(2 * this.#o.intervalMs, 5000));
  }

  /** A frame kept for a snapshot, analysed (from the analytics processor; returns at once). */
  offer(frame: SnapshotFrame): void {
    if (this.#closed) return;
    this.#pending.set(frame.result.cameraId, frame);
    this.#working ??= this.#drain().finally(() => {
      this.#working = undefined;
    });
  }

  /** Resolves when every offered snapshot has been sent or given up on (tests). */
  async idle(): Promise<void> {
    while (this.#working) await this.#working;
  }

  /** Stops; an upload in flight is aborted (the hub keeps the picture it had). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#pending.clear();
    this.#stop.abort();
    await this.#working;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#pending.entries().next();
      if (next.done || this.#closed) return;
      const [cameraId, frame] = next.value;
      this.#pending.delete(cameraId);
      const result = await this.upload(frame).catch((err) => {
        this.#log.warn({ err, cameraId }, 'snapshot failed');
        return 'error';
      });
      this.#o.metrics.snapshotUploads.inc({ result });
    }
  }

  /** Makes the snapshot of one analysed frame and sends it; resolves the outcome (a metric label). */
  async upload(frame: SnapshotFrame): Promise<string> {
    const { result } = frame;
    const bytes = await this.#o.frames.takeSnapshotFrame(result.cameraId, result.frameId);
    if (!bytes) return 'no_frame';
    const t0 = performance.now();
    const snapshot = await this.#render(bytes, frame);
    this.#o.metrics.snapshotSeconds.observe((performance.now() - t0) / 1000);
    const token = typeof this.#o.hubToken === 'function' ? await this.#o.hubToken() : this.#o.hubToken;
    const form = new FormData();
    form.set('meta', JSON.stringify(snapshot.meta));
    form.set('image', new Blob([new Uint8Array(snapshot.jpeg)], { type: 'image/jpeg' }), 'snapshot.jpg');
    const url =
      `${this.#o.hubUrl}/v1/stores/${encodeURIComponent(this.#o.storeId)}` +
      `/cameras/${encodeURIComponent(result.cameraId)}/snapshot`;
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method: 'PUT',
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body: form,
        signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#o.requestTimeoutMs ?? 10_000)]),
      });
    } catch (err) {
      return (err as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable';
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return 'uploaded';
    // Said once per status: an operator fixes a token or a store, the log does not fill up meanwhile.
    const reason = `http_${res.status}`;
    if (!this.#warned.has(reason)) {
      this.#warned.add(reason);
      this.#log.warn({ status: res.status, answer: text.slice(0, 300) }, 'hub refused a snapshot');
    }
    return reason;
  }

  /** The JPEG (downscaled, people blurred) and its overlay, normalised to the picture. */
  async #render(bytes: Buffer, { result, state, config }: SnapshotFrame) {
    const maxSide = this.#o.maxSide ?? SNAPSHOT_EDGE_MAX_SIDE;
    const { data, info } = await sharp(bytes, { failOn: 'none' })
      .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    const boxes = snapshotBoxes({ result, state, config });
    const overlays: sharp.OverlayOptions[] = [];
    if (this.#o.blurPeople ?? true) {
      for (const b of boxes) {
        const left = Math.floor(b.box.x1 * width);
        const top = Math.floor(b.box.y1 * height);
        const w = Math.min(width - left, Math.ceil((b.box.x2 - b.box.x1) * width) + 1);
        const h = Math.min(height - top, Math.ceil((b.box.y2 - b.box.y1) * height) + 1);
        if (w < 2 || h < 2) continue;
        const blurred = await sharp(data, { raw: { width, height, channels } })
          .extract({ left, top, width: w, height: h })
          .blur(Math.max(3, Math.min(w, h) / 6))
          .raw()
          .toBuffer();
        overlays.push({ input: blurred, raw: { width: w, height: h, channels }, left, top });
      }
    }
    // No metadata goes along (sharp drops EXIF unless asked to keep it).
    const jpeg = await sharp(data, { raw: { width, height, channels } })
      .composite(overlays)
      .jpeg({ quality: this.#o.quality ?? 70 })
      .toBuffer();
    const meta: CameraSnapshotMeta = {
      schemaVersion: 1,
      nodeId: this.#o.nodeId,
      frameId: result.frameId,
      capturedAt: new Date(result.captureTime).toISOString(),
      width,
      height,
      configVersion: config.version,
      blurred: this.#o.blurPeople ?? true,
      boxes,
      zones: config.config.zones.map((z) => ({
        id: z.id,
        kind: z.kind,
        polygon: z.polygon,
        occupancy: state.zones[z.id]?.occupancy ?? 0,
      })),
      lines: config.config.lines.map((l) => ({
        id: l.id,
        a: l.a,
        b: l.b,
        in: l.in,
        ...(state.lines[l.id] ? { counts: state.lines[l.id] } : {}),
      })),
    };
    return { jpeg, meta };
  }
}

/**
 * The boxes to draw over a snapshot, normalised to the frame: the tracker's people right after
 * that frame (with their ids), or — when the tracker had not analysed that very frame (it skipped
 * it as out of order) — the frame's own detections of the tracked labels.
 */
export function snapshotBoxes({ result, state, config }: SnapshotFrame): SnapshotBox[] {
  const w = result.width;
  const h = result.height;
  const clamp = (v: number) => Math.min(1, Math.max(0, Math.round(v * 10_000) / 10_000));
  const norm = (b: { x1: number; y1: number; x2: number; y2: number }) => ({
    x1: clamp(b.x1 / w),
    y1: clamp(b.y1 / h),
    x2: clamp(b.x2 / w),
    y2: clamp(b.y2 / h),
  });
  const score = (s: number) => Math.min(1, Math.max(0, Math.round(s * 1000) / 1000));
  if (state.frameId === result.frameId)
    return state.tracks.slice(0, SNAPSHOT_MAX_BOXES).map((t) => ({
      label: t.label,
      score: score(t.score),
      trackId: t.trackId,
      state: t.state,
      box: norm(t.box),
    }));
  const labels = new Set(config.config.labels ?? ['person']);
  const model = config.config.model ? result.models[config.config.model] : Object.values(result.models)[0];
  return (model?.detections ?? [])
    .filter((d) => labels.has(d.label))
    .slice(0, SNAPSHOT_MAX_BOXES)
    .map((d) => ({ label: d.label, score: score(d.score), box: norm(d.box) }));
}
