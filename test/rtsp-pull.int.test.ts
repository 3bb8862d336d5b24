/**
 * End to end: a pull-mode camera with an rtsp:// source. The camera is Debian's ffmpeg publishing
 * MJPEG over RTSP (TCP-interleaved RTP) to the test RTSP server (a relay, see
 * services/inference-edge/src/testing/rtsp-test-server.ts — no RTSP media server can be installed
 * here). The orchestrator (real, in this process) assigns it to the store's edge (a real
 * `storevision edge` process with a real Redis), which pulls it with ffmpeg at the assigned fps
 * and runs the person detector on every pulled frame; removing the camera stops the pull.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LatestDetections } from '@storevision/contracts';
import { DEFAULT_MODELS_DIR, startTestRedis, type TestRedis } from '@storevision/inference-edge';
import { loadConfig, type RunningOrchestrator, startOrchestrator } from '@storevision/orchestrator';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeProcess } from '../packages/cli/src/bench/edge-process.ts';
import {
  publishTestPattern,
  RtspTestServer,
} from '../services/inference-edge/src/testing/rtsp-test-server.ts';
import { json, sleep, until } from './support.ts';

const STORE = 'store-rtsp';
const NODE = 'rtsp-edge';
const CAMERA = 'shelf-rtsp';
let redis: TestRedis | undefined;
let orch: RunningOrchestrator | undefined;
let rtsp: RtspTestServer | undefined;
let camera: ReturnType<typeof publishTestPattern> | undefined;
let edge: EdgeProcess | undefined;
let dataDir: string | undefined;

beforeAll(async () => {
  rtsp = await RtspTestServer.start();
  camera = publishTestPattern(rtsp.url('store-rtsp/shelf'), { width: 640, height: 360, fps: 10 });
  redis = await startTestRedis();
  dataDir = await mkdtemp(path.join(tmpdir(), 'sv-rtsp-e2e-'));
  orch = await startOrchestrator(
    loadConfig({}, { port: 0, host: '127.0.0.1', dataDir, heartbeatTimeoutMs: 5000, sweepIntervalMs: 100 }),
    { logger: pino({ level: 'silent' }) },
  );
  edge = await EdgeProcess.start({
    redisUrl: redis.url,
    modelsDir: DEFAULT_MODELS_DIR,
    models: ['person-detector'],
    redisPrefix: `sv-${NODE}`,
    nodeId: NODE,
    inferenceThreads: 1,
    intraOpThreads: 1,
    extraArgs: [
      '--orchestrator-url',
      orch.url,
      '--store-id',
      STORE,
      '--heartbeat-interval',
      '250',
      '--throughput-probe',
      '300',
      '--cores',
      '1',
    ],
  });
  await rtsp.waitForPublisher('store-rtsp/shelf');
}, 120_000);

afterAll(async () => {
  await edge?.stop(5000);
  await orch?.close();
  await camera?.stop();
  await rtsp?.close();
  await redis?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('pull-mode RTSP camera', () => {
  it('is pulled over RTSP by its owner edge through ffmpeg at the assigned fps and its frames are processed', async () => {
    const o = orch!;
    const e = edge!;
    await until('the edge registered', async () => {
      const { body } = await json(`${o.url}/v1/nodes?store=${STORE}`);
      return body.nodes.find(
        (n: { nodeId: string; status: string }) => n.nodeId === NODE && n.status === 'ready',
      );
    });
    const put = await json(`${o.url}/v1/stores/${STORE}/cameras/${CAMERA}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        source: rtsp!.url('store-rtsp/shelf'),
        fps: 2,
        pipelines: [{ model: 'person-detector', minFps: 1 }],
      }),
    });
    expect(put.status).toBe(201);

    const stats = async () => (await json(`${e.url}/v1/cameras/${CAMERA}/stats`)).body;
    const first = await until(
      'pulled frames processed by the edge',
      async () => {
        const s = await stats();
        return s?.processed >= 3 ? s : undefined;
      },
      15_000,
    );
    expect(rtsp!.streamState('store-rtsp/shelf')).toEqual({ publishing: true, readers: 1 });
    const latest = (await json(`${e.url}/v1/cameras/${CAMERA}/detections/latest`)).body as LatestDetections;
    expect(latest).toMatchObject({ cameraId: CAMERA, nodeId: NODE, width: 640, height: 360 });
    expect(latest.models['person-detector']).toBeDefined();
    expect(Date.now() - latest.captureTime).toBeLessThan(5000); // live, not a backlog

    // At the assigned 2 fps, not the camera's 10.
    const t0 = Date.now();
    await sleep(2000);
    const second = await stats();
    const fps = (second.received - first.received) / ((Date.now() - t0) / 1000);
    expect(fps).toBeGreaterThan(0.9);
    expect(fps).toBeLessThan(3.5);
    expect(second.failed).toBe(0);

    // The camera leaves the plan: the edge stops pulling it.
    const del = await fetch(`${o.url}/v1/stores/${STORE}/cameras/${CAMERA}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    await until('the edge stopped pulling', async () =>
      rtsp!.streamState('store-rtsp/shelf').readers === 0 ? true : undefined,
    );
  }, 60_000);
});
