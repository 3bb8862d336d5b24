import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from './blob-store.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'sv-blobs-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('FsBlobStore', () => {
  it('hashes while staging and shows nothing under the digest until commit', async () => {
    const store = await FsBlobStore.open(root);
    const staged = await store.stage(Readable.from(['model ', 'bytes']));
    expect(staged.digest).toBe(digestOf('model bytes'));
    expect(staged.sizeBytes).toBe(11);
    expect(await store.stat(staged.digest)).toBeUndefined();
    expect(await store.list()).toEqual([]);
    expect(await staged.commit()).toEqual({ created: true });
    expect(await store.stat(staged.digest)).toEqual({ sizeBytes: 11 });
    expect(await text(store.read(staged.digest, { start: 6, end: 10 }))).toBe('bytes');
    expect(await store.staged()).toEqual([]);
  });

  it('keeps one copy of identical bytes', async () => {
    const store = await FsBlobStore.open(root);
    await (await store.stage(Readable.from(['same']))).commit();
    expect(await (await store.stage(Readable.from(['same']))).commit()).toEqual({ created: false });
    expect(await store.list()).toEqual([digestOf('same')]);
    expect(await store.staged()).toEqual([]);
  });

  it('leaves nothing when the source stream fails half-way, or the staged blob is discarded', async () => {
    const store = await FsBlobStore.open(root);
    const failing = new Readable({
      read() {
        this.push('half of a model');
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(store.stage(failing)).rejects.toThrow('connection reset');
    const staged = await store.stage(Readable.from(['x']));
    await staged.discard();
    expect(await store.staged()).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it('sweeps files left in staging by a crashed run when it opens', async () => {
    await (await FsBlobStore.open(root)).stage(Readable.from(['x']));
    await writeFile(path.join(root, 'tmp', 'orphan.partial'), 'junk');
    await FsBlobStore.open(root);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('refuses digests that are not sha256:<hex> (no path ever comes from a request)', async () => {
    const store = await FsBlobStore.open(root);
    expect(() => store.read('../../etc/passwd')).toThrow(TypeError);
  });
});
