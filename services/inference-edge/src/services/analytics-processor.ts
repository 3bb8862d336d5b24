import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { CameraAnalytics } from '@storevision/analytics';
import {
  type AnalyticsEvent,
  analyticsConfigSchema,
  type CameraAnalyticsState,
  type FrameResult,
  frameResultSchema,
  type StoredAnalyticsConfig,
} from '@storevision/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EdgeMetrics } from '../metrics.ts';
import type { AnalyticsBatch, AnalyticsRepository } from '../repositories/analytics.repository.ts';

export interface AnalyticsProcessorOptions {
  /** A connection of its own: it blocks on XREAD. `maxRetriesPerRequest: null`. */
  connection: Redis;
  /** On the same connection (the loop is sequential). */
  repository: AnalyticsRepository;
  /** The result outbox stream written by the frame processor. */
  outboxKey: string;
  storeId: string;
  nodeId: string;
  timezone: string;
  metrics: EdgeMetrics;
  logger: Logger;
  /** Results read per round. @defaultValue 200 */
  batchSize?: number;
  /** How long one XREAD waits for new results. @defaultValue 1000 ms */
  blockMs?: number;
  /**
   * Shortest time between the starts of two rounds while results trickle in (a round that read a
   * full batch goes on at once). Without it every result is a round of its own — an XREAD and a
   * transaction per frame on the main thread and in Redis, about a tenth of the main thread's work
   * at 120 frames/s. Events come at most this much later. @defaultValue 100 ms
   */
  minRoundMs?: number;
  /**
   * Called (synchronously: record, do not work) after a frame kept for a snapshot is analysed,
   * with the camera's state right after it: the boxes, zones and lines to draw over that frame.
   */
  onSnapshotFrame?: (frame: SnapshotFrame) => void;
}

/** A frame kept for a snapshot, as analysed. */
export interface SnapshotFrame {
  result: FrameResult;
  state: CameraAnalyticsState;
  config: StoredAnalyticsConfig;
}

/**
 * Turns the result outbox into analytics, on the main thread (tracking and counting cost well
 * under a millisecond per frame; inference is elsewhere). It reads results in outbox order, feeds
 * each configured camera's `CameraAnalytics`, and writes the events, line counts and its cursor in
 * one transaction per batch. If the write fails (Redis away) it retries the same batch — the
 * engines have already advanced, so recomputing would be wrong — and reads nothing new until then.
 */
export class AnalyticsProcessor {
  readonly #o: AnalyticsProcessorOptions;
  readonly #log: Logger;
  readonly #configs = new Map<string, StoredAnalyticsConfig>();
  readonly #engines = new Map<string, CameraAnalytics>();
  #cursor = '0-0';
  #running = false;
  #loop: Promise<void> | undefined;
  /** Result-outbox id of the last result analysed and stored. */
  #stored = '0-0';

  constructor(opts: AnalyticsProcessorOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'analytics' });
  }

  /**
   * Loads camera configs, their counts of the day they last saw, and the cursor, then follows the
   * outbox until `close()`. After a restart the API shows the counts at once, not after a frame.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    for (const c of await this.#o.repository.allConfigs()) {
      this.#configs.set(c.cameraId, c);
      await this.#restore(c);
    }
    this.#cursor = await this.#o.repository.cursor();
    this.#stored = this.#cursor;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Applies a camera's new config (the engine keeps its tracks and counts). */
  configure(stored: StoredAnalyticsConfig): void {
    this.#configs.set(stored.cameraId, stored);
    const engine = this.#engines.get(stored.cameraId);
    if (engine) engine.reconfigure(analyticsConfigSchema.parse(stored.config), stored.version);
    // A camera configured again after a delete shows its stored counts before its first frame.
    else void this.#restore(stored).catch(() => {});
  }

  remove(cameraId: string): void {
    this.#configs.delete(cameraId);
    this.#engines.delete(cameraId);
  }

  /** The cameras with an analytics config on this node. */
  cameras(): string[] {
    return [...this.#configs.keys()];
  }

  /** Live state of a configured camera; undefined when it has no analytics config. */
  state(cameraId: string): CameraAnalyticsState | undefined {
    const engine = this.#engines.get(cameraId);
    if (engine) return engine.state();
    const stored = this.#configs.get(cameraId);
    return stored ? this.#newEngine(stored).state() : undefined;
  }

  /** The last result-outbox id whose analytics are stored (tests wait on it). */
  get storedCursor(): string {
    return this.#stored;
  }

  async close(): Promise<void> {
    this.#running = false;
    // The blocking XREAD returns within blockMs.
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { connection, outboxKey } = this.#o;
    const count = this.#o.batchSize ?? 200;
    const block = this.#o.blockMs ?? 1000;
    const minRound = this.#o.minRoundMs ?? 100;
    let backoff = 100;
    let roundStart = 0;
    while (this.#running) {
      try {
        const wait = roundStart + minRound - performance.now();
        if (wait > 0) await sleep(wait);
        if (!this.#running) break;
        roundStart = performance.now();
        const res = (await connection.xread(
          'COUNT',
          count,
          'BLOCK',
          block,
          'STREAMS',
          outboxKey,
          this.#cursor,
        )) as Array<[string, Array<[string, string[]]>]> | null;
        const rows = res?.[0]?.[1] ?? [];
        if (rows.length === count) roundStart = 0;
        if (rows.length === 0) continue;
        const batch = await this.#analyse(rows);
        await this.#commit(batch);
        this.#cursor = batch.cursor;
        this.#stored = batch.cursor;
        backoff = 100;
      } catch (err) {
        if (!this.#running) break;
        this.#log.warn({ err }, 'analytics round failed; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  async #analyse(rows: Array<[string, string[]]>): Promise<AnalyticsBatch> {
    const { metrics } = this.#o;
    const batch: AnalyticsBatch = {
      cursor: rows[rows.length - 1]![0],
      events: [],
      counts: new Map(),
      meta: new Map(),
    };
    // Parse, then make sure every camera's engine exists (the only awaits), then analyse without
    // awaiting: a failure before this point leaves every engine untouched for the retry.
    const results: FrameResult[] = [];
    const snapshots = new Set<FrameResult>();
    for (const [, fields] of rows) {
      if (field(fields, 'type') !== 'detections') continue;
      const cameraId = field(fields, 'cameraId');
      if (!cameraId || !this.#configs.has(cameraId)) continue;
      const parsed = frameResultSchema.safeParse(JSON.parse(field(fields, 'result') ?? 'null'));
      if (parsed.success) {
        results.push(parsed.data);
        if (field(fields, 'snapshot') === '1') snapshots.add(parsed.data);
      } else this.#log.warn({ cameraId, err: parsed.error }, 'outbox result does not parse; skipped');
    }
    for (const r of results) await this.#engine(r.cameraId);
    for (const r of results) {
      const engine = this.#engines.get(r.cameraId);
      const stored = this.#configs.get(r.cameraId);
      if (!engine || !stored) continue; // config deleted meanwhile
      const t0 = performance.now();
      const events = engine.process(toFrame(r, stored.config.model));
      metrics.analyticsFrameSeconds.observe((performance.now() - t0) / 1000);
      metrics.analyticsFrames.inc({ camera: r.cameraId });
      for (const e of events) {
        batch.events.push(e);
        metrics.analyticsEvents.inc({ type: e.type });
        if (e.type === 'line_crossing') countLine(batch, engine, e);
      }
      batch.meta.set(r.cameraId, { nextTrackId: engine.nextTrackId, day: engine.day });
      if (snapshots.has(r) && this.#o.onSnapshotFrame)
        try {
          this.#o.onSnapshotFrame({ result: r, state: engine.state(), config: stored });
        } catch (err) {
          this.#log.warn({ err, cameraId: r.cameraId }, 'snapshot hook failed');
        }
    }
    return batch;
  }

  /** Retries the write until it lands or the processor closes (a lost batch would lose counts). */
  async #commit(batch: AnalyticsBatch): Promise<void> {
    let backoff = 100;
    for (;;) {
      try {
        await this.#o.repository.commit(batch);
        return;
      } catch (err) {
        if (!this.#running) throw err;
        this.#log.warn(
          { err, events: batch.events.length },
          'storing analytics failed; retrying the same batch',
        );
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** The camera's engine; a camera configured since the start gets one on its first frame. */
  async #engine(cameraId: string): Promise<CameraAnalytics> {
    return this.#engines.get(cameraId) ?? this.#restore(this.#configs.get(cameraId)!);
  }

  /** An engine with the counts of the camera's last day and its next track id, from Redis. */
  async #restore(stored: StoredAnalyticsConfig): Promise<CameraAnalytics> {
    const { cameraId } = stored;
    const meta = await this.#o.repository.meta(cameraId);
    const lines = meta.day ? await this.#o.repository.lineCounts(cameraId, meta.day) : {};
    // Another restore may have finished first (the loop and a config change race); the config may
    // have changed while Redis answered.
    const have = this.#engines.get(cameraId);
    if (have) return have;
    const engine = this.#newEngine(this.#configs.get(cameraId) ?? stored, {
      day: meta.day,
      lines,
      nextTrackId: meta.nextTrackId,
    });
    this.#engines.set(cameraId, engine);
    return engine;
  }

  #newEngine(
    stored: StoredAnalyticsConfig,
    restored?: ConstructorParameters<typeof CameraAnalytics>[0]['restored'],
  ) {
    return new CameraAnalytics({
      cameraId: stored.cameraId,
      storeId: this.#o.storeId,
      nodeId: this.#o.nodeId,
      timezone: this.#o.timezone,
      config: analyticsConfigSchema.parse(stored.config),
      configVersion: stored.version,
      ...(restored ? { restored } : {}),
    });
  }
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The detections of the model the camera tracks (its config's, else the result's first model). */
function toFrame(r: FrameResult, model: string | undefined) {
  const run = model ? r.models[model] : Object.values(r.models)[0];
  return {
    frameId: r.frameId,
    captureTime: r.captureTime,
    width: r.width,
    height: r.height,
    detections: run?.detections ?? [],
  };
}

function countLine(
  batch: AnalyticsBatch,
  engine: CameraAnalytics,
  e: Extract<AnalyticsEvent, { type: 'line_crossing' }>,
) {
  const day = engine.dayOf(Date.parse(e.time));
  let days = batch.counts.get(e.cameraId);
  if (!days) {
    days = new Map();
    batch.counts.set(e.cameraId, days);
  }
  let fields = days.get(day);
  if (!fields) {
    fields = new Map();
    days.set(day, fields);
  }
  const key = `${e.line}:${e.direction}`;
  fields.set(key, (fields.get(key) ?? 0) + 1);
}
