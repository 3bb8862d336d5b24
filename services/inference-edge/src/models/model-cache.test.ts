import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelCache } from './model-cache.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function fakeEntry(cache: ModelCache, version: string, bytes: number) {
  const d = cache.entryDir('m', version);
  await mkdir(d, { recursive: true });
  await writeFile(path.join(d, 'model.onnx'), Buffer.alloc(bytes));
}

describe('model cache', () => {
  it('evicts least recently live versions over the limit, never the kept ones; state survives reopening', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sv-cache-'));
    const cache = await ModelCache.open(dir, { maxBytes: 2500 });
    for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) {
      await fakeEntry(cache, v, 1000);
      await cache.setActive('m', v);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(cache.state).toMatchObject({ active: { m: '1.3.0' }, previous: { m: '1.2.0' } });
    // 4000 bytes > 2500: the two oldest go, unless kept (1.0.0 is desired again, say).
    const removed = await cache.evict(new Set(['m@1.3.0', 'm@1.2.0', 'm@1.0.0']));
    expect(removed).toEqual(['m@1.1.0']);
    expect((await readdir(path.join(dir, 'versions', 'm'))).sort()).toEqual(['1.0.0', '1.2.0', '1.3.0']);
    const again = await cache.evict(new Set(['m@1.3.0', 'm@1.2.0']));
    expect(again).toEqual(['m@1.0.0']);
    // Leftovers of an interrupted install are dropped on open; the state is read back.
    await mkdir(path.join(dir, 'staging', 'half'), { recursive: true });
    const reopened = await ModelCache.open(dir, { maxBytes: 2500 });
    expect(await readdir(path.join(dir, 'staging'))).toEqual([]);
    expect(reopened.state.active).toEqual({ m: '1.3.0' });
    expect(await reopened.has('m', '1.3.0')).toBe(false); // no signed.json: never a whole entry
  });
});
