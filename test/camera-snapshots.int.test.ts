import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyticsConfigForScene } from '@storevision/analytics';
import type { CameraSnapshot } from '@storevision/contracts';
import { SequenceRenderer } from '@storevision/scenes';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeTokenFile } from '../services/inference-edge/src/models/model-setup.ts';
import type { EdgeNode } from '../services/inference-edge/src/node.ts';
import { startTestEdge, waitFor } from '../services/inference-edge/src/testing/edge-fixture.ts';
import { startTestRedis, type TestRedis } from '../services/inference-edge/src/testing/redis-server.ts';
import {
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
} from '../services/model-hub/src/testing/hub-fixture.ts';

/**
 * Camera snapshots end to end: a real edge (real Redis, the bundled detector, the tracker) that
 * enrolled with the hub through an enrolment token — no hub token configured — uploads its events
 * and, once per interval, a downscaled picture of each camera it analyses, with the boxes of that
 * frame and the camera's zones and lines, to a real hub (SQLite), which serves it to viewers.
 */
const STORE = 'store-snap';
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
let redis: TestRedis;
let hub: TestHub;
let hubUrl: string;
let edge: EdgeNode;
let dataDir: string;
let renderer: SequenceRenderer;
/** The frames pushed, by the edge's frame id: the snapshot names the one it is of. */
const pushed = new Map<string, Buffer>();

beforeAll(async () => {
  [redis, hub, dataDir] = await Promise.all([
    startTestRedis(),
    startTestHub(async (dir) => `sqlite:${path.join(dir, 'hub.sqlite')}`),
    mkdtemp(path.join(tmpdir(), 'sv-snap-edge-')),
  ]);
  await hub.hub.app.listen({ port: 0, host: '127.0.0.1' });
  hubUrl = `http://127.0.0.1:${(hub.hub.app.server.address() as { port: number }).port}`;
  const et = await hub.hub.app.inject({
    method: 'POST',
    url: '/v1/enrolment-tokens',
    headers: admin,
    payload: { storeId: STORE },
  });
  expect(et.statusCode, et.body).toBe(201);
  edge = await startTestEdge(
    redis.url,
    {
      nodeId: 'edge-snap',
      storeId: STORE,
      dataDir,
      hubUrl,
      // No hubToken: the model agent enrols with this and keeps the node token under dataDir.
      hubEnrolmentToken: et.json().token,
      hubPublicKey: hub.hub.signingKey.publicKeyPem,
      modelSyncWaitSeconds: 1,
      uploadMaxBackoffMs: 200,
      snapshotIntervalMs: 1000,
      timezone: 'Asia/Shanghai',
    },
    { uploader: { pollMs: 50, baseBackoffMs: 50, heartbeatMs: 200 } },
  );
  // 1280×720 frames: the snapshot is the same picture at 640×360.
  renderer = new SequenceRenderer({
    scene: 'checkout',
    seed: 5,
    frames: 400,
    fps: 5,
    width: 1280,
    height: 720,
  });
}, 120_000);

afterAll(async () => {
  await edge?.close();
  await hub?.dispose();
  await redis?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('camera snapshots from an enrolled edge', () => {
  it('uploads events with the node token it enrolled for when no hub token is configured', async () => {
    expect(edge.config.hubToken).toBeUndefined();
    // The model agent enrolled and kept the node token; the uploader's heartbeats carry it.
    await waitFor(async () => (existsSync(nodeTokenFile(edge.config)) ? true : undefined), 30_000);
    const store = await waitFor(async () => {
      const res = await hub.hub.app.inject({ url: '/v1/stores', headers: admin });
      return (
        res.json().stores as Array<{ storeId: string; nodes: { items: Array<{ nodeId: string }> } }>
      ).find((s) => s.storeId === STORE && s.nodes.items.some((n) => n.nodeId === 'edge-snap'));
    }, 30_000);
    expect(store.nodes.items.map((n) => n.nodeId)).toEqual(['edge-snap']);
    // The hub stores the heartbeat before the uploader has read its reply: wait for the uploader
    // to count that success too (its tries before the enrolment failed with 401).
    await waitFor(async () => (edge.uploader?.consecutiveFailures === 0 ? true : undefined), 10_000);
    expect(edge.uploader?.lastResult?.ok).toBe(true);
  });

  it('sends the latest frame of an analysed camera, downscaled and blurred, with its boxes, zones and lines', async () => {
    const config = analyticsConfigForScene(renderer.describe());
    const put = await edge.app.inject({
      method: 'PUT',
      url: '/v1/cameras/cam-checkout/analytics/config',
      payload: config as object,
    });
    expect(put.statusCode, put.body).toBe(200);
    const header = renderer.header();
    // Frames at about 5 fps until the hub has a snapshot of this camera (one interval is 1 s).
    let index = 20;
    const snapshot = await waitFor(
      async () => {
        const f = await renderer.frame(index);
        index += 2;
        const res = await edge.app.inject({
          method: 'POST',
          url: '/v1/cameras/cam-checkout/frames',
          headers: {
            'content-type': 'image/jpeg',
            'x-capture-time': String(header.startEpochMs + f.truth.t),
          },
          payload: f.jpeg,
        });
        if (res.statusCode === 202) pushed.set(res.json().frameId, f.jpeg);
        // A camera pushing frames without an analytics config: no snapshot is ever taken of it.
        await edge.app.inject({
          method: 'POST',
          url: '/v1/cameras/cam-unanalysed/frames',
          headers: { 'content-type': 'image/jpeg' },
          payload: f.jpeg,
        });
        const meta = await hub.hub.app.inject({
          url: `/v1/stores/${STORE}/cameras/cam-checkout/snapshot/meta`,
          headers: admin,
        });
        return meta.statusCode === 200 && (meta.json() as CameraSnapshot).boxes.length > 0
          ? (meta.json() as CameraSnapshot)
          : undefined;
      },
      60_000,
      150,
    );
    expect(snapshot).toMatchObject({
      storeId: STORE,
      cameraId: 'cam-checkout',
      nodeId: 'edge-snap',
      width: 640,
      height: 360,
    });
    expect(snapshot.configVersion).toBe(1);
    expect(snapshot.blurred).toBe(true);
    // The camera's geometry, as configured.
    expect(snapshot.zones.map((z) => [z.id, z.polygon])).toEqual(config.zones!.map((z) => [z.id, z.polygon]));
    expect(snapshot.lines.map((l) => [l.id, l.a, l.b])).toEqual(
      (config.lines ?? []).map((l) => [l.id, l.a, l.b]),
    );
    // Boxes of tracked people, normalised to the picture.
    for (const b of snapshot.boxes) {
      expect(b.label).toBe('person');
      expect(b.trackId).toBeGreaterThan(0);
      for (const v of Object.values(b.box)) expect(v >= 0 && v <= 1).toBe(true);
    }
    const original = pushed.get(snapshot.frameId);
    expect(original, 'the snapshot is of a frame that was pushed').toBeDefined();

    // The picture: a 640×360 JPEG without metadata, people blurred, the rest the frame itself.
    const image = await hub.hub.app.inject({ url: snapshot.imageUrl, headers: admin });
    expect(image.headers['content-type']).toBe('image/jpeg');
    const meta = await sharp(image.rawPayload).metadata();
    expect([meta.format, meta.width, meta.height, meta.exif]).toEqual(['jpeg', 640, 360, undefined]);
    const got = await sharp(image.rawPayload).removeAlpha().raw().toBuffer();
    const plain = await sharp(original!).resize({ width: 640, height: 360 }).removeAlpha().raw().toBuffer();
    const meanDiff = (x1: number, y1: number, x2: number, y2: number) => {
      let sum = 0;
      let n = 0;
      for (let y = Math.floor(y1 * 360); y < Math.ceil(y2 * 360); y++)
        for (let x = Math.floor(x1 * 640); x < Math.ceil(x2 * 640); x++)
          for (let c = 0; c < 3; c++) {
            const i = (y * 640 + x) * 3 + c;
            sum += Math.abs(got[i]! - plain[i]!);
            n++;
          }
      return sum / n;
    };
    const biggest = [...snapshot.boxes].sort(
      (a, b) => (b.box.x2 - b.box.x1) * (b.box.y2 - b.box.y1) - (a.box.x2 - a.box.x1) * (a.box.y2 - a.box.y1),
    )[0]!.box;
    const inside = meanDiff(biggest.x1, biggest.y1, biggest.x2, biggest.y2);
    // A strip of the frame no box touches (JPEG re-encoding differs by a grey level or two).
    const free = [
      0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9,
      0.95,
    ].find((y) => snapshot.boxes.every((b) => b.box.y1 > y + 0.05 || b.box.y2 < y));
    expect(free, 'a strip without people').toBeDefined();
    const outside = meanDiff(0, free!, 1, free! + 0.05);
    expect(outside).toBeLessThan(3);
    expect(inside).toBeGreaterThan(outside * 2);

    // Nothing of it stays in Redis, and the camera without a config has no snapshot. A frame pushed
    // after this snapshot's may have been kept for the next one (the flag is set again every
    // interval): its bytes wait under the key until the uploader takes them, briefly (their TTL is 60 s).
    await edge.snapshots!.idle();
    const prefix = edge.config.redisPrefix;
    const r = new Redis(redis.url);
    try {
      await waitFor(
        async () => ((await r.exists(`${prefix}:cam:cam-checkout:snapshot`)) === 0 ? true : undefined),
        10_000,
      );
      expect(await r.exists(`${prefix}:cam:cam-unanalysed:snapshot:want`)).toBe(0);
    } finally {
      r.disconnect();
    }
    expect(await edge.repository.frameExists(snapshot.frameId)).toBe(false);
    const none = await hub.hub.app.inject({
      url: `/v1/stores/${STORE}/cameras/cam-unanalysed/snapshot/meta`,
      headers: admin,
    });
    expect(none.json().code).toBe('HUB_ERR_SNAPSHOT_NOT_FOUND');
    expect(await edge.metrics.registry.metrics()).toMatch(
      /edge_camera_snapshots_total\{result="uploaded",node="edge-snap"\} [1-9]/,
    );
  }, 120_000);
});
