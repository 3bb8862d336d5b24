import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgeError } from '../errors.ts';
import { BUNDLED_MODELS_DIR, renderFrames } from '../testing/edge-fixture.ts';
import { testPackages } from '../testing/model-packages.ts';
import { InferencePool } from './pool.ts';

/**
 * Hot swap in the real inference pool (two worker threads, real onnxruntime): a new version loads
 * and warms up beside the live one, tasks in flight finish on the version they started with, later
 * ones run the new one, nothing fails; a version that fails warm-up is never switched in.
 */
let pool: InferencePool;
let packages: Awaited<ReturnType<typeof testPackages>>;
let jpeg: Buffer;
/** The bundled detector's version, as its manifest states it. */
const bundledVersion = (
  JSON.parse(readFileSync(`${BUNDLED_MODELS_DIR}/person-detector/manifest.json`, 'utf8')) as {
    version: string;
  }
).version;
const runs: Array<[string, string, number | undefined]> = [];

beforeAll(async () => {
  packages = await testPackages();
  jpeg = (await renderFrames(1))[0]!.jpeg;
  pool = new InferencePool({
    models: { 'person-detector': `${BUNDLED_MODELS_DIR}/person-detector` },
    threads: 2,
    intraOpThreads: 1,
    sharpConcurrency: 1,
    maxPixels: 40_000_000,
    timeoutMs: 15_000,
    maxQueued: 100,
    logger: pino({ level: 'silent' }),
    onModelRun: (model, version, ms) => runs.push([model, version, ms]),
  });
  await pool.start();
});
afterAll(async () => {
  await pool?.close();
  await packages?.dispose();
});

const detect = () => pool.run({ kind: 'detect', image: jpeg, models: ['person-detector'] });

describe('inference pool hot swap', () => {
  it('switches to a new version while frames are in flight: every task answers, in version order', async () => {
    const bundled = bundledVersion;
    expect(pool.models[0]!.version).toBe(bundled);
    const dir = await packages.reversioned('2.0.0');
    const results: Array<Promise<string>> = [];
    let swapped: Promise<unknown> | undefined;
    for (let i = 0; i < 24; i++) {
      results.push(detect().then((r) => (r.kind === 'detect' ? r.models['person-detector']!.version : '')));
      if (i === 6) swapped = pool.swapModel('person-detector', dir);
      await new Promise((r) => setTimeout(r, 15));
    }
    const { previous, current } = (await swapped) as Awaited<ReturnType<InferencePool['swapModel']>>;
    expect(previous).toBe(bundled);
    expect(current.version).toBe('2.0.0');
    const versions = await Promise.all(results);
    // None failed; the first ones ran the bundled version, and once a task ran 2.0.0 no later one ran it.
    expect(versions[0]).toBe(bundled);
    const firstNew = versions.indexOf('2.0.0');
    expect(firstNew).toBeGreaterThan(0);
    expect(versions.slice(firstNew).every((v) => v === '2.0.0')).toBe(true);
    expect(pool.models[0]!.version).toBe('2.0.0');
    expect(pool.modelDirs['person-detector']).toBe(dir);
    // The pool reported every run, per version, with its time.
    expect(runs.filter(([, v]) => v === '2.0.0').length).toBe(versions.length - firstNew);
    expect(runs.every(([m, , ms]) => m === 'person-detector' && ms !== undefined && ms > 0)).toBe(true);
    expect(pool.stats.restarts).toBe(0);
  });

  it('refuses a version that fails warm-up and keeps serving the live one', async () => {
    const dir = await packages.broken('2.1.0');
    const err = await pool.swapModel('person-detector', dir).catch((e: unknown) => e);
    expect(isEdgeError(err, 'EDGE_ERR_MODEL_LOAD_FAILED'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/reshape/i);
    expect(pool.models[0]!.version).toBe('2.0.0');
    const r = await detect();
    expect(r.kind === 'detect' && r.models['person-detector']!.version).toBe('2.0.0');
    // Rolling back to the previous package is a swap like any other.
    await pool.swapModel('person-detector', `${BUNDLED_MODELS_DIR}/person-detector`);
    const back = await detect();
    expect(back.kind === 'detect' && back.models['person-detector']!.version).toBe(bundledVersion);
  });
});
