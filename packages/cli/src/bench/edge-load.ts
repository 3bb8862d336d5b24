/**
 * Simulated cameras for `storevision bench edge`: each camera POSTs frames to the edge over its own
 * keep-alive connection (one request in flight per camera), paced so that the cameras together offer
 * a steady `offeredFps`, evenly spread in time. A camera that falls a whole period behind skips the
 * frames it missed, as a live camera would, and counts them.
 *
 * The cameras are real devices in a store; here they share the edge's cores, so every bit of CPU
 * they use is taken from the node under test. Each camera therefore speaks plain HTTP/1.1 on its own
 * socket (`CameraConnection`: a pre-built request head and the JPEG in one writev, only the status
 * line and the body length read back) instead of node:http's client (agent, header objects,
 * response streams), which costs several times more per request. The edge sees the same requests
 * either way; `client: 'node-http'` keeps the old path for comparison.
 *
 * Also the readers of what the edge wrote: the outbox stream, per-camera counters, queue depth.
 */
import http from 'node:http';
import net from 'node:net';
import type { Redis } from 'ioredis';
import { type FrameCounts, queuedFrames, streamFields, streamIdMs } from './edge-bench-stats.ts';

export interface CameraLoadOptions {
  edgeUrl: string;
  cameraIds: string[];
  /** Encoded frames; camera i sends frames[(i·7 + k) mod n] as its k-th frame. */
  frames: Buffer[];
  /** Frames per second, all cameras together. */
  offeredFps: number;
  durationMs: number;
  /** HTTP client of the cameras. @defaultValue 'raw' (`CameraConnection`) */
  client?: 'raw' | 'node-http';
}

export interface CameraLoadResult {
  /** Epoch ms of the first scheduled send and of the end of the sending window. */
  startedAt: number;
  endedAt: number;
  sent: number;
  /** 202 answers. */
  accepted: number;
  /** Other HTTP answers, and network errors. */
  rejected: number;
  errors: number;
  /** Sends skipped because the camera was a whole period late (its previous POST was slow). */
  skippedLate: number;
  byStatus: Record<string, number>;
  lastError?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export async function runCameraLoad(o: CameraLoadOptions): Promise<CameraLoadResult> {
  const base = new URL(o.edgeUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.cameraIds.length * 2 });
  const n = o.cameraIds.length;
  const periodMs = (1000 * n) / o.offeredFps;
  const r: CameraLoadResult = {
    startedAt: 0,
    endedAt: 0,
    sent: 0,
    accepted: 0,
    rejected: 0,
    errors: 0,
    skippedLate: 0,
    byStatus: {},
  };
  const raw = new Map<string, CameraConnection>();
  const postRaw = (cameraId: string, body: Buffer) => {
    let conn = raw.get(cameraId);
    if (!conn) {
      conn = new CameraConnection({
        host: base.hostname,
        port: Number(base.port),
        path: `/v1/cameras/${encodeURIComponent(cameraId)}/frames`,
      });
      raw.set(cameraId, conn);
    }
    return conn.post(body, Date.now()).then(
      (res) => {
        if (res.status !== 202) r.lastError = `${res.status} ${res.body.toString().slice(0, 200)}`;
        return res.status;
      },
      (err: Error) => {
        r.lastError = err.message;
        return 0;
      },
    );
  };
  const postHttp = (cameraId: string, body: Buffer) =>
    new Promise<number>((resolve) => {
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          path: `/v1/cameras/${encodeURIComponent(cameraId)}/frames`,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'image/jpeg',
            'content-length': body.length,
            'x-capture-time': String(Date.now()),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 202)
              r.lastError = `${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`;
            resolve(res.statusCode ?? 0);
          });
          res.on('error', () => resolve(0));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout after 10 s')));
      req.on('error', (err) => {
        r.lastError = err.message;
        resolve(0);
      });
      req.end(body);
    });
  const post = o.client === 'node-http' ? postHttp : postRaw;

  const t0 = performance.now() + 20;
  const end = t0 + o.durationMs;
  r.startedAt = performance.timeOrigin + t0;
  r.endedAt = performance.timeOrigin + end;
  const camera = async (i: number) => {
    const id = o.cameraIds[i]!;
    const phase = (i * periodMs) / n;
    for (let k = 0; ; k++) {
      let due = t0 + phase + k * periodMs;
      const late = performance.now() - due;
      if (late > periodMs) {
        const skip = Math.floor(late / periodMs);
        r.skippedLate += skip;
        k += skip;
        due = t0 + phase + k * periodMs;
      }
      if (due >= end) return;
      await sleep(due - performance.now());
      r.sent++;
      const status = await post(id, o.frames[(i * 7 + k) % o.frames.length]!);
      r.byStatus[status] = (r.byStatus[status] ?? 0) + 1;
      if (status === 202) r.accepted++;
      else if (status === 0) r.errors++;
      else r.rejected++;
    }
  };
  try {
    await Promise.all(o.cameraIds.map((_, i) => camera(i)));
  } finally {
    agent.destroy();
    for (const c of raw.values()) c.close();
  }
  return r;
}

/**
 * One camera's keep-alive HTTP/1.1 connection to the edge, one request at a time: the request head
 * is built once per frame from a fixed prefix, written with the body in one `writev`; the answer is
 * read just far enough to know its status and where it ends (`content-length`, or the last chunk).
 * A failed or closed connection is opened again by the next request.
 */
export class CameraConnection {
  readonly #o: { host: string; port: number; path: string; timeoutMs: number };
  readonly #head: string;
  #socket: net.Socket | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #waiting:
    | { resolve: (r: { status: number; body: Buffer }) => void; reject: (e: Error) => void }
    | undefined;

  constructor(o: { host: string; port: number; path: string; timeoutMs?: number }) {
    this.#o = { timeoutMs: 10_000, ...o };
    this.#head =
      `POST ${o.path} HTTP/1.1\r\nhost: ${o.host}:${o.port}\r\nconnection: keep-alive\r\n` +
      'content-type: image/jpeg\r\n';
  }

  post(body: Buffer, captureTime: number): Promise<{ status: number; body: Buffer }> {
    if (this.#waiting) return Promise.reject(new Error('one request at a time'));
    const socket = this.#connect();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#fail(new Error(`timeout after ${this.#o.timeoutMs / 1000} s`)),
        this.#o.timeoutMs,
      );
      this.#waiting = {
        resolve: (res) => {
          clearTimeout(timer);
          resolve(res);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      socket.cork();
      socket.write(`${this.#head}content-length: ${body.length}\r\nx-capture-time: ${captureTime}\r\n\r\n`);
      socket.write(body);
      socket.uncork();
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connect(): net.Socket {
    if (this.#socket && !this.#socket.destroyed) return this.#socket;
    const socket = net.connect({ host: this.#o.host, port: this.#o.port, noDelay: true });
    this.#socket = socket;
    this.#buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      if (socket !== this.#socket) return;
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      this.#parse();
    });
    // Events of a connection already replaced must not touch the current one.
    socket.on('error', (err) => socket === this.#socket && this.#fail(err));
    socket.on('close', () => socket === this.#socket && this.#fail(new Error('connection closed')));
    return socket;
  }

  #fail(err: Error): void {
    this.close();
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.reject(err);
  }

  #parse(): void {
    const b = this.#buf;
    const end = b.indexOf('\r\n\r\n');
    if (end < 0 || !this.#waiting) return;
    const head = b.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let bodyEnd: number;
    if (length) {
      bodyEnd = end + 4 + Number(length[1]);
      if (b.length < bodyEnd) return;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = b.indexOf('0\r\n\r\n', end + 4);
      if (last < 0) return;
      bodyEnd = last + 5;
    } else {
      bodyEnd = end + 4;
    }
    const body = b.subarray(end + 4, bodyEnd);
    this.#buf = b.subarray(bodyEnd);
    const w = this.#waiting;
    this.#waiting = undefined;
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
    w.resolve({ status, body });
  }
}

export interface OutboxRecord {
  /** Epoch ms at which the result was appended (the stream entry id). */
  at: number;
  cameraId: string;
  type: 'detections' | 'frame_failed';
  captureTime?: number;
  /** Decode + every model's inference, as the inference thread measured them. */
  workMs?: number;
}

/** Every outbox entry appended at or after `fromMs` for cameras whose id starts with `cameraPrefix`. */
export async function readOutbox(
  redis: Redis,
  key: string,
  fromMs: number,
  cameraPrefix: string,
): Promise<OutboxRecord[]> {
  const out: OutboxRecord[] = [];
  let start = `${Math.floor(fromMs)}-0`;
  for (;;) {
    const page = await redis.xrange(key, start, '+', 'COUNT', 1000);
    for (const [id, fields] of page) {
      const f = streamFields(fields);
      if (!f.cameraId?.startsWith(cameraPrefix)) continue;
      const rec: OutboxRecord = {
        at: streamIdMs(id),
        cameraId: f.cameraId,
        type: f.type === 'frame_failed' ? 'frame_failed' : 'detections',
      };
      if (f.result) {
        const result = JSON.parse(f.result) as {
          captureTime: number;
          decodeMs: number;
          models: Record<string, { inferMs: number }>;
        };
        rec.captureTime = result.captureTime;
        rec.workMs = result.decodeMs + Object.values(result.models).reduce((a, m) => a + m.inferMs, 0);
      }
      out.push(rec);
    }
    if (page.length < 1000) return out;
    start = `(${page.at(-1)![0]}`;
  }
}

/** The edge's counters for each camera (`GET /v1/cameras/{id}/stats`). */
export async function cameraStats(edgeUrl: string, cameraIds: readonly string[]): Promise<FrameCounts[]> {
  return Promise.all(
    cameraIds.map(async (id) => {
      const res = await fetch(`${edgeUrl}/v1/cameras/${encodeURIComponent(id)}/stats`);
      if (res.status !== 200) throw new Error(`stats of ${id}: HTTP ${res.status}`);
      return (await res.json()) as FrameCounts;
    }),
  );
}

export async function edgeMetrics(edgeUrl: string): Promise<string> {
  const res = await fetch(`${edgeUrl}/metrics`);
  if (res.status !== 200) throw new Error(`metrics: HTTP ${res.status}`);
  return res.text();
}

/**
 * Waits until the frame queue has been empty (no runner job waiting, active or delayed, no camera
 * due) on two reads in a row; returns how long that took, or undefined when it did not happen within `timeoutMs`.
 */
export async function waitForDrain(edgeUrl: string, timeoutMs = 60_000): Promise<number | undefined> {
  const t0 = Date.now();
  let empty = 0;
  while (Date.now() - t0 < timeoutMs) {
    empty = queuedFrames(await edgeMetrics(edgeUrl)) === 0 ? empty + 1 : 0;
    if (empty >= 2) return Date.now() - t0;
    await sleep(150);
  }
  return undefined;
}

/** `INFO <section>` as numbers where they are numbers. */
export async function redisInfo(redis: Redis, section: string): Promise<Record<string, number>> {
  const text = await redis.info(section);
  const out: Record<string, number> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i <= 0 || line.startsWith('#')) continue;
    const v = Number(line.slice(i + 1));
    if (Number.isFinite(v)) out[line.slice(0, i)] = v;
  }
  return out;
}
