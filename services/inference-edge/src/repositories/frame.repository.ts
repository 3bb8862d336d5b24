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
 * - `cam:<cameraId>:turn`     `due` while the camera waits in line, `active` while a runner holds
 *                              one of its frames (with a TTL that each change, and each frame of a
 *                              waiting camera, renews, so a runner that died with its process only
 *                              delays the camera, never stops it)
 * - `turn:<jobId>`            the frame a runner holds, `<camera>|<entry>` (its retries take the
 *                              same one), with a TTL
 * - `cam:<cameraId>:stats`    hash: received, processed, dropped, failed
 * - `cam:<cameraId>:latest`   hash: captureTime, result (JSON) of the newest processed frame
 * - `fate:<frameId>`          how a frame ended (processed | dropped | failed | expired), with a TTL
 *                              longer than any retry; it makes every ending happen once
 * - `cam:<cameraId>:snapshot:want`  set by the snapshot uploader (once per interval): keep the next
 *                              processed frame's bytes for a snapshot
 * - `cam:<cameraId>:snapshot`  hash: frameId, image — that frame's bytes, with a short TTL
 * - `outbox`                  stream of results and failures, trimmed with `MAXLEN ~`
 * - `due`, `due:back`         the line of cameras whose turn is due (a frame pending, no runner holding
 *                              the camera), entries `<cameraId>|<since ms>`: `due` takes cameras that
 *                              became due with a new frame (newest first), `due:back` those sent to
 *                              the back after their turn (oldest first); one entry per camera while
 *                              its marker lives
 * - `runners`                 sorted set of the runner jobs alive, scored by when their lease ends
 *
 * Memory stays bounded whatever the offered load: per camera at most one pending frame (a newer
 * one deletes it), plus the frames in flight (at most one per inference thread, plus those waiting
 * for a retry), all with TTLs; the outbox is capped; fate markers expire. The number of cameras is
 * the one unbounded dimension (one slot, stats and latest hash each).
 *
 * Jobs are runners, not frames: a BullMQ job takes the turn of the next due camera, infers its
 * newest pending frame, and goes on with the next due camera, until none is due; then it leaves
 * `runners` (and its job waits a moment in its process to take on the next runner to start, under
 * that runner's id: `FrameProcessor`, `runnerIdleMs`; claims and ends name the runner id, a held
 * frame stays under the job's id for its retries).
 * Ingest queues a runner only when a camera becomes due and fewer runners are alive than the
 * node's job slots, so a busy node pays BullMQ's job lifecycle (add, fetch, finish: about a third
 * of the main thread's work per frame) about once per runner lifetime instead of once per frame,
 * whatever the number of cameras. The cameras still take turns: a runner whose camera has its next
 * frame pending goes on with it only while no other camera is due, else sends it to the back of the
 * line. Among the cameras due, the one that became due last goes first (its frame is the freshest:
 * under overload the runners take the freshest frames, `storevision bench edge` at 3x) — unless one
 * has waited `maxDueWaitMs`; then the one due longest goes first, so none starves. A camera is held
 * by one runner at a time, so its frames are inferred in order, except that a frame arriving while
 * fewer runners are alive than the node has threads makes its camera due at once (a thread would
 * otherwise idle while the frame waits): one camera can keep every thread of an idle node busy. A
 * frame that supersedes a pending one costs no job, and a runner never draws a frame that was
 * dropped meanwhile.
 *
 * Runner leases keep the count honest when something dies: a runner counts from when it is queued
 * (for a turn TTL) and renews a whole lease with every claim; it leaves the set when it ends. One
 * whose job could not be queued (Redis failed between ingest's two calls) or whose process died is
 * forgotten when its lease ends; a restarted node clears the set (BullMQ hands the dead process's
 * jobs to the new one, and they rejoin on their next claim); and the processor checks every few
 * seconds that the cameras due have a runner (END_RUNNER without a job).
 */

/**
 * Ingest. KEYS: 1 frame key, 2 camera pending slot, 3 camera stats, 4 camera turn, 5 `due`,
 * 6 `runners`. ARGV: 1 frame TTL ms, 2 the frame's slot entry
 * (`id|captureTime|receivedAt|models`), 3 frame key prefix (`<prefix>:frame:`), 4 fate key prefix
 * (`<prefix>:fate:`), 5 fate TTL ms, 6 turn TTL ms, 7 the node's inference threads, 8 camera id,
 * 9 now (epoch ms), 10 job slots (most runners alive), 11 id for a new runner.
 * The bytes are stored by a plain SET sent right before it (see `ingest`: a 150 KB argument costs
 * Redis ~140 µs more a frame inside a script than in a SET, which keeps a big argument without a
 * copy). Makes this frame the camera's pending one; an older pending frame is dropped
 * (bytes deleted, fate `dropped`, counted). The camera becomes due when no runner holds it, or when
 * one does and fewer runners are alive than the node has threads. Returns {dropped frame id or '',
 * the new runner's id when the caller must queue it (the camera became due and fewer runners are
 * alive than the job slots; a frame that supersedes one already due rides that turn), else ''}.
 * The previous frame's keys are built from ARGV because their id is only known inside the script
 * (fine on one Redis; a cluster would need hash tags per camera).
 */
const INGEST = `
local prev = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
redis.call('HINCRBY', KEYS[3], 'received', 1)
local turn = redis.call('GET', KEYS[4])
local runner = ''
-- Runners alive, counted only when it matters (not for a frame that supersedes one already due).
local runners = false
local function alive()
  if not runners then
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', ARGV[9])
    runners = redis.call('ZCARD', KEYS[6])
  end
  return runners
end
if (not turn) or (turn == 'active' and alive() < tonumber(ARGV[7])) then
  redis.call('SET', KEYS[4], 'due', 'PX', ARGV[6])
  redis.call('LPUSH', KEYS[5], ARGV[8] .. '|' .. ARGV[9])
  if alive() < tonumber(ARGV[10]) then
    -- Counted until its first claim renews it for a whole lease: a job that never gets queued
    -- (Redis failed between the two calls) holds its slot only this long.
    redis.call('ZADD', KEYS[6], tonumber(ARGV[9]) + tonumber(ARGV[6]), ARGV[11])
    runner = ARGV[11]
  end
elseif turn == 'due' then
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
local dropped = ''
if prev then
  local id = string.match(prev, '^[^|]+')
  if id ~= string.match(ARGV[2], '^[^|]+') then
    redis.call('DEL', ARGV[3] .. id)
    redis.call('SET', ARGV[4] .. id, 'dropped', 'PX', ARGV[5])
    redis.call('HINCRBY', KEYS[3], 'dropped', 1)
    dropped = id
  end
end
return {dropped, runner}
`;

/**
 * A runner takes a frame. KEYS: 1 `due`, 2 `runners`, 3 the frame the job holds (`turn:<jobId>`,
 * `<camera>|<entry>`), 4 `due:back`. ARGV: 1 key prefix (`<prefix>:`), 2 keep-alive of the bytes
 * while in flight (ms), 3 fate TTL ms, 4 '1' to have the bytes returned, 5 turn TTL ms, 6 mode,
 * 7 runner id (its member of `runners`: the job id, or the id an idle job took on), 8 now (epoch
 * ms), 9 runner lease ms, 10 the camera of the runner's last frame (or ''),
 * 11 longest wait of a due camera before it goes first (ms).
 * 'first' takes the frame the job held before, if any (a job whose process died), else a due
 * camera's; 'held' (a retry) takes only the held frame ({'none'} without it: the caller ends the
 * runner); 'next' goes on with the runner's camera when its next frame is pending and no other
 * camera is due; with others due the camera goes to the back (`due:back`); with nothing pending
 * its turn ends. Then the next due camera gives its newest pending frame: the one due longest once
 * it has waited ARGV[11], else the one that became due last. With none due the runner ends (leaves
 * `runners`) and gets {'none'}; else its lease is renewed and it gets {'settled', camera, entry,
 * fate} when the frame already ended (processed by an earlier attempt), {'expired', camera, entry}
 * when its bytes timed out (counted as failed), else {'claimed', camera, entry[, bytes]}. The bytes
 * stay until the result is written, so a retry after a crash or a watchdog kill finds them again.
 */
const CLAIM = `
local P = ARGV[1]
local now = tonumber(ARGV[8])
local maxWait = tonumber(ARGV[11])
local cam = false
local entry = false
local function waited(e)
  return now - tonumber(string.match(e, '|(%d+)$'))
end
-- The camera whose turn comes: the one due longest when it has waited maxWait, else the newest due.
-- (The oldest entry of each list is at its far end: the head of due:back, the tail of due.)
local function popDue()
  local w = redis.call('LINDEX', KEYS[4], 0)
  local f = redis.call('LINDEX', KEYS[1], -1)
  local ww = w and waited(w) or -1
  local wf = f and waited(f) or -1
  if ww > maxWait or wf > maxWait then
    if wf >= ww then return redis.call('RPOP', KEYS[1]) end
    return redis.call('LPOP', KEYS[4])
  end
  if f then return redis.call('LPOP', KEYS[1]) end
  return redis.call('LPOP', KEYS[4])
end
if ARGV[6] == 'next' then
  local c = ARGV[10]
  local tk = P .. 'cam:' .. c .. ':turn'
  if c ~= '' and redis.call('GET', tk) ~= 'due' then
    local pk = P .. 'cam:' .. c .. ':pending'
    local e = redis.call('GET', pk)
    if not e then
      redis.call('DEL', tk)
    elseif redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[4]) > 0 then
      redis.call('SET', tk, 'due', 'PX', ARGV[5])
      redis.call('RPUSH', KEYS[4], c .. '|' .. ARGV[8])
    else
      redis.call('DEL', pk)
      redis.call('SET', tk, 'active', 'PX', ARGV[5])
      cam = c
      entry = e
    end
  end
else
  local held = redis.call('GET', KEYS[3])
  if held then
    cam, entry = string.match(held, '^([^|]+)|(.*)$')
  elseif ARGV[6] == 'held' then
    return {'none'}
  end
end
while not entry do
  local d = popDue()
  if not d then
    redis.call('ZREM', KEYS[2], ARGV[7])
    redis.call('DEL', KEYS[3])
    return {'none'}
  end
  local c = string.match(d, '^[^|]+')
  local tk = P .. 'cam:' .. c .. ':turn'
  -- 'active': a second entry of a camera a runner took meanwhile; none: its marker expired while
  -- it waited (a stalled node), and it is still this entry's turn.
  if redis.call('GET', tk) ~= 'active' then
    local pk = P .. 'cam:' .. c .. ':pending'
    local e = redis.call('GET', pk)
    if e then
      redis.call('DEL', pk)
      redis.call('SET', tk, 'active', 'PX', ARGV[5])
      cam = c
      entry = e
    else
      redis.call('DEL', tk)
    end
  end
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[9]), ARGV[7])
redis.call('SET', KEYS[3], cam .. '|' .. entry, 'PX', ARGV[3])
local id = string.match(entry, '^[^|]+')
local fate = redis.call('GET', P .. 'fate:' .. id)
if fate then return {'settled', cam, entry, fate} end
local fk = P .. 'frame:' .. id
if redis.call('PEXPIRE', fk, ARGV[2]) == 0 then
  redis.call('SET', P .. 'fate:' .. id, 'expired', 'PX', ARGV[3])
  redis.call('HINCRBY', P .. 'cam:' .. cam .. ':stats', 'failed', 1)
  return {'expired', cam, entry}
end
if ARGV[4] == '1' then return {'claimed', cam, entry, redis.call('GET', fk)} end
return {'claimed', cam, entry}
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
 * A runner that ends before nothing is due (its job failed for good, it retried a frame, it has
 * run its time, or the worker is pausing), or a check that some runner serves the cameras due (no
 * runner). KEYS: 1 `due`, 2 `runners`, 3 `turn:<jobId>`, 4 `due:back`. ARGV: 1 key prefix, 2 runner
 * id (or ''), 3 the camera it held last (or ''), 4 turn TTL ms, 5 now, 6 job slots, 7 id for a new
 * runner. The runner leaves `runners`; its camera goes to the back of the line when a frame is
 * pending (else its turn ends); when cameras are due and runners are short, a new runner joins and
 * its id is returned (the caller queues it), else ''.
 */
const END_RUNNER = `
local P = ARGV[1]
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('DEL', KEYS[3])
end
if ARGV[3] ~= '' then
  local tk = P .. 'cam:' .. ARGV[3] .. ':turn'
  if redis.call('GET', tk) ~= 'due' then
    if redis.call('EXISTS', P .. 'cam:' .. ARGV[3] .. ':pending') == 1 then
      redis.call('SET', tk, 'due', 'PX', ARGV[4])
      redis.call('RPUSH', KEYS[4], ARGV[3] .. '|' .. ARGV[5])
    else
      redis.call('DEL', tk)
    end
  end
end
if redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[4]) == 0 then return '' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return '' end
redis.call('ZADD', KEYS[2], tonumber(ARGV[5]) + tonumber(ARGV[4]), ARGV[7])
return ARGV[7]
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
    k6: string,
    ...argv: Array<string | Buffer | number>
  ): Promise<[string, string]>;
  svClaimBuffer(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    ...argv: Array<string | number>
  ): Promise<Buffer[]>;
  svEndRunner(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    ...argv: Array<string | number>
  ): Promise<string>;
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
  | { kind: 'claimed'; camera: string; frame: PendingFrame; bytes: Buffer; owned: boolean }
  | { kind: 'settled'; camera: string; frame: PendingFrame; fate: string }
  | { kind: 'expired'; camera: string; frame: PendingFrame }
  /** No camera is due: the runner has ended (left `runners`). */
  | { kind: 'none' };

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
   * How long a camera's turn marker lives without a change: a camera held by a runner that died
   * waits at most this long before its next frame makes it due again. @defaultValue 10 s
   */
  turnTtlMs?: number;
  /** The node's inference threads: while fewer runners are alive, a camera's new frame is due at once. @defaultValue 1 */
  threads?: number;
  /** Most runners alive at once (the worker's job slots). @defaultValue 2 × `threads` */
  jobSlots?: number;
  /**
   * How long a runner counts as alive after its last claim (longer than a frame can take, retries
   * and the watchdog included). A runner just queued counts for `turnTtlMs` until its first claim.
   * @defaultValue 60 s
   */
  runnerLeaseMs?: number;
  /**
   * The camera that became due last goes first (its frame is the freshest), unless one has waited
   * this long: then the one due longest goes first. @defaultValue 1000 ms
   */
  maxDueWaitMs?: number;
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
  redis.defineCommand('svIngest', { numberOfKeys: 6, lua: INGEST });
  redis.defineCommand('svClaim', { numberOfKeys: 4, lua: CLAIM });
  redis.defineCommand('svEndRunner', { numberOfKeys: 4, lua: END_RUNNER });
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

  get #threads(): number {
    return this.#o.threads ?? 1;
  }

  get #jobSlots(): number {
    return this.#o.jobSlots ?? 2 * this.#threads;
  }

  get #turnTtlMs(): number {
    return this.#o.turnTtlMs ?? 10_000;
  }

  get #leaseMs(): number {
    return this.#o.runnerLeaseMs ?? 60_000;
  }

  /**
   * Stores a frame and makes it the camera's pending one. `dropped`: the frame it superseded;
   * `runner`: the id of a runner job the caller must queue (a camera is due and runners are short).
   */
  async ingest(
    frame: PendingFrame & { cameraId: string },
    bytes: Buffer,
  ): Promise<{ dropped: string | null; runner: string | null }> {
    // Both go out back to back without waiting (Redis runs them in order). Should the SET fail
    // alone, the frame is pending without bytes: its claim finds it expired and counts it failed.
    const frameKey = this.#k('frame', frame.frameId);
    const stored = this.#redis.set(frameKey, bytes, 'PX', this.#o.frameTtlMs);
    const ingested = this.#redis.svIngest(
      frameKey,
      this.#k('cam', frame.cameraId, 'pending'),
      this.#k('cam', frame.cameraId, 'stats'),
      this.#k('cam', frame.cameraId, 'turn'),
      this.#k('due'),
      this.#k('runners'),
      this.#o.frameTtlMs,
      entryOf(frame),
      this.#k('frame', ''),
      this.#k('fate', ''),
      this.#o.fateTtlMs,
      this.#turnTtlMs,
      this.#threads,
      frame.cameraId,
      Date.now(),
      this.#jobSlots,
      frame.frameId,
    );
    const [, [dropped, runner]] = await Promise.all([stored, ingested]);
    if (dropped) this.#o.local?.delete(dropped);
    this.#o.local?.set(frame.frameId, bytes);
    return { dropped: dropped || null, runner: runner || null };
  }

  /**
   * Job `jobId` takes a frame (see CLAIM): first the one it held before (a retry, or a job whose
   * process died), else, after a frame of `opts.after` (the camera it just served), that camera's
   * next frame while no other camera is due, else the next due camera's newest frame. `heldOnly`
   * (a retry): only the held frame. `none`: nothing to take; unless `heldOnly`, the runner has left
   * `runners`. `runnerId`: the runner the job runs as (an idle job takes on the id of a runner
   * that was to start; default: the job id).
   */
  async claim(
    jobId: string,
    opts: { after?: string; heldOnly?: boolean; runnerId?: string } = {},
  ): Promise<ClaimResult> {
    const local = this.#o.local;
    const r = await this.#redis.svClaimBuffer(
      this.#k('due'),
      this.#k('runners'),
      this.#k('turn', jobId),
      this.#k('due', 'back'),
      this.#k(''),
      this.#o.inFlightTtlMs,
      this.#o.fateTtlMs,
      local ? '0' : '1',
      this.#turnTtlMs,
      opts.heldOnly ? 'held' : opts.after === undefined ? 'first' : 'next',
      opts.runnerId ?? jobId,
      Date.now(),
      this.#leaseMs,
      opts.after ?? '',
      this.#o.maxDueWaitMs ?? 1000,
    );
    const kind = r[0]?.toString();
    if (kind === 'none' || !r[1] || !r[2]) return { kind: 'none' };
    const camera = r[1].toString();
    const frame = parseEntry(r[2].toString());
    // The held body is handed to the caller (who may move it to an inference thread): a retry of
    // this frame reads the bytes from Redis, which keeps them until the frame ends.
    const held = local?.get(frame.frameId);
    local?.delete(frame.frameId);
    if (kind === 'settled') return { kind, camera, frame, fate: r[3]?.toString() ?? '' };
    if (kind === 'expired') return { kind, camera, frame };
    if (r[3]) return { kind: 'claimed', camera, frame, bytes: r[3], owned: false };
    if (held) return { kind: 'claimed', camera, frame, bytes: held, owned: true };
    // Not held here (a retry in another process, or evicted): the bytes from Redis.
    const bytes = await this.#redis.getBuffer(this.#k('frame', frame.frameId));
    if (!bytes) {
      // Gone between the two calls (its TTL): ended like any expired frame.
      await this.fail(frame.frameId, camera, 'EDGE_ERR_FRAME_EXPIRED');
      return { kind: 'expired', camera, frame };
    }
    return { kind: 'claimed', camera, frame, bytes, owned: false };
  }

  /**
   * Ends the runner of job `jobId` before nothing is due (see END_RUNNER); `camera`: the one it
   * held last; `runnerId`: the runner it ran as (default: the job id). With both '' it only checks
   * that the cameras due have a runner. Returns the id of a runner the caller must start, or null.
   */
  async endRunner(
    jobId: string,
    camera: string | undefined,
    newRunnerId: string,
    runnerId: string = jobId,
  ): Promise<string | null> {
    const id = await this.#redis.svEndRunner(
      this.#k('due'),
      this.#k('runners'),
      this.#k('turn', jobId),
      this.#k('due', 'back'),
      this.#k(''),
      runnerId,
      camera ?? '',
      this.#turnTtlMs,
      Date.now(),
      this.#jobSlots,
      newRunnerId,
    );
    return id || null;
  }

  /**
   * Runner `from` becomes runner `to` in `runners` with a fresh lease (a job that failed while it
   * ran as a runner it took on: its retry counts under the job's id, as a job that never idled).
   */
  async renameRunner(from: string, to: string): Promise<void> {
    await this.#redis
      .multi()
      .zrem(this.#k('runners'), from)
      .zadd(this.#k('runners'), Date.now() + this.#leaseMs, to)
      .exec();
  }

  /** The frame runner `jobId` holds (`turn:<jobId>`), if any: a job BullMQ failed for good. */
  async heldFrame(jobId: string): Promise<{ camera: string; frame: PendingFrame } | undefined> {
    const held = await this.#redis.get(this.#k('turn', jobId));
    const bar = held?.indexOf('|') ?? -1;
    if (!held || bar < 0) return undefined;
    return { camera: held.slice(0, bar), frame: parseEntry(held.slice(bar + 1)) };
  }

  /** Forgets every runner (a node starting: those of a process that died rejoin on their next claim). */
  async resetRunners(): Promise<void> {
    await this.#redis.del(this.#k('runners'));
  }

  /** Cameras waiting for a runner, and runners alive. */
  async runnerState(): Promise<{ due: number; runners: number }> {
    const [[, due], [, back], [, runners]] = (await this.#redis
      .multi()
      .llen(this.#k('due'))
      .llen(this.#k('due', 'back'))
      .zcount(this.#k('runners'), Date.now(), '+inf')
      .exec()) as [[Error | null, number], [Error | null, number], [Error | null, number]];
    return { due: due + back, runners };
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
