import type { Redis } from 'ioredis';

/**
 * The event outbox as the uploader sees it: `<prefix>:events`, the stream the analytics processor
 * appends `{id, event}` entries to (trimmed by age, `MINID ~`, in `AnalyticsRepository.commit`),
 * and `<prefix>:an:upload`, a hash of the uploader's state:
 * - `cursor`    stream id of the last entry of the oldest part the hub acknowledged
 * - `uploaded`  entries removed because the hub acknowledged them (accepted or duplicate)
 * - `rejected`  entries removed because the hub said it can never read them
 *
 * Nothing else deletes single entries, so everything the stream ever held is accounted for:
 * `entries-added` (XINFO STREAM, Redis ≥ 7, kept in the AOF) = length + uploaded + rejected +
 * trimmed. `trimmed` — removed by the age or length limit before the hub had them — is therefore
 * known exactly, after any number of restarts, without hooking the trimming itself.
 */
export interface OutboxEntry {
  streamId: string;
  /** The event's id (the hub's idempotency key). */
  id: string;
  /** The event, JSON text exactly as stored. */
  json: string;
}

export interface OutboxTotals {
  uploaded: number;
  rejected: number;
  trimmed: number;
  length: number;
}

/**
 * KEYS: 1 the event stream, 2 the upload state hash. ARGV: 1 the new cursor ('' keeps it), 2 n,
 * then n stream ids the hub acknowledged, then the stream ids it rejected. Deletes them, adds what
 * was really deleted (an entry trimmed meanwhile is not) to `uploaded`/`rejected`, moves the
 * cursor — all or nothing, so the totals can never disagree with the stream.
 */
const ACK = `
local n = tonumber(ARGV[2])
local up = 0
local rej = 0
for i = 3, 2 + n do up = up + redis.call('XDEL', KEYS[1], ARGV[i]) end
for i = 3 + n, #ARGV do rej = rej + redis.call('XDEL', KEYS[1], ARGV[i]) end
if up > 0 then redis.call('HINCRBY', KEYS[2], 'uploaded', up) end
if rej > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', rej) end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[2], 'cursor', ARGV[1]) end
return {up, rej}
`;

export class EventOutboxRepository {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, opts: { prefix: string }) {
    this.#redis = redis;
    this.#prefix = opts.prefix;
  }

  get eventsKey(): string {
    return `${this.#prefix}:events`;
  }

  get stateKey(): string {
    return `${this.#prefix}:an:upload`;
  }

  async cursor(): Promise<string> {
    return (await this.#redis.hget(this.stateKey, 'cursor')) ?? '0-0';
  }

  /** Up to `count` entries after `after`, oldest first. */
  async oldest(after: string, count: number): Promise<OutboxEntry[]> {
    return toEntries(await this.#redis.xrange(this.eventsKey, `(${after}`, '+', 'COUNT', count));
  }

  /** Up to `count` newest entries after `after`, newest first. */
  async newest(after: string, count: number): Promise<OutboxEntry[]> {
    return toEntries(await this.#redis.xrevrange(this.eventsKey, '+', `(${after}`, 'COUNT', count));
  }

  async length(): Promise<number> {
    return this.#redis.xlen(this.eventsKey);
  }

  /** Removes what the hub acknowledged (see `ACK`); resolves what was really removed. */
  async ack(opts: {
    uploaded: string[];
    rejected: string[];
    cursor?: string;
  }): Promise<{ uploaded: number; rejected: number }> {
    const [up, rej] = (await this.#redis.eval(
      ACK,
      2,
      this.eventsKey,
      this.stateKey,
      opts.cursor ?? '',
      String(opts.uploaded.length),
      ...opts.uploaded,
      ...opts.rejected,
    )) as [number, number];
    return { uploaded: up, rejected: rej };
  }

  /**
   * Trims the oldest entries beyond `maxLen` (exactly, so the cap is a promise). What it removes
   * shows up in `totals().trimmed`. Resolves how many it removed.
   */
  async enforceCap(maxLen: number): Promise<number> {
    if ((await this.length()) <= maxLen) return 0;
    return this.#redis.xtrim(this.eventsKey, 'MAXLEN', maxLen);
  }

  async totals(): Promise<OutboxTotals> {
    const [info, state] = await Promise.all([
      this.#redis.xinfo('STREAM', this.eventsKey).catch((err: Error) => {
        if (/no such key/i.test(err.message)) return [] as unknown[];
        throw err;
      }) as Promise<unknown[]>,
      this.#redis.hgetall(this.stateKey),
    ]);
    const field = (name: string) => {
      const i = info.indexOf(name);
      return i >= 0 ? Number(info[i + 1]) : 0;
    };
    const added = field('entries-added');
    const length = field('length');
    const uploaded = Number(state.uploaded ?? 0);
    const rejected = Number(state.rejected ?? 0);
    return { uploaded, rejected, length, trimmed: Math.max(0, added - length - uploaded - rejected) };
  }
}

function toEntries(rows: Array<[string, string[]]>): OutboxEntry[] {
  const out: OutboxEntry[] = [];
  for (const [streamId, fields] of rows) {
    let id = '';
    let json = '';
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'id') id = fields[i + 1]!;
      else if (fields[i] === 'event') json = fields[i + 1]!;
    }
    out.push({ streamId, id, json });
  }
  return out;
}
