import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTestPattern, RtspTestServer } from '../testing/rtsp-test-server.ts';
import { CameraPuller, CameraPullers } from './camera-puller.ts';

/**
 * Pull-mode cameras through Debian's real ffmpeg: a local HTTP MJPEG camera (multipart/x-mixed-
 * replace, as IP cameras serve it) at 10 fps, pulled at 4 fps into the ingest callback; and an
 * RTSP camera — ffmpeg publishing MJPEG over RTP (TCP-interleaved) to the test RTSP server
 * (`../testing/rtsp-test-server.ts`, a relay) — pulled the same way.
 */

let server: http.Server;
let url: string;
const sockets = new Set<import('node:net').Socket>();

beforeAll(async () => {
  const frames = await Promise.all(
    ['#a04040', '#40a040', '#4040a0'].map((c) =>
      sharp({ create: { width: 320, height: 240, channels: 3, background: c } })
        .jpeg()
        .toBuffer(),
    ),
  );
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=frame' });
    let i = 0;
    const timer = setInterval(() => {
      const f = frames[i++ % frames.length]!;
      res.write(`--frame\r\ncontent-type: image/jpeg\r\ncontent-length: ${f.length}\r\n\r\n`);
      res.write(f);
      res.write('\r\n');
    }, 100);
    req.on('close', () => clearInterval(timer));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/video.mjpg`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

describe('camera pullers (ffmpeg)', () => {
  it('pulls an HTTP MJPEG camera at the assigned fps into the ingest as whole JPEG frames, and stops', async () => {
    const got: Array<{ jpeg: Buffer; t: number; at: number }> = [];
    const puller = new CameraPuller({
      cameraId: 'shelf-cam',
      url,
      fps: 4,
      ingest: async (jpeg, t) => {
        got.push({ jpeg, t, at: performance.now() });
      },
      logger: pino({ level: 'silent' }),
    });
    puller.start();
    // ffmpeg's start-up takes longer on a loaded machine: wait for 9 frames rather than a fixed time.
    const deadline = performance.now() + 30_000;
    while (got.length < 9 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await puller.stop();
    expect(got.length).toBeGreaterThanOrEqual(9);
    // After the first frame they come at the assigned 4 fps, not the source's 10: 8 intervals take
    // 2 s at 4 fps and 0.8 s at 10; at least 1 s allows ffmpeg's pacing (or a stalled reader) to run
    // up to 2× fast.
    expect(got[8]!.at - got[0]!.at).toBeGreaterThanOrEqual(1000);
    for (const { jpeg } of got.slice(0, 5)) {
      const meta = await sharp(jpeg).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
    }
    expect(puller.stats).toMatchObject({ failed: 0, restarts: 0 });
    const n = got.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(got.length).toBe(n); // stopped means stopped
  }, 20_000);

  it('reopens a stream that ends, and follows the assignment (start, stop on removal)', async () => {
    const frames: string[] = [];
    const pullers = new CameraPullers(
      (cameraId, u, fps) =>
        new CameraPuller({
          cameraId,
          url: u,
          fps,
          ingest: async () => {
            frames.push(cameraId);
          },
          logger: pino({ level: 'silent' }),
          maxBackoffMs: 500,
        }),
    );
    await pullers.apply([
      { cameraId: 'door', source: 'push', fps: 5 },
      { cameraId: 'aisle', source: url, fps: 5 },
    ]);
    expect(pullers.get('door')).toBeUndefined();
    const aisle = pullers.get('aisle')!;
    // ffmpeg's start-up takes longer on a loaded machine: cut once frames flow, not after a fixed
    // time (a cut before ffmpeg connected would end nothing).
    await until(() => frames.length > 0, 15_000);
    // Cut the camera's connection: ffmpeg ends, the puller reopens it.
    for (const s of sockets) s.destroy();
    await until(() => aisle.stats.restarts >= 1, 5000);
    // Frames again, from the reopened stream (more than the old ffmpeg could still have had in its pipe).
    const before = frames.length;
    await until(() => frames.length >= before + 3, 15_000);
    await pullers.apply([]);
    expect(pullers.get('aisle')).toBeUndefined();
    await pullers.close();
  }, 45_000);
});

describe('camera pullers (ffmpeg) on an RTSP camera', () => {
  it('pulls rtsp:// over TCP at the assigned fps, and reopens the stream when the camera comes back', async () => {
    const rtsp = await RtspTestServer.start();
    let camera = publishTestPattern(rtsp.url('store/shelf'), { width: 480, height: 272, fps: 10 });
    const got: Buffer[] = [];
    const puller = new CameraPuller({
      cameraId: 'shelf-cam',
      url: rtsp.url('store/shelf'),
      fps: 4,
      ingest: async (jpeg) => {
        got.push(jpeg);
      },
      logger: pino({ level: 'silent' }),
      maxBackoffMs: 500,
    });
    try {
      await rtsp.waitForPublisher('store/shelf');
      puller.start();
      await until(() => got.length >= 6, 8000);
      expect(rtsp.streamState('store/shelf')).toEqual({ publishing: true, readers: 1 });
      for (const jpeg of got.slice(0, 3))
        expect(await sharp(jpeg).metadata()).toMatchObject({ format: 'jpeg', width: 480, height: 272 });
      // 4 fps out of a 10 fps camera: count over a measured second and a half.
      const n0 = got.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(got.length - n0).toBeGreaterThanOrEqual(3);
      expect(got.length - n0).toBeLessThanOrEqual(9);
      expect(puller.stats).toMatchObject({ failed: 0, restarts: 0 });

      // The camera goes away (its connection and the stream end), then comes back.
      await camera.stop();
      rtsp.dropStream('store/shelf');
      await until(() => puller.stats.restarts >= 1, 5000);
      camera = publishTestPattern(rtsp.url('store/shelf'), { width: 480, height: 272, fps: 10 });
      const n1 = got.length;
      await until(() => got.length >= n1 + 3, 10_000);
      expect(rtsp.stats.plays).toBeGreaterThanOrEqual(2);
    } finally {
      await puller.stop();
      await camera.stop();
      await rtsp.close();
    }
  }, 30_000);
});

async function until(f: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
