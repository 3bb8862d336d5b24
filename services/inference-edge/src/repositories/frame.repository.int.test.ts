import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from '../testing/redis-server.ts';
import { defineFrameScripts, FrameRepository, LocalFrameBytes } from './frame.repository.ts';

/**
 * Frames held in memory by the process that ingested them (real Redis): that process's claim
 * takes its own copy and Redis sends no bytes back; any other process (or this one after an
 * eviction) reads them from Redis as before; the fate rules are the same either way.
 */
let redis: TestRedis;
let conn: Redis;
beforeAll(async () => {
  redis = await startTestRedis();
  conn = new Redis(redis.url);
  defineFrameScripts(conn);
});
afterAll(async () => {
  conn?.disconnect();
  await redis?.dispose();
});

const options = { frameTtlMs: 60_000, inFlightTtlMs: 120_000, fateTtlMs: 180_000, outboxMaxLen: 100 };
const frame = (n: number, size = 1000) => Buffer.alloc(size, n);

describe('LocalFrameBytes', () => {
  it('keeps at most maxBytes, dropping the oldest first, and counts what it holds', () => {
    const local = new LocalFrameBytes(2500);
    local.set('a', frame(1));
    local.set('b', frame(2));
    expect([local.size, local.bytes]).toEqual([2, 2000]);
    local.set('c', frame(3));
    expect([local.get('a'), local.size, local.bytes]).toEqual([undefined, 2, 2000]);
    local.set('big', frame(4, 3000));
    expect([local.get('big'), local.size]).toEqual([undefined, 2]);
    local.delete('b');
    local.delete('b');
    expect([local.size, local.bytes]).toEqual([1, 1000]);
  });
});

const meta = (frameId: string, cameraId: string) => ({
  frameId,
  cameraId,
  captureTime: 1000,
  receivedAt: 2000,
  models: ['person-detector'],
});

describe('camera turns', () => {
  it('queues one job per turn: a frame that supersedes a pending one rides the job already due', async () => {
    const repo = new FrameRepository(conn, { prefix: 'ct1', ...options });
    expect(await repo.ingest(meta('a1', 'cam'), frame(1))).toEqual({ dropped: null, queueJob: true });
    expect(await repo.ingest(meta('a2', 'cam'), frame(2))).toEqual({ dropped: 'a1', queueJob: false });
    expect(await repo.ingest(meta('b1', 'other'), frame(3))).toEqual({ dropped: null, queueJob: true });
    // The job (named after a1, the frame that queued it) takes the camera's newest frame, a2.
    const taken = await repo.claim('a1', 'cam');
    const { cameraId: _c, ...a2 } = meta('a2', 'cam');
    expect(taken).toMatchObject({ kind: 'claimed', frame: a2 });
    expect(taken.kind === 'claimed' && taken.bytes.equals(frame(2))).toBe(true);
    // Its retry takes the same frame; another job finds nothing pending.
    expect(await repo.claim('a1', 'cam')).toMatchObject({ kind: 'claimed', frame: { frameId: 'a2' } });
    expect(await repo.claim('late-job', 'cam')).toEqual({ kind: 'none' });
    // No job is running in BullMQ's active list (none here): the next frame gets a job of its own.
    expect(await repo.ingest(meta('a3', 'cam'), frame(4))).toEqual({ dropped: null, queueJob: true });
    expect(await repo.stats('cam')).toMatchObject({ received: 3, dropped: 1 });
  });

  it('keeps a turn with its job while it works, goes on with the next frame, and yields to waiting turns', async () => {
    const queueKeys = { wait: 'ct3:bull:frames:wait', active: 'ct3:bull:frames:active' };
    const repo = new FrameRepository(conn, { prefix: 'ct3', ...options, queueKeys, threads: 1 });
    const next = { next: true };
    expect((await repo.ingest(meta('d1', 'cam'), frame(1))).queueJob).toBe(true);
    expect(await repo.claim('d1', 'cam')).toMatchObject({ kind: 'claimed', frame: { frameId: 'd1' } });
    // While d1 is in flight on the node's only thread the turn stays with its job: a new frame
    // queues nothing…
    await conn.rpush(queueKeys.active, 'd1');
    expect(await repo.ingest(meta('d2', 'cam'), frame(2))).toEqual({ dropped: null, queueJob: false });
    // …and the job takes it itself once d1 is done, as no other turn waits.
    expect(await repo.claim('d1', 'cam', next)).toMatchObject({ kind: 'claimed', frame: { frameId: 'd2' } });
    // Its retry would take d2, the frame it took last.
    expect(await repo.claim('d1', 'cam')).toMatchObject({ kind: 'claimed', frame: { frameId: 'd2' } });
    // Another camera's turn waits: the job yields (the frame stays pending, a job is due for it).
    expect((await repo.ingest(meta('d3', 'cam'), frame(3))).queueJob).toBe(false);
    await conn.rpush(queueKeys.wait, 'other-camera-turn');
    expect(await repo.claim('d1', 'cam', next)).toMatchObject({ kind: 'yield', frame: { frameId: 'd3' } });
    expect(await repo.ingest(meta('d4', 'cam'), frame(4))).toEqual({ dropped: 'd3', queueJob: false });
    await conn.del(queueKeys.wait);
    // The turn queued again takes the newest frame; with nothing left the turn ends.
    expect(await repo.claim('d3.requeued', 'cam')).toMatchObject({
      kind: 'claimed',
      frame: { frameId: 'd4' },
    });
    expect(await repo.claim('d3.requeued', 'cam', next)).toEqual({ kind: 'none' });
    expect((await repo.ingest(meta('d5', 'cam'), frame(5))).queueJob).toBe(true);
    // A turn that cannot go on hands back its pending frame (the caller queues it) or ends.
    await repo.claim('d5', 'cam');
    expect((await repo.ingest(meta('d6', 'cam'), frame(6))).queueJob).toBe(false);
    expect(await repo.endTurn('cam')).toMatchObject({ frameId: 'd6' });
    expect(await repo.ingest(meta('d7', 'cam'), frame(7))).toEqual({ dropped: 'd6', queueJob: false });
    expect(await repo.claim('d6.requeued', 'cam')).toMatchObject({
      kind: 'claimed',
      frame: { frameId: 'd7' },
    });
    expect(await repo.endTurn('cam')).toBeUndefined();
    expect((await repo.ingest(meta('d8', 'cam'), frame(8))).queueJob).toBe(true);
    expect(await repo.stats('cam')).toMatchObject({ received: 8, dropped: 2 });
  });

  it('gives a frame of an active turn a job of its own while the node has idle threads', async () => {
    const queueKeys = { wait: 'ct4:bull:frames:wait', active: 'ct4:bull:frames:active' };
    const repo = new FrameRepository(conn, { prefix: 'ct4', ...options, queueKeys, threads: 2 });
    expect((await repo.ingest(meta('e1', 'cam'), frame(1))).queueJob).toBe(true);
    await conn.rpush(queueKeys.active, 'e1');
    expect(await repo.claim('e1', 'cam')).toMatchObject({ kind: 'claimed', frame: { frameId: 'e1' } });
    // One job runs on a two-thread node: e2 gets a job of its own (the second thread)…
    expect(await repo.ingest(meta('e2', 'cam'), frame(2))).toEqual({ dropped: null, queueJob: true });
    // …so e1's job, done, leaves e2 to it and its turn ends quietly.
    expect(await repo.claim('e1', 'cam', { next: true })).toEqual({ kind: 'none' });
    await conn.rpush(queueKeys.active, 'e2');
    expect(await repo.claim('e2', 'cam')).toMatchObject({ kind: 'claimed', frame: { frameId: 'e2' } });
    // Two jobs running on two threads: the next frame rides the active turn.
    await conn.rpush(queueKeys.active, 'x-other-camera');
    expect(await repo.ingest(meta('e3', 'cam'), frame(3))).toEqual({ dropped: null, queueJob: false });
    expect(await repo.claim('e2', 'cam', { next: true })).toMatchObject({
      kind: 'claimed',
      frame: { frameId: 'e3' },
    });
  });

  it('lets the next frame queue a job when a turn was never queued (its marker expires)', async () => {
    const repo = new FrameRepository(conn, { prefix: 'ct2', ...options, turnTtlMs: 200 });
    expect((await repo.ingest(meta('c1', 'cam'), frame(1))).queueJob).toBe(true); // …and the add failed
    expect((await repo.ingest(meta('c2', 'cam'), frame(2))).queueJob).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(await repo.ingest(meta('c3', 'cam'), frame(3))).toEqual({ dropped: 'c2', queueJob: true });
    expect(await repo.claim('c3', 'cam')).toMatchObject({ kind: 'claimed', frame: { frameId: 'c3' } });
  });
});

describe('claims with frames held in memory', () => {
  it('hands this process its own bytes, and another process the bytes from Redis', async () => {
    const local = new LocalFrameBytes(1 << 20);
    const here = new FrameRepository(conn, { prefix: 'lf1', ...options, local });
    const elsewhere = new FrameRepository(conn, { prefix: 'lf1', ...options });
    const a = frame(7);
    expect((await here.ingest(meta('f1', 'cam'), a)).dropped).toBeNull();
    const mine = await here.claim('f1', 'cam');
    expect(mine.kind === 'claimed' && mine.bytes).toBe(a); // the very buffer, not a copy from Redis
    expect(mine.kind === 'claimed' && mine.owned).toBe(true);

    const b = frame(8);
    await here.ingest(meta('f2', 'cam2'), b);
    const theirs = await elsewhere.claim('f2', 'cam2');
    expect(theirs.kind === 'claimed' && theirs.bytes !== b && theirs.bytes.equals(b)).toBe(true);

    // Completing ends the frame in memory and in Redis; the job's retry finds it settled.
    await here.complete({
      frameId: 'f1',
      cameraId: 'cam',
      nodeId: 'n',
      captureTime: 1,
      processedAt: 2,
      width: 1,
      height: 1,
      decodeMs: 0,
      models: {},
    });
    expect([local.get('f1'), await here.frameExists('f1')]).toEqual([undefined, false]);
    expect(await here.claim('f1', 'cam')).toMatchObject({ kind: 'settled', fate: 'processed' });
  });

  it('forgets a superseded frame, reads Redis after an eviction, and still expires a lost frame', async () => {
    const local = new LocalFrameBytes(1500);
    const repo = new FrameRepository(conn, { prefix: 'lf2', ...options, local });
    await repo.ingest(meta('g1', 'cam'), frame(1));
    expect((await repo.ingest(meta('g2', 'cam'), frame(2))).dropped).toBe('g1');
    expect(local.get('g1')).toBeUndefined();

    await repo.ingest(meta('h1', 'other'), frame(3)); // evicts g2 (1500 bytes at most)
    expect(local.get('g2')).toBeUndefined();
    const g2 = await repo.claim('g1', 'cam');
    expect(g2.kind === 'claimed' && g2.frame.frameId === 'g2' && g2.bytes.equals(frame(2))).toBe(true);
    expect(g2.kind === 'claimed' && g2.owned).toBe(false);

    // Bytes gone from Redis (TTL): the claim says expired even though memory still holds them.
    await conn.del('lf2:frame:h1');
    expect(await repo.claim('h1', 'other')).toMatchObject({ kind: 'expired', frame: { frameId: 'h1' } });
    expect(local.get('h1')).toBeUndefined();
    expect((await repo.stats('other')).failed).toBe(1);
  });
});
