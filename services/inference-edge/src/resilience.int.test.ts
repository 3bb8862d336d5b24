import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from './node.ts';
import { renderFrames, startTestEdge, waitFor } from './testing/edge-fixture.ts';
import { startTestRedis, type TestRedis } from './testing/redis-server.ts';

/**
 * Faults: an inference thread that dies or hangs (watchdog, replacement, retry, failure count)
 * and a Redis that goes away and comes back (503 with Retry-After, then recovery by itself).
 * Threads crash or hang through the pool's fault injection; everything else is real.
 */

let redis: TestRedis;
let frames: Awaited<ReturnType<typeof renderFrames>>;
let node: EdgeNode | undefined;

beforeAll(async () => {
  [redis, frames] = await Promise.all([startTestRedis(), renderFrames(2)]);
});
afterEach(async () => {
  await node?.close();
  node = undefined;
});
afterAll(async () => {
  await redis?.dispose();
});

const post = (n: EdgeNode, camera: string, i = 0) =>
  n.app.inject({
    method: 'POST',
    url: `/v1/cameras/${camera}/frames`,
    headers: { 'content-type': 'image/jpeg' },
    payload: frames[i % frames.length]!.jpeg,
  });

async function metric(n: EdgeNode, name: string, labels: string): Promise<number> {
  const text = (await n.app.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('inference thread watchdog', () => {
  it('replaces a thread that crashes mid-frame and retries the frame to exactly one result', async () => {
    node = await startTestEdge(
      redis.url,
      {},
      {
        injectFault: (job, attempt) => (job.cameraId === 'crashy' && attempt === 1 ? 'crash' : undefined),
      },
    );
    const n = node;
    const { frameId } = (await post(n, 'crashy')).json();
    const stats = await waitFor(async () => {
      const s = await n.repository.stats('crashy');
      return s.processed + s.failed > 0 ? s : undefined;
    });
    expect(stats).toMatchObject({ received: 1, processed: 1, failed: 0, dropped: 0 });
    expect((await n.repository.latest('crashy'))!.frameId).toBe(frameId);
    expect((await n.repository.readOutbox()).map((e) => e.frameId)).toEqual([frameId]);
    expect(await metric(n, 'edge_inference_thread_restarts_total', 'reason="crash"')).toBe(1);
    expect(n.pool.stats.restarts).toBe(1);
    // The replacement thread serves the next frame.
    const next = (await post(n, 'calm', 1)).json();
    await waitFor(async () =>
      (await n.repository.latest('calm'))?.frameId === next.frameId ? true : undefined,
    );
  });

  it('retries to exactly one result a frame whose thread crashes under a runner an idle job took on, and leaves no runner counted', async () => {
    node = await startTestEdge(
      redis.url,
      {},
      {
        injectFault: (job, attempt) => (job.cameraId === 'later' && attempt === 1 ? 'crash' : undefined),
      },
    );
    const n = node;
    const first = (await post(n, 'early')).json();
    await waitFor(async () =>
      (await n.repository.latest('early'))?.frameId === first.frameId ? true : undefined,
    );
    // The runner found nothing due and waits: the next frame's runner is handed to it.
    await waitFor(async () => ((await n.queue.depth()).idle === 1 ? true : undefined));
    const jobsBefore = await n.queue.depth();
    const { frameId } = (await post(n, 'later', 1)).json();
    const stats = await waitFor(async () => {
      const s = await n.repository.stats('later');
      return s.processed + s.failed > 0 ? s : undefined;
    });
    expect(stats).toMatchObject({ received: 1, processed: 1, failed: 0, dropped: 0 });
    expect((await n.repository.readOutbox()).map((e) => e.frameId)).toEqual([first.frameId, frameId]);
    expect(n.pool.stats.restarts).toBe(1);
    // No BullMQ job was queued for the second frame: the idle job took it on, crashed, and its
    // retry (the same job) finished it.
    const all = (d: typeof jobsBefore) => d.waiting + d.active + d.idle + d.delayed + d.failed + d.completed;
    expect(all(await n.queue.depth())).toBe(all(jobsBefore));
    // Nothing counts as a runner once the node is idle again (a leaked id would hold a slot).
    await waitFor(async () => ((await n.repository.runnerState()).runners === 0 ? true : undefined));
  });

  it('kills a stuck thread at the deadline, retries, then counts the frame as failed (never lost)', async () => {
    node = await startTestEdge(
      redis.url,
      { inferenceTimeoutMs: 1500, frameAttempts: 2 },
      { injectFault: (job) => (job.cameraId === 'stuck' ? 'hang' : undefined) },
    );
    const n = node;
    const { frameId } = (await post(n, 'stuck')).json();
    const stats = await waitFor(async () => {
      const s = await n.repository.stats('stuck');
      return s.failed > 0 ? s : undefined;
    }, 30_000);
    expect(stats).toMatchObject({ received: 1, processed: 0, failed: 1, dropped: 0 });
    expect(await metric(n, 'edge_inference_thread_restarts_total', 'reason="timeout"')).toBe(2);
    expect(await metric(n, 'edge_frames_failed_total', 'reason="EDGE_ERR_INFERENCE_TIMEOUT"')).toBe(1);
    expect(await n.repository.readOutbox()).toEqual([
      expect.objectContaining({
        type: 'frame_failed',
        frameId,
        cameraId: 'stuck',
        code: 'EDGE_ERR_INFERENCE_TIMEOUT',
      }),
    ]);
    expect(await n.repository.frameExists(frameId)).toBe(false);
    const latest = await n.app.inject({ url: '/v1/cameras/stuck/detections/latest' });
    expect([latest.statusCode, latest.json().code]).toEqual([404, 'EDGE_ERR_NO_RESULT']);
    // The node still works after two replacements.
    const ok = (await post(n, 'calm', 1)).json();
    await waitFor(async () =>
      (await n.repository.latest('calm'))?.frameId === ok.frameId ? true : undefined,
    );
  });
});

describe('a runner that fails for good', () => {
  it('ends: its held frame stays counted once, and it stops counting as a runner', async () => {
    node = await startTestEdge(
      redis.url,
      { frameAttempts: 2 },
      { injectFault: (job) => (job.cameraId === 'doomed' ? 'crash' : undefined) },
    );
    const n = node;
    const { frameId } = (await post(n, 'doomed')).json();
    await waitFor(async () => ((await n.repository.stats('doomed')).failed > 0 ? true : undefined), 30_000);
    // The worker's 'failed' handler ends the runner at once; left counted, it would hold its job
    // slot for its whole lease (a minute).
    await waitFor(async () => {
      const r = await n.repository.runnerState();
      return r.runners === 0 && r.due === 0 ? true : undefined;
    }, 5000);
    expect(await n.repository.stats('doomed')).toMatchObject({ received: 1, processed: 0, failed: 1 });
    expect(await n.repository.heldFrame(frameId)).toBeUndefined(); // the job queued by ingest bears the frame's id
    expect(await metric(n, 'edge_frames_failed_total', 'reason="EDGE_ERR_WORKER_CRASHED"')).toBe(1);
  });
});

describe('Redis outage', () => {
  it('answers 503 with Retry-After while Redis is down and recovers by itself when it returns', async () => {
    const own = await startTestRedis();
    try {
      node = await startTestEdge(own.url);
      const n = node;
      expect((await post(n, 'door')).statusCode).toBe(202);
      await own.server.stop('SIGKILL');

      const down = await post(n, 'door');
      expect(down.statusCode).toBe(503);
      expect(down.json().code).toBe('EDGE_ERR_REDIS_UNAVAILABLE');
      expect(down.headers['retry-after']).toBe('1');
      const latest = await n.app.inject({ url: '/v1/cameras/door/detections/latest' });
      expect([latest.statusCode, latest.json().code]).toEqual([503, 'EDGE_ERR_REDIS_UNAVAILABLE']);
      const ready = await n.app.inject({ url: '/readyz' });
      expect([ready.statusCode, ready.json().redis]).toEqual([503, false]);
      expect((await n.app.inject({ url: '/healthz' })).statusCode).toBe(200);
      expect((await n.app.inject({ url: '/metrics' })).statusCode).toBe(200);

      // Same port, empty data (the test Redis has no persistence): the node reconnects on its own.
      await own.server.start();
      const accepted = await waitFor<{ frameId: string }>(async () => {
        const r = await post(n, 'door', 1);
        return r.statusCode === 202 ? r.json() : undefined;
      });
      await waitFor(async () =>
        (await n.repository.latest('door'))?.frameId === accepted.frameId ? true : undefined,
      );
      expect((await n.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await node?.close();
      node = undefined;
      await own.dispose();
    }
  });
});
