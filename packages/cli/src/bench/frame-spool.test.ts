import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameSpoolWriter, readFrameSpool } from './frame-spool.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'sv-spool-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('frame spool', () => {
  it('gives back every frame with its capture time, in order, byte for byte', async () => {
    const file = path.join(dir, 'a.spool');
    const frames = [
      { captureTime: 1_767_600_000_000, jpeg: Buffer.from([0xff, 0xd8, 1, 2, 3]) },
      { captureTime: 1_767_600_000_200, jpeg: Buffer.alloc(70_000, 7) },
      { captureTime: 1_767_600_000_400, jpeg: Buffer.alloc(0) },
      { captureTime: 1_767_600_000_600, jpeg: Buffer.from('last') },
    ];
    const w = await FrameSpoolWriter.create(file);
    for (const f of frames) await w.append(f);
    await w.close();
    expect(w.frames).toBe(4);
    expect(w.bytes).toBe(4 * 12 + 5 + 70_000 + 0 + 4);
    const back = [];
    for await (const f of readFrameSpool(file)) back.push(f);
    expect(back).toEqual(frames);
  });

  it('refuses a file cut in the middle of a frame', async () => {
    const file = path.join(dir, 'b.spool');
    const w = await FrameSpoolWriter.create(file);
    await w.append({ captureTime: 1, jpeg: Buffer.alloc(100, 1) });
    await w.file.truncate(60);
    await w.close();
    const read = async () => {
      for await (const _ of readFrameSpool(file));
    };
    await expect(read()).rejects.toThrow(/truncated frame at byte 0/);
  });
});
