import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraPuller, CameraPullers } from './camera-puller.ts';

/**
 * Pull-mode cameras through Debian's real ffmpeg: a local HTTP MJPEG camera (multipart/x-mixed-
 * replace, as IP cameras serve it) at 10 fps, pulled at 4 fps into the ingest callback.
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
    const got: Array<{ jpeg: Buffer; t: number }> = [];
    const puller = new CameraPuller({
      cameraId: 'shelf-cam',
      url,
      fps: 4,
      ingest: async (jpeg, t) => {
        got.push({ jpeg, t });
      },
      logger: pino({ level: 'silent' }),
    });
    puller.start();
    await new Promise((r) => setTimeout(r, 4000));
    await puller.stop();
    // ~4 s at 4 fps after ffmpeg's start-up: well above 5, well under the source's 10 fps.
    expect(got.length).toBeGreaterThanOrEqual(6);
    expect(got.length).toBeLessThanOrEqual(20);
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
    await new Promise((r) => setTimeout(r, 2500));
    // Cut the camera's connection: ffmpeg ends, the puller reopens it.
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 3000));
    expect(aisle.stats.restarts).toBeGreaterThanOrEqual(1);
    const before = frames.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(frames.length).toBeGreaterThan(before);
    await pullers.apply([]);
    expect(pullers.get('aisle')).toBeUndefined();
    await pullers.close();
  }, 30_000);
});
