import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { type EventBatchAck, eventBatchAckSchema } from '@storevision/contracts';
import type { Logger } from 'pino';
import type { EdgeMetrics } from '../metrics.ts';
import type { EventOutboxRepository, OutboxEntry } from '../repositories/event-outbox.repository.ts';

const gzip = promisify(gzipCb);

export interface EventUploaderOptions {
  outbox: EventOutboxRepository;
  /** The hub's base URL (`POST <hubUrl>/v1/events/batch`). */
  hubUrl: string;
  /**
   * This node's hub token (role `node`), or a function asked before each upload (a token the
   * model agent enrolled for the node may appear after start).
   */
  hubToken?: string | (() => Promise<string | undefined>);
  nodeId: string;
  storeId: string;
  /** The store's time zone as this node is configured (the hub uses it for a store it does not know yet). */
  timezone?: string;
  metrics: EdgeMetrics;
  logger: Logger;
  /** Events per batch. @defaultValue 500 */
  batchSize?: number;
  /** Upload rate ceiling. @defaultValue 5000 events/s */
  maxEventsPerSecond?: number;
  /** Share of a batch given to the newest events while a backlog drains. @defaultValue 0.2 */
  liveShare?: number;
  /** First back-off step after a failure. @defaultValue 500 ms */
  baseBackoffMs?: number;
  /** Longest back-off. @defaultValue 60 s */
  maxBackoffMs?: number;
  /** How often an empty outbox is looked at again. @defaultValue 1000 ms */
  pollMs?: number;
  /** An idle node tells the hub it is up this often (an empty batch). @defaultValue 30 s */
  heartbeatMs?: number;
  /** One upload request's time limit. @defaultValue 15 s */
  requestTimeoutMs?: number;
  /** The outbox's length cap (oldest trimmed beyond it, and counted). */
  outboxMaxLen?: number;
  /** @defaultValue global fetch */
  fetch?: typeof fetch;
  /** @defaultValue Math.random (tests pin the jitter) */
  random?: () => number;
}

export type UploadResult =
  | { ok: true; sent: number; accepted: number; duplicates: number; rejected: number }
  | { ok: false; reason: string; retryable: boolean };

/**
 * Store and forward: ships the event outbox to the hub and removes events only once the hub has
 * acknowledged them, so delivery is at least once and — the hub deduplicating on event ids —
 * exactly once in effect. Runs on the main thread: it is I/O only.
 *
 * Order: oldest first, from a cursor kept in Redis (a restarted node goes on where it was; an
 * entry sent but not yet removed when the node died is simply sent again). While a backlog drains
 * after an outage, each batch also carries the newest events (`liveShare`), so the dashboard is
 * current within a round while history catches up, and the whole drain is held under
 * `maxEventsPerSecond` so a chain of stores coming back at once does not flood the hub.
 *
 * Failures: network errors, timeouts and 5xx back off exponentially with full jitter (a random
 * wait in [0, min(max, base·2^n)]: many nodes that lost the hub together do not retry in step);
 * 401/403 are retried at the longest back-off (a token fixed by an operator must not need a
 * restart), and so is a 400 (the hub refuses the envelope: nothing an event did); 413 halves the
 * batch. Events the hub can never read come back in the acknowledgement's `rejected`: they are
 * removed and counted (`edge_events_dropped_total{reason="rejected"}`) rather than retried forever.
 */
export class EventUploader {
  readonly #o: EventUploaderOptions;
  readonly #log: Logger;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  #batchSize: number;
  #running = false;
  #loop: Promise<void> | undefined;
  #stop = new AbortController();
  #failures = 0;
  #lastContact = 0;
  #lastResult: UploadResult | undefined;

  constructor(opts: EventUploaderOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'uploader' });
    this.#fetch = opts.fetch ?? fetch;
    this.#random = opts.random ?? Math.random;
    this.#batchSize = opts.batchSize ?? 500;
  }

  /** Consecutive failed tries (0 while the hub answers). */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  get lastResult(): UploadResult | undefined {
    return this.#lastResult;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stop = new AbortController();
    this.#loop = this.#run();
  }

  /** Stops after the request in flight (its events stay in the outbox unless acknowledged). */
  async close(): Promise<void> {
    this.#running = false;
    this.#stop.abort();
    await this.#loop;
  }

  /**
   * One round: enforce the cap, read a batch, send it, remove what the hub acknowledged. An empty
   * outbox sends a heartbeat when one is due (and resolves `sent: 0`).
   */
  async uploadOnce(): Promise<UploadResult> {
    const { outbox } = this.#o;
    if (this.#o.outboxMaxLen !== undefined) {
      const trimmed = await outbox.enforceCap(this.#o.outboxMaxLen);
      if (trimmed > 0)
        this.#log.warn(
          { trimmed, cap: this.#o.outboxMaxLen },
          'event outbox over its cap: oldest events dropped before upload',
        );
    }
    const cursor = await outbox.cursor();
    const size = this.#batchSize;
    const oldest = await outbox.oldest(cursor, size);
    let head = oldest;
    let tail: OutboxEntry[] = [];
    if (oldest.length === size && size > 1 && (this.#o.liveShare ?? 0.2) > 0) {
      // A backlog: give part of the batch to the newest events (newer than anything in `head`).
      const live = Math.max(1, Math.floor(size * (this.#o.liveShare ?? 0.2)));
      tail = await outbox.newest(oldest[oldest.length - 1]!.streamId, live);
      head = oldest.slice(0, size - tail.length);
    }
    // One store per batch (the hub checks each event's store against the batch's): events of a
    // store this node belonged to before a reconfiguration go in batches of their own. The head
    // is cut, not filtered — the cursor may only pass entries that were sent.
    const store = head.length > 0 ? storeOf(head[0]!) : undefined;
    const cut = head.findIndex((e) => storeOf(e) !== store);
    if (cut > 0) head = head.slice(0, cut);
    tail = tail.filter((e) => storeOf(e) === store);
    const entries = [...head, ...tail];
    if (entries.length === 0 && Date.now() - this.#lastContact < (this.#o.heartbeatMs ?? 30_000))
      return { ok: true, sent: 0, accepted: 0, duplicates: 0, rejected: 0 };

    const backlog = Math.max(0, (await outbox.length()) - entries.length);
    const res = await this.#post(entries, backlog, store ?? this.#o.storeId);
    if (!res.ok) return res;
    this.#lastContact = Date.now();
    if (entries.length === 0) return { ok: true, sent: 0, accepted: 0, duplicates: 0, rejected: 0 };
    const { ack } = res;
    const rejectedIdx = new Set(ack.rejected.map((r) => r.index));
    const removed = await outbox.ack({
      uploaded: entries.filter((_, i) => !rejectedIdx.has(i)).map((e) => e.streamId),
      rejected: entries.filter((_, i) => rejectedIdx.has(i)).map((e) => e.streamId),
      ...(head.length > 0 ? { cursor: head[head.length - 1]!.streamId } : {}),
    });
    for (const r of ack.rejected)
      this.#log.error(
        { eventId: r.id, reason: r.message },
        'the hub cannot read this event; dropped (edge_events_dropped_total{reason="rejected"})',
      );
    return {
      ok: true,
      sent: entries.length,
      accepted: ack.accepted,
      duplicates: ack.duplicates,
      rejected: removed.rejected,
    };
  }

  async #post(
    entries: OutboxEntry[],
    backlog: number,
    storeId: string,
  ): Promise<{ ok: true; ack: EventBatchAck } | (UploadResult & { ok: false })> {
    const { nodeId, metrics } = this.#o;
    const hubToken = typeof this.#o.hubToken === 'function' ? await this.#o.hubToken() : this.#o.hubToken;
    // The events go as stored (no parse/serialise round trip), except one that is not JSON at all,
    // which goes as null: the hub rejects it by position instead of refusing the whole batch.
    const events = entries.map((e) => (isJson(e.json) ? e.json : 'null')).join(',');
    const json =
      `{"schemaVersion":1,"nodeId":${JSON.stringify(nodeId)},"storeId":${JSON.stringify(storeId)},` +
      `"backlog":${backlog},${this.#o.timezone ? `"timezone":${JSON.stringify(this.#o.timezone)},` : ''}` +
      `"events":[${events}]}`;
    const body = await gzip(json);
    const fail = (reason: string, retryable = true) => {
      metrics.eventUploadFailures.inc({ reason });
      return { ok: false as const, reason, retryable };
    };
    let res: Response;
    try {
      res = await this.#fetch(`${this.#o.hubUrl}/v1/events/batch`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          ...(hubToken ? { authorization: `Bearer ${hubToken}` } : {}),
        },
        body,
        signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#o.requestTimeoutMs ?? 15_000)]),
      });
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError';
      return fail(timeout ? 'timeout' : 'unreachable');
    }
    const text = await res.text().catch(() => '');
    if (res.status === 200) {
      const parsed = eventBatchAckSchema.safeParse(safeJson(text));
      const ack = parsed.success ? parsed.data : undefined;
      if (!ack || ack.accepted + ack.duplicates + ack.rejected.length !== entries.length)
        return fail('bad_ack');
      return { ok: true, ack };
    }
    if (res.status === 413 && this.#batchSize > 1) {
      this.#batchSize = Math.max(1, Math.floor(this.#batchSize / 2));
      this.#log.warn({ batchSize: this.#batchSize }, 'hub refused the batch as too large; halving it');
      return fail('http_413', false);
    }
    if (res.status === 400 || res.status === 401 || res.status === 403)
      // 400: the hub refuses the envelope itself (a version skew, a bug). Events the hub cannot
      // read one by one come back in `rejected` with a 200, and an entry that is not JSON at all
      // is sent as null, so a 400 is never one event's fault: keep everything, retry slowly.
      this.#log.error(
        { status: res.status, answer: text.slice(0, 300) },
        res.status === 400
          ? 'hub refused the batch; events stay in the outbox'
          : 'hub refused this node’s token; events stay in the outbox',
      );
    return fail(`http_${res.status}`);
  }

  async #run(): Promise<void> {
    const rate = this.#o.maxEventsPerSecond ?? 5000;
    const poll = this.#o.pollMs ?? 1000;
    while (this.#running) {
      const t0 = Date.now();
      let result: UploadResult;
      try {
        result = await this.uploadOnce();
      } catch (err) {
        // Redis away: the analytics processor is waiting too; try again after a back-off.
        this.#log.warn({ err }, 'reading the event outbox failed');
        result = { ok: false, reason: 'redis', retryable: true };
      }
      this.#lastResult = result;
      if (!this.#running) break;
      if (result.ok) {
        if (this.#failures > 0) this.#log.info({ after: this.#failures }, 'hub reachable again; uploading');
        this.#failures = 0;
        if (result.sent > 0) {
          // Hold the rate: a batch of n may start no sooner than n/rate after the previous one.
          await this.#sleep((result.sent / rate) * 1000 - (Date.now() - t0));
        } else await this.#sleep(poll);
      } else if (!result.retryable) {
        // A smaller batch goes at once.
      } else {
        this.#failures++;
        if (this.#failures === 1)
          this.#log.warn({ reason: result.reason }, 'upload failed; backing off (events stay in the outbox)');
        // Refusals that only a person can fix (token, version skew) wait the longest back-off.
        const refused = ['http_400', 'http_401', 'http_403'].includes(result.reason);
        await this.#sleep(refused ? (this.#o.maxBackoffMs ?? 60_000) : this.backoffMs(this.#failures));
      }
    }
  }

  /** Full jitter: uniform in [0, min(max, base·2^(n-1))]. */
  backoffMs(failures: number): number {
    const base = this.#o.baseBackoffMs ?? 500;
    const max = this.#o.maxBackoffMs ?? 60_000;
    return this.#random() * Math.min(max, base * 2 ** Math.min(30, failures - 1));
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || !this.#running) return Promise.resolve();
    return new Promise((resolve) => {
      const signal = this.#stop.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The event's store (parsed once per entry and remembered); undefined when it has none. */
function storeOf(e: OutboxEntry & { store?: string | null }): string | undefined {
  if (e.store === undefined) {
    try {
      const v = (JSON.parse(e.json) as { storeId?: unknown } | null)?.storeId;
      e.store = typeof v === 'string' ? v : null;
    } catch {
      e.store = null;
    }
  }
  return e.store ?? undefined;
}

function isJson(s: string): boolean {
  if (s === '') return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
