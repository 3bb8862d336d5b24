import type { CameraStats, FrameResult } from '@storevision/contracts';
import type { Redis } from 'ioredis';

/**
 * Frames, per-camera slots and counters, results and the outbox in Redis. Every multi-key change
 * is one Lua script, so a frame's fate is decided atomically and exactly once.
 *
 * Keys (all under `<prefix>:`):
 * - `frame:<frameId>`         the frame's encoded bytes, once, with a TTL
 * - `cam:<cameraId>:pending`  the camera's newest frame not yet taken by a worker:
 *                              `<frameId>|<captureTime>|<receivedAt>|<model,model…>`
 * - `cam:<cameraId>:turn`     `due` while a queued job will take the camera's pending frame, `active`
 *                              while a job works on one of its frames and goes on with the next
 *                              (with a TTL that each change renews, so a job that was never queued —
 *                              Redis failed between the two calls — or died with its process only
 *                              delays the camera's next job, never stops it)
 * - `turn:<jobId>`            the frame a job took (its retries take the same one), with a TTL
 * - `cam:<cameraId>:stats`    hash: received, processed, dropped, failed
 * - `cam:<cameraId>:latest`   hash: captureTime, result (JSON) of the newest processed frame
 * - `fate:<frameId>`          how a frame ended (processed | dropped | failed | expired), with a TTL
 *                              longer than any retry; it makes every ending happen once
 * - `cam:<cameraId>:snapshot:want`  set by the snapshot uploader (once per interval): keep the next
 *                              processed frame's bytes for a snapshot
 * - `cam:<cameraId>:snapshot`  hash: frameId, image — that frame's bytes, with a short TTL
 * - `outbox`                  stream of results and failures, trimmed with `MAXLEN ~`
 *
 * Memory stays bounded whatever the offered load: per camera at most one pending frame (a newer
 * one deletes it), plus the frames in flight (at most one per inference thread, plus those waiting
 * for a retry), all with TTLs; the outbox is capped; fate markers expire. The number of cameras is
 * the one unbounded dimension (one slot, stats and latest hash each).
 *
 * Jobs are camera turns, not frames: a BullMQ job is queued when a frame finds no job due for its
 * camera, and takes the camera's newest pending frame when it runs. A frame that supersedes a
 * pending one costs no job (and no removal of the old one's), and a worker never draws a job whose
 * frame was dropped meanwhile. A turn goes on after its frame (CLAIM next): while no other
 * camera's turn waits in the queue, the job takes its camera's next frame itself, so a busy node
 * pays BullMQ's job lifecycle once per turn, not once per frame; when one waits, the turn goes to
 * the back of the queue (the caller queues it again) and the cameras take turns. A frame that
 * arrives while its camera's turn is active still queues a job of its own when the node has fewer
 * jobs running than inference threads: one camera can keep every thread of an idle node busy.
 */

/**
 * Ingest. KEYS: 1 frame key, 2 camera pending slot, 3 camera stats, 4 camera turn, 5 the BullMQ
 * queue's active list. ARGV: 1 bytes, 2 frame TTL ms, 3 the frame's slot entry
 * (`id|captureTime|receivedAt|models`), 4 frame key prefix (`<prefix>:frame:`), 5 fate key prefix
 * (`<prefix>:fate:`), 6 fate TTL ms, 7 turn TTL ms, 8 the node's inference threads.
 * Stores the bytes and makes this frame the camera's pending one; an older pending frame is dropped
 * (bytes deleted, fate `dropped`, counted). A job is needed when the camera has no turn, or when
 * its turn is active and fewer jobs run than the node has threads (a thread would otherwise idle
 * while this frame waits for the running job). Returns {dropped frame id or '', '1' when the caller
 * must queue a job for the camera, else '0'}. The previous frame's keys are built from ARGV because
 * their id is only known inside the script (fine on one Redis; a cluster would need hash tags per
 * camera).
 */
const INGEST = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local prev = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('HINCRBY', KEYS[3], 'received', 1)
local need = '0'
local turn = redis.call('GET', KEYS[4])
if (not turn) or (turn == 'active' and redis.call('LLEN', KEYS[5]) < tonumber(ARGV[8])) then
  redis.call('SET', KEYS[4], 'due', 'PX', ARGV[7])
  need = '1'
end
local dropped = ''
if prev then
  local id = string.match(prev, '^[^|]+')
  if id ~= string.match(ARGV[3], '^[^|]+') then
    redis.call('DEL', ARGV[4] .. id)
    redis.call('SET', ARGV[5] .. id, 'dropped', 'PX', ARGV[6])
    redis.call('HINCRBY', KEYS[3], 'dropped', 1)
    dropped = id
  end
end
return {dropped, need}
`;

/**
 * A job takes its camera's frame. KEYS: 1 camera pending slot, 2 camera stats, 3 the job's turn
 * (`turn:<jobId>`), 4 camera turn, 5 the BullMQ queue's wait list. ARGV: 1 frame key prefix, 2 fate
 * key prefix, 3 keep-alive of the bytes while in flight (ms), 4 fate TTL ms, 5 '1' to have the bytes
 * returned, 6 turn TTL ms, 7 'next' when the job has ended a frame and goes on with its turn.
 * A first claim takes the frame its job took before (a retry), else the camera's newest pending
 * one, and makes the turn active. NEXT ends quietly when a job is due for the camera (it takes the
 * pending frame), ends the turn when nothing is pending, and yields when other turns wait in the
 * queue: {'yield', entry} — the turn is due again and the caller queues it; else it takes the
 * camera's newest pending frame. Returns {'none'} when nothing is taken; {'settled', entry, fate}
 * when the frame already ended (processed by an earlier attempt); {'expired', entry} when its bytes
 * timed out (counted as failed); else {'claimed', entry[, bytes]}. The bytes stay until the result
 * is written, so a retry after a crash or a watchdog kill finds them again.
 */
const CLAIM = `
local entry = false
local turn = redis.call('GET', KEYS[4])
if ARGV[7] == 'next' then
  if turn == 'due' then return {'none'} end
  entry = redis.call('GET', KEYS[1])
  if not entry then
    redis.call('DEL', KEYS[4])
    return {'none'}
  end
  if redis.call('LLEN', KEYS[5]) > 0 then
    redis.call('SET', KEYS[4], 'due', 'PX', ARGV[6])
    return {'yield', entry}
  end
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], entry, 'PX', ARGV[4])
else
  entry = redis.call('GET', KEYS[3])
  if not entry then
    entry = redis.call('GET', KEYS[1])
    if not entry then
      if turn == 'due' then redis.call('DEL', KEYS[4]) end
      return {'none'}
    end
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[3], entry, 'PX', ARGV[4])
  end
end
redis.call('SET', KEYS[4], 'active', 'PX', ARGV[6])
local id = string.match(entry, '^[^|]+')
local fate = redis.call('GET', ARGV[2] .. id)
if fate then return {'settled', entry, fate} end
local fk = ARGV[1] .. id
if redis.call('PEXPIRE', fk, ARGV[3]) == 0 then
  redis.call('SET', ARGV[2] .. id, 'expired', 'PX', ARGV[4])
  redis.call('HINCRBY', KEYS[2], 'failed', 1)
  return {'expired', entry}
end
if ARGV[5] == '1' then return {'claimed', entry, redis.call('GET', fk)} end
return {'claimed', entry}
`;

/**
 * A frame's result. KEYS: 1 frame key, 2 camera stats, 3 fate key, 4 camera latest, 5 outbox,
 * 6 camera snapshot-wanted flag, 7 camera snapshot. ARGV: 1 captureTime, 2 result JSON, 3 fate
 * TTL ms, 4 outbox max length, 5 frameId, 6 cameraId, 7 snapshot TTL ms.
 * Idempotent on the frame: a second call (a retry that raced the first) writes nothing and
 * returns 0. `latest` only moves forward in capture time. When the snapshot uploader asked for
 * one (the flag), the frame's bytes are copied to the snapshot key instead of being thrown away,
 * and the outbox entry says `snapshot 1`, so the analytics processor records the tracks of that
 * very frame: the frame path pays one DEL of a missing key, inside Redis, per frame.
 */
const COMPLETE = `
if not redis.call('SET', KEYS[3], 'processed', 'NX', 'PX', ARGV[3]) then return 0 end
local snap = false
if redis.call('DEL', KEYS[6]) == 1 then
  local bytes = redis.call('GET', KEYS[1])
  if bytes then
    redis.call('HSET', KEYS[7], 'frameId', ARGV[5], 'image', bytes)
    redis.call('PEXPIRE', KEYS[7], ARGV[7])
    snap = true
  end
end
if snap then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'type', 'detections', 'frameId', ARGV[5], 'cameraId', ARGV[6], 'result', ARGV[2], 'snapshot', '1')
else
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'type', 'detections', 'frameId', ARGV[5], 'cameraId', ARGV[6], 'result', ARGV[2])
end
local t = redis.call('HGET', KEYS[4], 'captureTime')
if (not t) or tonumber(t) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[4], 'captureTime', ARGV[1], 'result', ARGV[2])
end
redis.call('HINCRBY', KEYS[2], 'processed', 1)
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * A turn that cannot go on (its job failed for good, or the worker is pausing). KEYS: 1 camera
 * pending slot, 2 camera turn. ARGV: 1 turn TTL ms. When a job is already due nothing changes;
 * with a frame pending the turn is due again and the entry is returned (the caller queues a job);
 * else the turn ends. Returns the entry or ''.
 */
const END_TURN = `
if redis.call('GET', KEYS[2]) == 'due' then return '' end
local entry = redis.call('GET', KEYS[1])
if entry then
  redis.call('SET', KEYS[2], 'due', 'PX', ARGV[1])
  return entry
end
redis.call('DEL', KEYS[2])
return ''
`;

/**
 * A frame given up on. KEYS: 1 frame key, 2 camera stats, 3 fate key, 4 outbox.
 * ARGV: 1 fate TTL ms, 2 error code, 3 outbox max length, 4 frameId, 5 cameraId.
 * Idempotent like COMPLETE; returns 1 when this call counted the failure.
 */
const FAIL = `
if not redis.call('SET', KEYS[3], 'failed', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[2], 'failed', 1)
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'type', 'frame_failed', 'frameId', ARGV[4], 'cameraId', ARGV[5], 'code', ARGV[2])
return 1
`;

interface ScriptedRedis extends Redis {
  svIngest(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    ...argv: Array<string | Buffer | number>
  ): Promise<[string, string]>;
  svClaimBuffer(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    ...argv: Array<string | number>
  ): Promise<Buffer[]>;
  svEndTurn(k1: string, k2: string, ttlMs: number): Promise<string>;
  svComplete(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    k6: string,
    k7: string,
    ...argv: Array<string | number>
  ): Promise<number>;
  svFail(k1: string, k2: string, k3: string, k4: string, ...argv: Array<string | number>): Promise<number>;
}

/** What a frame's job needs besides its bytes (kept in the camera's pending slot). */
export interface PendingFrame {
  frameId: string;
  captureTime: number;
  receivedAt: number;
  models: string[];
}

export type ClaimResult =
  /** `owned`: the bytes are this process's own copy (the ingested body), no longer kept anywhere else here. */
  | { kind: 'claimed'; frame: PendingFrame; bytes: Buffer; owned: boolean }
  | { kind: 'settled'; frame: PendingFrame; fate: string }
  | { kind: 'expired'; frame: PendingFrame }
  /** Nothing pending for the camera (another job took its newest frame); the turn has ended. */
  | { kind: 'none' }
  /** `next` only: a frame is pending but other cameras' turns wait; the caller queues a job for it. */
  | { kind: 'yield'; frame: PendingFrame };

const entryOf = (f: PendingFrame) => `${f.frameId}|${f.captureTime}|${f.receivedAt}|${f.models.join(',')}`;
function parseEntry(e: string): PendingFrame {
  const [frameId = '', captureTime = '0', receivedAt = '0', models = ''] = e.split('|');
  return {
    frameId,
    captureTime: Number(captureTime),
    receivedAt: Number(receivedAt),
    models: models ? models.split(',') : [],
  };
}

/**
 * The bytes of frames this process ingested, kept in memory until the frame ends, so the worker
 * that claims one in the same process does not read it back from Redis (nor allocate and collect
 * another copy). Redis still holds every frame: a retry on another process, or after a restart,
 * reads it there. Bounded in bytes: past the bound the oldest entries go, and their claims read
 * Redis as before. One instance is shared by a process's repositories (ingest and worker).
 */
export class LocalFrameBytes {
  readonly maxBytes: number;
  readonly #map = new Map<string, Buffer>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#map.size;
  }

  set(frameId: string, bytes: Buffer): void {
    this.delete(frameId);
    if (bytes.length > this.maxBytes) return;
    this.#map.set(frameId, bytes);
    this.#bytes += bytes.length;
    for (const [id, b] of this.#map) {
      if (this.#bytes <= this.maxBytes) break;
      this.#map.delete(id);
      this.#bytes -= b.length;
    }
  }

  get(frameId: string): Buffer | undefined {
    return this.#map.get(frameId);
  }

  delete(frameId: string): void {
    const b = this.#map.get(frameId);
    if (!b) return;
    this.#map.delete(frameId);
    this.#bytes -= b.length;
  }
}

export interface FrameRepositoryOptions {
  prefix: string;
  /** Frames ingested by this process, held for its own claims (see `LocalFrameBytes`). */
  local?: LocalFrameBytes | undefined;
  frameTtlMs: number;
  /** How long a taken frame's bytes may wait for a retry. */
  inFlightTtlMs: number;
  fateTtlMs: number;
  outboxMaxLen: number;
  /** How long a frame kept for a snapshot waits for the snapshot uploader. @defaultValue 60 s */
  snapshotTtlMs?: number;
  /**
   * How long a camera's turn waits for its job before the next frame queues another (a job lost
   * between ingest's two calls). A job that waits longer is not lost: a second one then finds
   * nothing pending. @defaultValue 10 s
   */
  turnTtlMs?: number;
  /** The BullMQ frame queue's lists (`FrameQueue.keys`): turns go on and jobs are queued by their lengths. */
  queueKeys?: { wait: string; active: string };
  /** The node's inference threads: while fewer jobs run, a camera's new frame gets a job of its own. @defaultValue 1 */
  threads?: number;
}

export interface OutboxEntry {
  id: string;
  type: 'detections' | 'frame_failed';
  frameId: string;
  cameraId: string;
  result?: FrameResult;
  code?: string;
  /** This frame's bytes were kept for a snapshot. */
  snapshot?: boolean;
}

export function defineFrameScripts(redis: Redis): void {
  redis.defineCommand('svIngest', { numberOfKeys: 5, lua: INGEST });
  redis.defineCommand('svClaim', { numberOfKeys: 5, lua: CLAIM });
  redis.defineCommand('svEndTurn', { numberOfKeys: 2, lua: END_TURN });
  redis.defineCommand('svComplete', { numberOfKeys: 7, lua: COMPLETE });
  redis.defineCommand('svFail', { numberOfKeys: 4, lua: FAIL });
}

export class FrameRepository {
  readonly #redis: ScriptedRedis;
  readonly #o: FrameRepositoryOptions;

  /** `redis` must have had `defineFrameScripts` applied. */
  constructor(redis: Redis, options: FrameRepositoryOptions) {
    this.#redis = redis as ScriptedRedis;
    this.#o = options;
  }

  #k(...parts: string[]): string {
    return [this.#o.prefix, ...parts].join(':');
  }

  get outboxKey(): string {
    return this.#k('outbox');
  }

  /**
   * Stores a frame and makes it the camera's pending one. `dropped`: the frame it superseded;
   * `queueJob`: no job is due for the camera, so the caller queues one.
   */
  async ingest(
    frame: PendingFrame & { cameraId: string },
    bytes: Buffer,
  ): Promise<{ dropped: string | null; queueJob: boolean }> {
    const [dropped, need] = await this.#redis.svIngest(
      this.#k('frame', frame.frameId),
      this.#k('cam', frame.cameraId, 'pending'),
      this.#k('cam', frame.cameraId, 'stats'),
      this.#k('cam', frame.cameraId, 'turn'),
      this.#o.queueKeys?.active ?? this.#k('no-active-list'),
      bytes,
      this.#o.frameTtlMs,
      entryOf(frame),
      this.#k('frame', ''),
      this.#k('fate', ''),
      this.#o.fateTtlMs,
      this.#o.turnTtlMs ?? 10_000,
      this.#o.threads ?? 1,
    );
    if (dropped) this.#o.local?.delete(dropped);
    this.#o.local?.set(frame.frameId, bytes);
    return { dropped: dropped || null, queueJob: need === '1' };
  }

  /**
   * Job `jobId` takes its camera's frame (see CLAIM). `next`: the job has ended a frame and goes on
   * with its turn unless a job is due for the camera or turns of other cameras wait in the queue.
   */
  async claim(jobId: string, cameraId: string, opts: { next?: boolean } = {}): Promise<ClaimResult> {
    const local = this.#o.local;
    const r = await this.#redis.svClaimBuffer(
      this.#k('cam', cameraId, 'pending'),
      this.#k('cam', cameraId, 'stats'),
      this.#k('turn', jobId),
      this.#k('cam', cameraId, 'turn'),
      this.#o.queueKeys?.wait ?? this.#k('no-wait-list'),
      this.#k('frame', ''),
      this.#k('fate', ''),
      this.#o.inFlightTtlMs,
      this.#o.fateTtlMs,
      local ? '0' : '1',
      this.#o.turnTtlMs ?? 10_000,
      opts.next ? 'next' : 'first',
    );
    const kind = r[0]?.toString();
    if (kind === 'none' || !r[1]) return { kind: 'none' };
    const frame = parseEntry(r[1].toString());
    if (kind === 'yield') return { kind, frame };
    // The held body is handed to the caller (who may move it to an inference thread): a retry of
    // this frame reads the bytes from Redis, which keeps them until the frame ends.
    const held = local?.get(frame.frameId);
    local?.delete(frame.frameId);
    if (kind === 'settled') return { kind, frame, fate: r[2]?.toString() ?? '' };
    if (kind === 'expired') return { kind, frame };
    if (r[2]) return { kind: 'claimed', frame, bytes: r[2], owned: false };
    if (held) return { kind: 'claimed', frame, bytes: held, owned: true };
    // Not held here (a retry in another process, or evicted): the bytes from Redis.
    const bytes = await this.#redis.getBuffer(this.#k('frame', frame.frameId));
    if (!bytes) {
      // Gone between the two calls (its TTL): ended like any expired frame.
      await this.fail(frame.frameId, cameraId, 'EDGE_ERR_FRAME_EXPIRED');
      return { kind: 'expired', frame };
    }
    return { kind: 'claimed', frame, bytes, owned: false };
  }

  /**
   * Ends a turn that cannot go on. Returns the camera's pending frame when there is one: its turn is
   * still set, and the caller must queue a job for it.
   */
  async endTurn(cameraId: string): Promise<PendingFrame | undefined> {
    const entry = await this.#redis.svEndTurn(
      this.#k('cam', cameraId, 'pending'),
      this.#k('cam', cameraId, 'turn'),
      this.#o.turnTtlMs ?? 10_000,
    );
    return entry ? parseEntry(entry) : undefined;
  }

  /** Writes a result once; false when this frame already had its ending. */
  async complete(result: FrameResult): Promise<boolean> {
    const n = await this.#redis.svComplete(
      this.#k('frame', result.frameId),
      this.#k('cam', result.cameraId, 'stats'),
      this.#k('fate', result.frameId),
      this.#k('cam', result.cameraId, 'latest'),
      this.outboxKey,
      this.#k('cam', result.cameraId, 'snapshot', 'want'),
      this.#k('cam', result.cameraId, 'snapshot'),
      result.captureTime,
      JSON.stringify(result),
      this.#o.fateTtlMs,
      this.#o.outboxMaxLen,
      result.frameId,
      result.cameraId,
      this.#o.snapshotTtlMs ?? 60_000,
    );
    this.#o.local?.delete(result.frameId);
    return n === 1;
  }

  /**
   * Asks for the next processed frame of each camera to be kept as a snapshot (the flag lives
   * `ttlMs`: a camera that sends no frame meanwhile keeps nothing).
   */
  async wantSnapshots(cameraIds: string[], ttlMs: number): Promise<void> {
    if (cameraIds.length === 0) return;
    const m = this.#redis.multi();
    for (const id of cameraIds) m.set(this.#k('cam', id, 'snapshot', 'want'), '1', 'PX', ttlMs);
    await m.exec();
  }

  /** The frame kept for a camera's snapshot, if it is the one named (and removes it). */
  async takeSnapshotFrame(cameraId: string, frameId: string): Promise<Buffer | undefined> {
    const key = this.#k('cam', cameraId, 'snapshot');
    const [[, id], [, image]] = (await this.#redis
      .multi()
      .hget(key, 'frameId')
      .hgetBuffer(key, 'image')
      .exec()) as [[Error | null, string | null], [Error | null, Buffer | null]];
    if (id !== frameId || !image) return undefined;
    await this.#redis.del(key);
    return image;
  }

  /** Counts a frame as failed once; false when it already had its ending. */
  async fail(frameId: string, cameraId: string, code: string): Promise<boolean> {
    const n = await this.#redis.svFail(
      this.#k('frame', frameId),
      this.#k('cam', cameraId, 'stats'),
      this.#k('fate', frameId),
      this.outboxKey,
      this.#o.fateTtlMs,
      code,
      this.#o.outboxMaxLen,
      frameId,
      cameraId,
    );
    this.#o.local?.delete(frameId);
    return n === 1;
  }

  async latest(cameraId: string): Promise<FrameResult | undefined> {
    const json = await this.#redis.hget(this.#k('cam', cameraId, 'latest'), 'result');
    return json ? (JSON.parse(json) as FrameResult) : undefined;
  }

  async stats(cameraId: string): Promise<CameraStats> {
    const h = await this.#redis.hgetall(this.#k('cam', cameraId, 'stats'));
    const n = (k: string) => Number(h[k] ?? 0);
    return {
      cameraId,
      received: n('received'),
      processed: n('processed'),
      dropped: n('dropped'),
      failed: n('failed'),
    };
  }

  /** Oldest-first page of the outbox (for tests and the hub uploader to come). */
  async readOutbox(count = 1000, after = '-'): Promise<OutboxEntry[]> {
    const rows = await this.#redis.xrange(this.outboxKey, after, '+', 'COUNT', count);
    return rows.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return {
        id,
        type: f.type as OutboxEntry['type'],
        frameId: f.frameId ?? '',
        cameraId: f.cameraId ?? '',
        ...(f.result ? { result: JSON.parse(f.result) as FrameResult } : {}),
        ...(f.code ? { code: f.code } : {}),
      };
    });
  }

  async outboxLength(): Promise<number> {
    return this.#redis.xlen(this.outboxKey);
  }

  /** Bytes of a stored frame (tests check that dropped and finished frames leave nothing). */
  async frameExists(frameId: string): Promise<boolean> {
    return (await this.#redis.exists(this.#k('frame', frameId))) === 1;
  }
}
