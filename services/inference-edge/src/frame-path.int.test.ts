import type { FrameResult, LatestDetections } from '@storevision/contracts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from './node.ts';
import { renderFrames, startTestEdge, waitFor } from './testing/edge-fixture.ts';
import { corruptPng } from './testing/images.ts';
import { startTestRedis, type TestRedis } from './testing/redis-server.ts';

/**
 * The frame path against a real Redis, real BullMQ, real inference threads and the bundled
 * detector: ingest → newest-wins slot → job → claim → decode once → every model → result written
 * once (latest + outbox) → counters and metrics.
 */

let redis: TestRedis;
let frames: Awaited<ReturnType<typeof renderFrames>>;
let node: EdgeNode | undefined;

beforeAll(async () => {
  [redis, frames] = await Promise.all([startTestRedis(), renderFrames(4)]);
});
afterEach(async () => {
  await node?.close();
  node = undefined;
});
afterAll(async () => {
  await redis?.dispose();
});

async function post(n: EdgeNode, camera: string, jpeg: Buffer, captureTime?: number) {
  return n.app.inject({
    method: 'POST',
    url: `/v1/cameras/${camera}/frames`,
    headers: {
      'content-type': 'image/jpeg',
      ...(captureTime ? { 'x-capture-time': String(captureTime) } : {}),
    },
    payload: jpeg,
  });
}

async function metric(n: EdgeNode, name: string, labels: string): Promise<number> {
  const text = (await n.app.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('frame path through Redis and BullMQ', () => {
  it('turns a pushed frame into one result: latest, outbox, counters, metrics; its bytes are freed', async () => {
    node = await startTestEdge(redis.url);
    const n = node;
    const res = await post(n, 'door-1', frames[0]!.jpeg, 1_767_600_000_000);
    expect(res.statusCode).toBe(202);
    const { frameId, cameraId } = res.json();
    expect(cameraId).toBe('door-1');
    expect(frameId).toMatch(/^[0-9a-f-]{36}$/);

    const latest = await waitFor<LatestDetections>(async () => {
      const r = await n.app.inject({ url: '/v1/cameras/door-1/detections/latest' });
      return r.statusCode === 200 ? r.json() : undefined;
    });
    expect(latest).toMatchObject({
      frameId,
      cameraId: 'door-1',
      nodeId: 'test-node',
      captureTime: 1_767_600_000_000,
      width: 640,
      height: 480,
      dropped: 0,
      failed: 0,
    });
    const run = latest.models['person-detector']!;
    expect(run.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(run.inferMs).toBeGreaterThan(0);
    expect(Array.isArray(run.detections)).toBe(true);
    for (const d of run.detections) {
      expect(d.box.x2).toBeGreaterThan(d.box.x1);
      expect(d.box.x2).toBeLessThanOrEqual(640);
      expect(d.box.y2).toBeLessThanOrEqual(480);
    }

    const outbox = await n.repository.readOutbox();
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ type: 'detections', frameId, cameraId: 'door-1' });
    expect((outbox[0]!.result as FrameResult).models['person-detector']!.detections).toEqual(run.detections);
    expect(await n.repository.frameExists(frameId)).toBe(false);
    expect((await n.app.inject({ url: '/v1/cameras/door-1/stats' })).json()).toEqual({
      cameraId: 'door-1',
      received: 1,
      processed: 1,
      dropped: 0,
      failed: 0,
    });
    expect(await metric(n, 'edge_frames_received_total', 'camera="door-1"')).toBe(1);
    expect(await metric(n, 'edge_frames_processed_total', 'camera="door-1"')).toBe(1);
    expect(await metric(n, 'edge_inference_seconds_count', 'model="person-detector"')).toBe(1);
  });

  it('keeps the newest frame per camera under overload and counts every drop exactly', async () => {
    node = await startTestEdge(redis.url);
    const n = node;
    // A node that cannot keep up: the consumer takes nothing while 10 + 3 frames arrive.
    await n.processor.pause();
    const sent: Record<string, string[]> = { 'cam-a': [], 'cam-b': [] };
    for (let i = 0; i < 10; i++) {
      const r = await post(n, 'cam-a', frames[i % frames.length]!.jpeg, 1000 + i);
      expect(r.statusCode).toBe(202);
      sent['cam-a']!.push(r.json().frameId);
      if (i < 3) {
        const rb = await post(n, 'cam-b', frames[(i + 1) % frames.length]!.jpeg, 1000 + i);
        sent['cam-b']!.push(rb.json().frameId);
      }
    }
    expect(await n.repository.stats('cam-a')).toMatchObject({ received: 10, dropped: 9, processed: 0 });
    expect(await n.repository.stats('cam-b')).toMatchObject({ received: 3, dropped: 2, processed: 0 });
    expect(await metric(n, 'edge_frames_dropped_total', 'camera="cam-a"')).toBe(9);
    expect(await metric(n, 'edge_frames_dropped_total', 'camera="cam-b"')).toBe(2);
    // Redis holds one frame per camera, whatever was offered.
    for (const id of [...sent['cam-a']!.slice(0, 9), ...sent['cam-b']!.slice(0, 2)])
      expect(await n.repository.frameExists(id)).toBe(false);
    expect(await n.repository.frameExists(sent['cam-a']![9]!)).toBe(true);

    n.processor.resume();
    const latestA = await waitFor(async () => {
      const s = await n.repository.stats('cam-a');
      const sb = await n.repository.stats('cam-b');
      return s.processed === 1 && sb.processed === 1 ? n.repository.latest('cam-a') : undefined;
    });
    expect(latestA!.frameId).toBe(sent['cam-a']![9]);
    expect((await n.repository.latest('cam-b'))!.frameId).toBe(sent['cam-b']![2]);
    // Let any superseded job that was not removed in time run through its claim.
    await waitFor(async () =>
      (await n.queue.depth()).waiting === 0 && (await n.queue.depth()).active === 0 ? true : undefined,
    );
    const outbox = await n.repository.readOutbox();
    expect(outbox.map((e) => e.frameId).sort()).toEqual([sent['cam-a']![9], sent['cam-b']![2]].sort());
    expect(await n.repository.stats('cam-a')).toEqual({
      cameraId: 'cam-a',
      received: 10,
      processed: 1,
      dropped: 9,
      failed: 0,
    });
    const api = (await n.app.inject({ url: '/v1/cameras/cam-a/detections/latest' })).json();
    expect(api).toMatchObject({ frameId: sent['cam-a']![9], dropped: 9, failed: 0 });
  });

  it('gives every accepted frame exactly one ending when frames race the workers', async () => {
    node = await startTestEdge(redis.url);
    const n = node;
    const ids = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const r = await post(n, `race-${i % 3}`, frames[i % frames.length]!.jpeg, 5000 + i);
        expect(r.statusCode).toBe(202);
        return r.json().frameId as string;
      }),
    );
    const settled = async () => {
      let total = { received: 0, processed: 0, dropped: 0, failed: 0 };
      for (const c of ['race-0', 'race-1', 'race-2']) {
        const s = await n.repository.stats(c);
        total = {
          received: total.received + s.received,
          processed: total.processed + s.processed,
          dropped: total.dropped + s.dropped,
          failed: total.failed + s.failed,
        };
      }
      const d = await n.queue.depth();
      return total.processed + total.dropped + total.failed === total.received && d.waiting + d.active === 0
        ? total
        : undefined;
    };
    const total = await waitFor(settled, 30_000);
    expect(total.received).toBe(24);
    expect(total.failed).toBe(0);
    expect(total.processed).toBeGreaterThanOrEqual(3);
    const outbox = await n.repository.readOutbox();
    const resultIds = outbox.filter((e) => e.type === 'detections').map((e) => e.frameId);
    expect(new Set(resultIds).size).toBe(resultIds.length);
    expect(resultIds).toHaveLength(total.processed);
    for (const id of resultIds) expect(ids).toContain(id);
    // Nothing left behind in Redis for frames that ended.
    for (const id of ids) expect(await n.repository.frameExists(id)).toBe(false);
  });

  it('lets a runner go on from frame to frame and camera to camera, while the cameras take turns', async () => {
    // One inference thread: two job slots.
    node = await startTestEdge(redis.url);
    const n = node;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const idle = async () => {
      const d = await n.queue.depth();
      return d.waiting + d.active === 0 ? true : undefined;
    };
    // One camera sending faster than it is processed: its frames ride one runner job while it is busy.
    for (let i = 0; i < 30; i++) {
      expect((await post(n, 'solo', frames[i % frames.length]!.jpeg, 7000 + i)).statusCode).toBe(202);
      await sleep(10);
    }
    await waitFor(idle, 30_000);
    const solo = await n.repository.stats('solo');
    expect(solo.processed + solo.dropped).toBe(30);
    const jobs = (await n.queue.depth()).completed;
    expect(solo.processed).toBeGreaterThanOrEqual(5);
    expect(jobs).toBeLessThan(solo.processed / 2);

    // Four cameras on two job slots, every camera always with a frame pending: the turns rotate,
    // and the runners go from camera to camera instead of a BullMQ job per frame.
    const jobsBefore = (await n.queue.depth()).completed;
    const cams = ['rot-0', 'rot-1', 'rot-2', 'rot-3'];
    const until = Date.now() + 3000;
    await Promise.all(
      cams.map(async (c, k) => {
        for (let i = 0; Date.now() < until; i++) {
          expect((await post(n, c, frames[(i + k) % frames.length]!.jpeg, 9000 + i)).statusCode).toBe(202);
          await sleep(5);
        }
      }),
    );
    await waitFor(idle, 30_000);
    const processed = await Promise.all(cams.map(async (c) => (await n.repository.stats(c)).processed));
    const total = processed.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(20);
    // Each camera got a fair share: none below half of an even split.
    for (const p of processed) expect(p).toBeGreaterThanOrEqual(total / cams.length / 2);
    // (With a job per frame this would be every frame: the 100 that BullMQ keeps.)
    expect((await n.queue.depth()).completed - jobsBefore).toBeLessThan(total / 4);
    for (const c of cams) {
      const st = await n.repository.stats(c);
      expect(st.processed + st.dropped + st.failed).toBe(st.received);
    }
  });

  it('keeps every thread busy for a single camera: a frame that arrives while its camera is held is due at once', async () => {
    node = await startTestEdge(redis.url, { inferenceThreads: 2 });
    const n = node;
    let maxBusy = 0;
    const sampler = setInterval(() => {
      maxBusy = Math.max(maxBusy, n.pool.stats.busy);
    }, 1);
    try {
      for (let i = 0; i < 40; i++) {
        expect((await post(n, 'single', frames[i % frames.length]!.jpeg, 11_000 + i)).statusCode).toBe(202);
        await new Promise((r) => setTimeout(r, 4));
      }
      await waitFor(async () => {
        const d = await n.queue.depth();
        return d.waiting + d.active === 0 ? true : undefined;
      }, 30_000);
    } finally {
      clearInterval(sampler);
    }
    const st = await n.repository.stats('single');
    expect(st.processed + st.dropped).toBe(40);
    // Both inference threads worked on this one camera's frames at the same time.
    expect(maxBusy).toBe(2);
  });

  it('runs a camera slower than the node on one job: a runner with nothing due waits and takes on the next', async () => {
    // A camera sending every 120 ms to a node that infers a frame in ~20 ms: nothing is due after
    // each frame. Without idle runners every frame is a BullMQ job (add, fetch, finish).
    const sends = 15;
    const jobsFor = async (runnerIdleMs: number) => {
      node = await startTestEdge(redis.url, { runnerIdleMs });
      const n = node;
      let idleSeen = 0;
      for (let i = 0; i < sends; i++) {
        expect((await post(n, 'slow', frames[i % frames.length]!.jpeg, 13_000 + i)).statusCode).toBe(202);
        await new Promise((r) => setTimeout(r, 120));
        idleSeen = Math.max(idleSeen, await metric(n, 'edge_queue_depth', 'state="idle"'));
      }
      await waitFor(async () => {
        const st = await n.repository.stats('slow');
        return st.processed + st.dropped + st.failed === sends ? st : undefined;
      }, 30_000);
      const st = await n.repository.stats('slow');
      const d = await n.queue.depth();
      await n.close();
      node = undefined;
      return { processed: st.processed, jobs: d.completed + d.active + d.idle + d.waiting, idleSeen };
    };
    const idle = await jobsFor(2000);
    expect(idle.processed).toBe(sends);
    expect(idle.jobs).toBeLessThanOrEqual(2);
    // The waiting runner shows in the queue-depth gauge, not as an active job.
    expect(idle.idleSeen).toBe(1);
    const eager = await jobsFor(0);
    expect(eager.processed).toBe(sends);
    expect(eager.jobs).toBeGreaterThanOrEqual(sends - 1);
    expect(eager.idleSeen).toBe(0);
  });

  it('with motion gating, repeats the last detections for a frame without motion, and runs the models again on motion, on another frame size, or after motionMaxSkipMs', async () => {
    node = await startTestEdge(redis.url, { motionGate: true, motionMaxSkipMs: 1500 });
    const n = node;
    // The same two moments of the scene at 800×600 (`frames` are 640×480, the same aspect ratio).
    const larger = await renderFrames(2, { width: 800, height: 600 });
    const t0 = 1_767_600_000_000;
    const push = async (jpeg: Buffer, at: number) => {
      const res = await post(n, 'shelf-1', jpeg, at);
      expect(res.statusCode).toBe(202);
      const { frameId } = res.json() as { frameId: string };
      return waitFor<FrameResult>(async () => {
        const latest = await n.repository.latest('shelf-1');
        return latest?.frameId === frameId ? latest : undefined;
      });
    };
    const first = await push(frames[0]!.jpeg, t0);
    expect(first.motion).toEqual({ moved: 1, reused: false }); // nothing to compare with yet
    const detected = first.models['person-detector']!;
    expect(detected.inferMs).toBeGreaterThan(0);
    expect(detected.detections.length).toBeGreaterThan(0);

    // The same picture 200 ms later: no motion, the models are skipped, the detections repeated.
    const still = await push(frames[0]!.jpeg, t0 + 200);
    expect(still.motion).toEqual({ moved: 0, reused: true });
    expect(still.models['person-detector']).toEqual({ ...detected, inferMs: 0 });
    expect(await metric(n, 'edge_frames_motionless_total', 'camera="shelf-1"')).toBe(1);

    // The same picture at another resolution: boxes in 640×480 pixels would be wrong there.
    const resized = await push(larger[0]!.jpeg, t0 + 400);
    expect(resized).toMatchObject({ width: 800, height: 600, motion: { moved: 1, reused: false } });
    expect(resized.models['person-detector']!.inferMs).toBeGreaterThan(0);

    // People moved (the scene 1 s later): the models run.
    const moving = await push(larger[1]!.jpeg, t0 + 600);
    expect(moving.motion!.reused).toBe(false);
    expect(moving.motion!.moved).toBeGreaterThan(0.002);
    expect(moving.models['person-detector']!.inferMs).toBeGreaterThan(0);

    // No motion, but 1.5 s on this node's clock since the last detected frame: the models run.
    await new Promise((r) => setTimeout(r, 1600));
    const late = await push(larger[1]!.jpeg, t0 + 800);
    expect(late.motion).toEqual({ moved: 1, reused: false });
    expect(late.models['person-detector']!.inferMs).toBeGreaterThan(0);

    // The API shows it too.
    const api = (await n.app.inject({ url: '/v1/cameras/shelf-1/detections/latest' })).json() as FrameResult;
    expect(api.motion).toEqual({ moved: 1, reused: false });

    // Every frame still has exactly one result.
    expect(await n.repository.stats('shelf-1')).toMatchObject({
      received: 5,
      processed: 5,
      dropped: 0,
      failed: 0,
    });
    expect((await n.repository.readOutbox()).filter((e) => e.type === 'detections')).toHaveLength(5);
    expect(await metric(n, 'edge_frames_motionless_total', 'camera="shelf-1"')).toBe(1);
  });

  it('counts a frame only the decoder finds broken as failed at once, without retrying it', async () => {
    node = await startTestEdge(redis.url);
    const n = node;
    const r = await n.app.inject({
      method: 'POST',
      url: '/v1/cameras/broken-cam/frames',
      headers: { 'content-type': 'image/png' },
      payload: await corruptPng(),
    });
    expect(r.statusCode).toBe(202);
    const { frameId } = r.json();
    const stats = await waitFor(async () => {
      const s = await n.repository.stats('broken-cam');
      return s.failed > 0 ? s : undefined;
    });
    expect(stats).toMatchObject({ received: 1, processed: 0, failed: 1, dropped: 0 });
    expect(await n.repository.readOutbox()).toEqual([
      expect.objectContaining({ type: 'frame_failed', frameId, code: 'EDGE_ERR_BAD_IMAGE' }),
    ]);
    const job = await n.queue.queue.getJob(frameId);
    expect(job?.attemptsMade).toBe(1);
    expect(n.pool.stats.restarts).toBe(0);
    expect(await metric(n, 'edge_frames_failed_total', 'reason="EDGE_ERR_BAD_IMAGE"')).toBe(1);
    expect(await n.repository.frameExists(frameId)).toBe(false);
  });

  it('is not ready, and says so, until its models are loaded and warmed up; frames are accepted meanwhile', async () => {
    node = await startTestEdge(redis.url, {}, { waitReady: false });
    const n = node;
    const early = await n.app.inject({ url: '/readyz' });
    expect([early.statusCode, early.json()]).toEqual([
      503,
      { status: 'not ready', ready: false, models: false, redis: true },
    ]);
    expect((await n.app.inject({ url: '/v2/models/person-detector/ready' })).statusCode).toBe(503);
    const detect = await n.app.inject({
      method: 'POST',
      url: '/v1/models/person-detector/detect',
      headers: { 'content-type': 'image/jpeg' },
      payload: frames[0]!.jpeg,
    });
    expect([detect.statusCode, detect.json().code, detect.headers['retry-after']]).toEqual([
      503,
      'EDGE_ERR_NOT_READY',
      '1',
    ]);
    const { frameId } = (await post(n, 'early-cam', frames[0]!.jpeg)).json();
    await n.ready;
    expect((await n.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    await waitFor(async () =>
      (await n.repository.latest('early-cam'))?.frameId === frameId ? true : undefined,
    );
  });
});
