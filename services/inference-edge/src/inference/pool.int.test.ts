import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS_DIR, renderFrames } from '../testing/edge-fixture.ts';
import { InferencePool } from './pool.ts';

describe('inference pool thread leases', () => {
  let pool: InferencePool;
  let frame: Buffer;

  beforeAll(async () => {
    pool = new InferencePool({
      models: { 'person-detector': path.join(BUNDLED_MODELS_DIR, 'person-detector') },
      threads: 1,
      intraOpThreads: 1,
      sharpConcurrency: 1,
      maxPixels: 40_000_000,
      timeoutMs: 15_000,
      maxQueued: 4,
      logger: pino({ level: 'silent' }),
    });
    await pool.start();
    frame = (await renderFrames(1))[0]!.jpeg;
  }, 60_000);
  afterAll(() => pool.close());

  const detect = () => ({ kind: 'detect' as const, image: frame, models: ['person-detector'] });

  // Regression guard for the frame worker's prefetch: a frame is claimed only once a thread is its
  // own, so a thread held by a lease must not be handed to anyone else in the meantime.
  it('holds a thread for its lease: other work waits until the lease runs or releases it', async () => {
    const lease = await pool.acquire();
    expect(pool.stats).toMatchObject({ threads: 1, busy: 1 });
    let otherDone = false;
    const other = pool.run(detect()).then((r) => {
      otherDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(otherDone).toBe(false);
    const mine = await lease.run(detect());
    expect(mine.kind).toBe('detect');
    expect((await other).kind).toBe('detect');

    const second = await pool.acquire();
    second.release();
    second.release();
    expect((await pool.run(detect())).kind).toBe('detect');
    expect(pool.stats).toMatchObject({ busy: 0, queued: 0 });
  });

  // The frame worker hands a claimed HTTP body over instead of copying it (one 70-140 KB copy less
  // per frame on the HTTP thread); anything else is copied, so a caller's buffer stays usable.
  it('moves an image it was given (transferImage) to the thread and copies every other one', async () => {
    const given = Buffer.from(frame); // its own ArrayBuffer, as Buffer.concat makes an HTTP body
    expect(given.byteLength).toBe(given.buffer.byteLength);
    const r = await pool.run({ ...detect(), image: given, transferImage: true });
    expect(r.kind === 'detect' && r.models['person-detector']!.detections.length).toBeGreaterThan(0);
    expect(given.byteLength).toBe(0); // detached: moved, not copied

    const kept = Buffer.from(frame);
    await pool.run({ ...detect(), image: kept });
    expect(kept.equals(frame)).toBe(true);

    // A view into a larger buffer (an ioredis reply, a pooled small Buffer) is copied even when given.
    const big = Buffer.alloc(frame.length + 16);
    frame.copy(big, 8);
    const view = big.subarray(8, 8 + frame.length);
    await pool.run({ ...detect(), image: view, transferImage: true });
    expect(view.equals(frame)).toBe(true);
  });
});
