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

describe('runners and camera turns', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('queues a runner when a camera becomes due and runners are short; a superseding frame rides the turn', async () => {
    const repo = new FrameRepository(conn, { prefix: 'rt1', ...options, threads: 1, jobSlots: 2 });
    expect(await repo.ingest(meta('a1', 'cam'), frame(1))).toEqual({ dropped: null, runner: 'a1' });
    expect(await repo.ingest(meta('a2', 'cam'), frame(2))).toEqual({ dropped: 'a1', runner: null });
    expect(await repo.ingest(meta('b1', 'other'), frame(3))).toEqual({ dropped: null, runner: 'b1' });
    // The camera that became due last goes first (its frame is the freshest).
    expect(await repo.claim('a1')).toMatchObject({
      kind: 'claimed',
      camera: 'other',
      frame: { frameId: 'b1' },
    });
    // A retry takes the same frame; the second runner takes the camera's newest frame, a2.
    expect(await repo.claim('a1')).toMatchObject({
      kind: 'claimed',
      camera: 'other',
      frame: { frameId: 'b1' },
    });
    const taken = await repo.claim('b1');
    const { cameraId: _c, ...a2 } = meta('a2', 'cam');
    expect(taken).toMatchObject({ kind: 'claimed', camera: 'cam', frame: a2 });
    expect(taken.kind === 'claimed' && taken.bytes.equals(frame(2))).toBe(true);
    expect(await repo.claim('late-runner')).toEqual({ kind: 'none' });
    // Two runners alive on a one-thread node: a frame of a held camera waits for its runner…
    expect(await repo.ingest(meta('a3', 'cam'), frame(4))).toEqual({ dropped: null, runner: null });
    // …which goes on with it, as no other camera is due.
    expect(await repo.claim('b1', { after: 'cam' })).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'a3' },
    });
    // Nothing pending for the other camera and nothing due: runner a1 ends.
    expect(await repo.claim('a1', { after: 'other' })).toEqual({ kind: 'none' });
    expect(await repo.runnerState()).toEqual({ due: 0, runners: 1 });
    expect(await repo.stats('cam')).toMatchObject({ received: 3, dropped: 1 });
  });

  it('serves the cameras in turn: a camera with its next frame pending goes behind those due', async () => {
    const repo = new FrameRepository(conn, { prefix: 'rt2', ...options, threads: 1, jobSlots: 1 });
    expect((await repo.ingest(meta('d1', 'cam'), frame(1))).runner).toBe('d1');
    expect(await repo.claim('d1')).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'd1' },
    });
    // One job slot, taken: the other camera is due, and no runner joins.
    expect((await repo.ingest(meta('e1', 'other'), frame(2))).runner).toBeNull();
    expect((await repo.ingest(meta('d2', 'cam'), frame(3))).runner).toBeNull();
    // d2 is pending, but the other camera waits: the runner turns to it, cam goes to the back.
    expect(await repo.claim('d1', { after: 'cam' })).toMatchObject({
      kind: 'claimed',
      camera: 'other',
      frame: { frameId: 'e1' },
    });
    expect(await repo.runnerState()).toEqual({ due: 1, runners: 1 });
    expect(await repo.ingest(meta('d3', 'cam'), frame(4))).toEqual({ dropped: 'd2', runner: null });
    expect(await repo.claim('d1', { after: 'other' })).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'd3' },
    });
    expect((await repo.ingest(meta('d4', 'cam'), frame(5))).runner).toBeNull();
    // Nobody else due: the runner goes on with its camera, then ends when nothing is left.
    expect(await repo.claim('d1', { after: 'cam' })).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'd4' },
    });
    expect(await repo.claim('d1', { after: 'cam' })).toEqual({ kind: 'none' });
    expect(await repo.runnerState()).toEqual({ due: 0, runners: 0 });
    // Idle again: the next frame queues a runner.
    expect((await repo.ingest(meta('d5', 'cam'), frame(6))).runner).toBe('d5');
  });

  it('makes a frame of a held camera due at once while fewer runners are alive than threads', async () => {
    const repo = new FrameRepository(conn, { prefix: 'rt3', ...options, threads: 2 });
    expect((await repo.ingest(meta('f1', 'cam'), frame(1))).runner).toBe('f1');
    expect(await repo.claim('f1')).toMatchObject({ kind: 'claimed', frame: { frameId: 'f1' } });
    // One runner on a two-thread node: f2 is due at once, with a runner of its own (the second thread).
    expect(await repo.ingest(meta('f2', 'cam'), frame(2))).toEqual({ dropped: null, runner: 'f2' });
    expect(await repo.claim('f2')).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'f2' },
    });
    // Two runners on two threads: the next frame waits for one of them.
    expect(await repo.ingest(meta('f3', 'cam'), frame(3))).toEqual({ dropped: null, runner: null });
    expect(await repo.claim('f2', { after: 'cam' })).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'f3' },
    });
  });

  it('ends a runner early: its camera goes back in turn and a runner takes its place', async () => {
    const repo = new FrameRepository(conn, { prefix: 'rt4', ...options, threads: 1, jobSlots: 1 });
    await repo.ingest(meta('h1', 'cam'), frame(1));
    expect(await repo.claim('h1')).toMatchObject({ kind: 'claimed', frame: { frameId: 'h1' } });
    expect((await repo.ingest(meta('i1', 'other'), frame(2))).runner).toBeNull();
    expect((await repo.ingest(meta('h2', 'cam'), frame(3))).runner).toBeNull();
    // h1's job fails for good (or the worker pauses): cam is due again, behind the other camera.
    expect(await repo.endRunner('h1', 'cam', 'h-next')).toBe('h-next');
    expect(await repo.runnerState()).toEqual({ due: 2, runners: 1 });
    expect(await repo.claim('h-next')).toMatchObject({
      kind: 'claimed',
      camera: 'other',
      frame: { frameId: 'i1' },
    });
    expect(await repo.claim('h-next', { after: 'other' })).toMatchObject({
      kind: 'claimed',
      camera: 'cam',
      frame: { frameId: 'h2' },
    });
    // Nothing pending, nothing due: no runner takes its place.
    expect(await repo.endRunner('h-next', 'cam', 'unused')).toBeNull();
    expect(await repo.runnerState()).toEqual({ due: 0, runners: 0 });
    expect((await repo.ingest(meta('h3', 'cam'), frame(4))).runner).toBe('h3');
  });

  it('forgets runners whose lease ran out and cameras whose runner died', async () => {
    const repo = new FrameRepository(conn, {
      prefix: 'rt5',
      ...options,
      threads: 1,
      jobSlots: 1,
      runnerLeaseMs: 500,
      turnTtlMs: 500,
    });
    expect((await repo.ingest(meta('c1', 'cam'), frame(1))).runner).toBe('c1'); // …and queueing it failed
    expect((await repo.ingest(meta('c2', 'other'), frame(2))).runner).toBeNull();
    await sleep(700);
    // Its lease is over: the next camera that becomes due brings a runner, which serves all of them.
    expect((await repo.ingest(meta('c3', 'third'), frame(3))).runner).toBe('c3');
    expect(await repo.claim('c3')).toMatchObject({ camera: 'third', frame: { frameId: 'c3' } });
    // The others' turn markers expired while they waited: it is still their turn.
    expect(await repo.claim('c3', { after: 'third' })).toMatchObject({
      camera: 'other',
      frame: { frameId: 'c2' },
    });
    expect(await repo.claim('c3', { after: 'other' })).toMatchObject({
      camera: 'cam',
      frame: { frameId: 'c1' },
    });
    // The runner dies holding 'cam': its frames wait until the turn marker expires, then get a runner.
    expect((await repo.ingest(meta('c4', 'cam'), frame(4))).runner).toBeNull();
    await sleep(700);
    expect(await repo.ingest(meta('c5', 'cam'), frame(5))).toEqual({ dropped: 'c4', runner: 'c5' });
    expect(await repo.claim('c5')).toMatchObject({ camera: 'cam', frame: { frameId: 'c5' } });
  });

  it('counts a runner just queued only briefly: one that never got queued frees its slot', async () => {
    const repo = new FrameRepository(conn, {
      prefix: 'rt7',
      ...options,
      threads: 1,
      jobSlots: 1,
      turnTtlMs: 500,
    });
    expect((await repo.ingest(meta('m1', 'cam'), frame(1))).runner).toBe('m1'); // …whose add failed
    expect((await repo.ingest(meta('m2', 'other'), frame(2))).runner).toBeNull();
    await sleep(700);
    // The processor's check (no job id) finds cameras due and no runner: it queues one.
    expect(await repo.endRunner('', undefined, 'check-1')).toBe('check-1');
    expect(await repo.endRunner('', undefined, 'check-2')).toBeNull(); // counted now
    // Its first claim renews it for a whole lease (60 s by default).
    expect(await repo.claim('check-1')).toMatchObject({ kind: 'claimed' });
    await sleep(700);
    expect(await repo.runnerState()).toMatchObject({ runners: 1 });
  });

  it('serves the camera that became due last first, unless another has waited too long', async () => {
    const repo = new FrameRepository(conn, {
      prefix: 'rt8',
      ...options,
      threads: 1,
      jobSlots: 1,
      maxDueWaitMs: 150,
    });
    await repo.ingest(meta('n1', 'a'), frame(1));
    await repo.ingest(meta('n2', 'b'), frame(2));
    await repo.ingest(meta('n3', 'c'), frame(3));
    expect(await repo.claim('r')).toMatchObject({ camera: 'c' });
    await sleep(200);
    await repo.ingest(meta('n4', 'd'), frame(4));
    // 'a' has waited longest, past the limit: it goes before 'd', which became due last.
    expect(await repo.claim('r', { after: 'c' })).toMatchObject({ camera: 'a' });
    expect(await repo.claim('r', { after: 'a' })).toMatchObject({ camera: 'b' });
    expect(await repo.claim('r', { after: 'b' })).toMatchObject({ camera: 'd' });
  });

  it('serves a camera new in line before busy cameras sent back once it has waited longer', async () => {
    const repo = new FrameRepository(conn, {
      prefix: 'rt11',
      ...options,
      threads: 1,
      jobSlots: 1,
      maxDueWaitMs: 100,
    });
    // Two busy cameras take turns through due:back, each always with a frame pending.
    await repo.ingest(meta('u1', 'a'), frame(1));
    expect(await repo.claim('r')).toMatchObject({ camera: 'a' });
    await repo.ingest(meta('v1', 'b'), frame(2));
    await repo.ingest(meta('u2', 'a'), frame(3));
    expect(await repo.claim('r', { after: 'a' })).toMatchObject({ camera: 'b' }); // a to the back
    await sleep(20);
    await repo.ingest(meta('x1', 'x'), frame(4)); // x joins the front line
    await sleep(150);
    await repo.ingest(meta('v2', 'b'), frame(5));
    expect(await repo.claim('r', { after: 'b' })).toMatchObject({ camera: 'a' }); // overdue, and older than x
    await sleep(150); // now b (sent back after x joined) is overdue too, but x has waited longer
    await repo.ingest(meta('u3', 'a'), frame(6));
    expect(await repo.claim('r', { after: 'a' })).toMatchObject({ camera: 'x' });
  });

  it('keeps a waiting camera in line once while its frames keep coming', async () => {
    const repo = new FrameRepository(conn, {
      prefix: 'rt9',
      ...options,
      threads: 1,
      jobSlots: 1,
      turnTtlMs: 300,
    });
    await repo.ingest(meta('p0', 'busy'), frame(1));
    expect(await repo.claim('r')).toMatchObject({ camera: 'busy' });
    for (let i = 1; i <= 5; i++) {
      await repo.ingest(meta(`q${i}`, 'waiting'), frame(i));
      await sleep(100); // past the turn TTL in all, renewed by every frame
    }
    expect(await repo.runnerState()).toEqual({ due: 1, runners: 1 });
  });

  it('lets a retry take only the frame its job held', async () => {
    const repo = new FrameRepository(conn, { prefix: 'rt10', ...options, threads: 1, jobSlots: 2 });
    await repo.ingest(meta('s1', 'cam'), frame(1));
    expect(await repo.claim('s1', { heldOnly: true })).toEqual({ kind: 'none' });
    expect(await repo.runnerState()).toEqual({ due: 1, runners: 1 }); // nothing taken; the caller ends it
    expect(await repo.claim('s1')).toMatchObject({ kind: 'claimed', frame: { frameId: 's1' } });
    expect(await repo.claim('s1', { heldOnly: true })).toMatchObject({
      kind: 'claimed',
      frame: { frameId: 's1' },
    });
    expect(await repo.heldFrame('s1')).toMatchObject({ camera: 'cam', frame: { frameId: 's1' } });
  });

  it('clears the runners when a node starts', async () => {
    const repo = new FrameRepository(conn, { prefix: 'rt6', ...options, threads: 1, jobSlots: 1 });
    expect((await repo.ingest(meta('k1', 'cam'), frame(1))).runner).toBe('k1');
    expect((await repo.ingest(meta('k2', 'other'), frame(2))).runner).toBeNull();
    await repo.resetRunners();
    expect((await repo.ingest(meta('k3', 'third'), frame(3))).runner).toBe('k3');
  });
});

describe('claims with frames held in memory', () => {
  it('hands this process its own bytes, and another process the bytes from Redis', async () => {
    const local = new LocalFrameBytes(1 << 20);
    const here = new FrameRepository(conn, { prefix: 'lf1', ...options, local });
    const elsewhere = new FrameRepository(conn, { prefix: 'lf1', ...options });
    const a = frame(7);
    expect((await here.ingest(meta('f1', 'cam'), a)).dropped).toBeNull();
    const mine = await here.claim('f1');
    expect(mine.kind === 'claimed' && mine.bytes).toBe(a); // the very buffer, not a copy from Redis
    expect(mine.kind === 'claimed' && mine.owned).toBe(true);

    const b = frame(8);
    await here.ingest(meta('f2', 'cam2'), b);
    const theirs = await elsewhere.claim('f2');
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
    expect(await here.claim('f1')).toMatchObject({ kind: 'settled', fate: 'processed' });
  });

  it('forgets a superseded frame, reads Redis after an eviction, and still expires a lost frame', async () => {
    const local = new LocalFrameBytes(1500);
    const repo = new FrameRepository(conn, { prefix: 'lf2', ...options, local });
    await repo.ingest(meta('g1', 'cam'), frame(1));
    expect((await repo.ingest(meta('g2', 'cam'), frame(2))).dropped).toBe('g1');
    expect(local.get('g1')).toBeUndefined();

    await repo.ingest(meta('h1', 'other'), frame(3)); // evicts g2 (1500 bytes at most)
    expect(local.get('g2')).toBeUndefined();
    // Bytes gone from Redis (TTL): the claim says expired even though memory still holds them.
    await conn.del('lf2:frame:h1');
    expect(await repo.claim('r1')).toMatchObject({
      kind: 'expired',
      camera: 'other',
      frame: { frameId: 'h1' },
    });
    expect(local.get('h1')).toBeUndefined();
    expect((await repo.stats('other')).failed).toBe(1);

    const g2 = await repo.claim('r1', { after: 'other' });
    expect(g2.kind === 'claimed' && g2.frame.frameId === 'g2' && g2.bytes.equals(frame(2))).toBe(true);
    expect(g2.kind === 'claimed' && g2.owned).toBe(false);
  });
});
