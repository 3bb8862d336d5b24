/**
 * Pushes camera frames to an edge node's `POST /v1/cameras/{cameraId}/frames`, paced in real
 * time like a camera would, with the capture time in `x-capture-time`.
 */

export interface EdgePushStats {
  sent: number;
  accepted: number;
  rejected: number;
  failed: number;
  /** Responses by HTTP status (0 for network errors). */
  byStatus: Record<number, number>;
  lastError?: string;
}

export interface EdgeClientOptions {
  edgeUrl: string;
  cameraId: string;
  fps: number;
  /** Per-request timeout. @defaultValue 5000 */
  timeoutMs?: number;
  /** Set to false to send as fast as possible (benchmarks). @defaultValue true */
  realtime?: boolean;
  fetchImpl?: typeof fetch;
}

export class EdgeFramePusher {
  readonly stats: EdgePushStats = { sent: 0, accepted: 0, rejected: 0, failed: 0, byStatus: {} };
  private readonly url: string;
  private readonly start = performance.now();
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: EdgeClientOptions) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(opts.cameraId)) throw new Error(`bad camera id "${opts.cameraId}"`);
    this.url = new URL(`/v1/cameras/${encodeURIComponent(opts.cameraId)}/frames`, opts.edgeUrl).toString();
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  /** Sends frame `index` at its due time; never throws on a failed send (it is counted). */
  async push(index: number, jpeg: Buffer, captureTimeMs = Date.now()): Promise<void> {
    if (this.opts.realtime !== false) {
      const due = this.start + (index * 1000) / this.opts.fps;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    this.stats.sent++;
    try {
      const res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg', 'x-capture-time': String(Math.round(captureTimeMs)) },
        body: jpeg,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      this.stats.byStatus[res.status] = (this.stats.byStatus[res.status] ?? 0) + 1;
      if (res.status === 202 || res.status === 200) this.stats.accepted++;
      else {
        this.stats.rejected++;
        this.stats.lastError = `${res.status} ${(await res.text()).slice(0, 200)}`;
      }
      await res.body?.cancel().catch(() => undefined);
    } catch (err) {
      this.stats.failed++;
      this.stats.byStatus[0] = (this.stats.byStatus[0] ?? 0) + 1;
      this.stats.lastError = (err as Error).message;
    }
  }
}
