import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODELS_DIR, EdgeConfigError, loadConfig } from './config.ts';
import { BUNDLED_MODELS_DIR } from './testing/edge-fixture.ts';
import { lightModels, planThreads } from './thread-budget.ts';

describe('loadConfig', () => {
  it('has defaults that run on a laptop', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      models: ['person-detector'],
      modelsDir: DEFAULT_MODELS_DIR,
      bodyLimitBytes: 20 * 1024 * 1024,
      maxPixels: 40_000_000,
      frameAttempts: 2,
      runnerIdleMs: 2000,
      heapGrowthPercent: 100,
    });
    expect(c.redisUrl).toBeUndefined();
    expect(DEFAULT_MODELS_DIR).toMatch(/models$/);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads EDGE_* variables, and explicit overrides win over them', () => {
    const env = { EDGE_PORT: '9000', EDGE_MODELS: 'a-model, b-model', EDGE_REDIS_URL: 'redis://h:1' };
    expect(loadConfig(env)).toMatchObject({
      port: 9000,
      models: ['a-model', 'b-model'],
      redisUrl: 'redis://h:1',
    });
    expect(loadConfig(env, { port: 9100 }).port).toBe(9100);
  });

  it('refuses bad values with EDGE_ERR_CONFIG naming the option', () => {
    expect(() => loadConfig({ EDGE_PORT: '70000' })).toThrow(EdgeConfigError);
    expect(() => loadConfig({}, { models: ['Not A Name'] })).toThrow(/models\.0/);
    expect(() => loadConfig({}, { redisUrl: 'http://x' })).toThrow(/redisUrl/);
    expect(() => loadConfig({}, { nodeId: 'a b' })).toThrow(/nodeId/);
    expect(() => loadConfig({ EDGE_MOTION_MIN_AREA: '1.5' })).toThrow(/motionMinArea/);
    expect(() => loadConfig({ EDGE_MOTION_THRESHOLD: '0' })).toThrow(/motionThreshold/);
    // An idle runner's wait is bounded by its job's 10 s life.
    expect(() => loadConfig({ EDGE_RUNNER_IDLE_MS: '10001' })).toThrow(/runnerIdleMs/);
    expect(loadConfig({ EDGE_RUNNER_IDLE_MS: '0' }).runnerIdleMs).toBe(0);
    // The heap may grow to at most 5x what the last full GC kept; 0 leaves V8's heuristic.
    expect(() => loadConfig({ EDGE_HEAP_GROWTH_PERCENT: '401' })).toThrow(/heapGrowthPercent/);
    expect(() => loadConfig({ EDGE_HEAP_GROWTH_PERCENT: '-1' })).toThrow(/heapGrowthPercent/);
    expect(loadConfig({ EDGE_HEAP_GROWTH_PERCENT: '0' }).heapGrowthPercent).toBe(0);
  });

  it('leaves motion gating off unless asked; EDGE_MOTION_* set it up', () => {
    expect(loadConfig({})).toMatchObject({
      motionGate: false,
      motionThreshold: 20,
      motionMinArea: 0.002,
      motionMaxSkipMs: 5000,
    });
    expect(
      loadConfig({ EDGE_MOTION_GATE: 'true', EDGE_MOTION_MIN_AREA: '0.01', EDGE_MOTION_MAX_SKIP_MS: '0' }),
    ).toMatchObject({ motionGate: true, motionMinArea: 0.01, motionMaxSkipMs: 0 });
  });

  it('turns the event uploader on only with a hub URL (trailing slash dropped)', () => {
    expect(loadConfig({}).hubUrl).toBeUndefined();
    const c = loadConfig({ EDGE_HUB_URL: 'http://hub.internal:8090/', EDGE_HUB_TOKEN: 'svh_x' });
    expect(c).toMatchObject({ hubUrl: 'http://hub.internal:8090', hubToken: 'svh_x', uploadBatchSize: 500 });
    expect(() => loadConfig({ EDGE_HUB_URL: 'hub:8090' })).toThrow(/hubUrl/);
  });

  it('sends camera snapshots every 10 s by default, blurred; EDGE_SNAPSHOT_INTERVAL_MS=0 turns them off', () => {
    expect(loadConfig({})).toMatchObject({
      snapshotIntervalMs: 10_000,
      snapshotMaxSide: 640,
      snapshotBlurPeople: true,
    });
    expect(
      loadConfig({
        EDGE_SNAPSHOT_INTERVAL_MS: '0',
        EDGE_SNAPSHOT_BLUR_PEOPLE: 'false',
        EDGE_SNAPSHOT_MAX_SIDE: '320',
      }),
    ).toMatchObject({ snapshotIntervalMs: 0, snapshotBlurPeople: false, snapshotMaxSide: 320 });
    // More often than once a second would be a video stream, not a snapshot.
    expect(() => loadConfig({ EDGE_SNAPSHOT_INTERVAL_MS: '200' })).toThrow(/snapshotIntervalMs/);
    expect(() => loadConfig({ EDGE_SNAPSHOT_MAX_SIDE: '4000' })).toThrow(/snapshotMaxSide/);
  });
});

describe('lightModels', () => {
  it('is true only when every model package reads as an input of at most 416×416', async () => {
    const bundled = path.join(BUNDLED_MODELS_DIR, 'person-detector');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sv-light-'));
    const manifest = JSON.parse(await readFile(path.join(bundled, 'manifest.json'), 'utf8'));
    const withInput = async (name: string, side: number) => {
      await mkdir(path.join(dir, name));
      manifest.input.shape = [1, 3, side, side];
      await writeFile(path.join(dir, name, 'manifest.json'), JSON.stringify(manifest));
      return path.join(dir, name);
    };
    const light = await withInput('light', 384);
    const edge = await withInput('edge', 416);
    const heavy = await withInput('heavy', 512);
    expect(await lightModels([light])).toBe(true);
    expect(await lightModels([light, edge])).toBe(true);
    expect(await lightModels([light, heavy])).toBe(false);
    expect(await lightModels([path.join(dir, 'missing')])).toBe(false);
    expect(await lightModels([])).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('planThreads', () => {
  it('keeps inference threads × intra-op threads within the cores left to inference', () => {
    for (const cores of [1, 2, 3, 4, 8, 16, 64]) {
      for (const light of [false, true]) {
        const p = planThreads({ cores, lightModels: light });
        // Below 4 cores two single-threaded inference threads share each core for light models
        // (one decodes while the other infers); from 4 cores one core is left to the event loop.
        const budget = cores >= 4 ? cores - 1 : light ? 2 * cores : cores;
        expect(p.inferenceThreads * p.intraOpThreads, `cores ${cores}`).toBeLessThanOrEqual(budget);
        expect(p.inferenceThreads).toBeGreaterThanOrEqual(1);
        expect(p.sharpConcurrency).toBe(1);
      }
      const p = planThreads({ cores });
      expect(p.inferenceThreads).toBeGreaterThanOrEqual(1);
      expect(p.sharpConcurrency).toBe(1);
    }
    expect(planThreads({ cores: 8 })).toMatchObject({ inferenceThreads: 3, intraOpThreads: 2 });
    // No core for the event loop below 4: one single-threaded inference thread per core, two for
    // light models (bench edge).
    expect(planThreads({ cores: 2 })).toMatchObject({ inferenceThreads: 2, intraOpThreads: 1 });
    expect(planThreads({ cores: 3 })).toMatchObject({ inferenceThreads: 3, intraOpThreads: 1 });
    expect(planThreads({ cores: 1, lightModels: true })).toMatchObject({
      inferenceThreads: 2,
      intraOpThreads: 1,
    });
    expect(planThreads({ cores: 2, lightModels: true })).toMatchObject({
      inferenceThreads: 4,
      intraOpThreads: 1,
    });
    expect(planThreads({ cores: 8, lightModels: true })).toMatchObject({
      inferenceThreads: 3,
      intraOpThreads: 2,
    });
  });

  it('honours explicit thread counts', () => {
    expect(planThreads({ cores: 8, inferenceThreads: 7 })).toMatchObject({
      inferenceThreads: 7,
      intraOpThreads: 1,
    });
    expect(planThreads({ cores: 8, inferenceThreads: 2, intraOpThreads: 3 })).toMatchObject({
      inferenceThreads: 2,
      intraOpThreads: 3,
    });
  });
});
