import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type AnalyticsBenchOptions, formatAnalyticsBench, runAnalyticsBench } from './analytics-bench.ts';

/**
 * `bench analytics --replay` exists to tune the tracker and the counting rules on cached detections
 * in seconds: it is only useful if it gives exactly what the edge gives. One short entrance
 * sequence (8 s at 10 fps, 800×600) through a real edge, then replayed.
 */
const MODELS_DIR = fileURLToPath(new URL('../../../../models', import.meta.url));
let cacheDir: string | undefined;
/** One entrance sequence, 8 s at 10 fps (800×600), one camera. */
const shortEntrance = (dir: string): AnalyticsBenchOptions => ({
  scenes: ['entrance'],
  seeds: [9101],
  seconds: 8,
  fps: 10,
  detectFps: 10,
  cameras: 1,
  cacheDir: dir,
  modelsDir: MODELS_DIR,
});
afterAll(async () => {
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe('storevision bench analytics --replay', () => {
  it("scores a sequence exactly as the edge's own analytics do, from detections it caches", async () => {
    cacheDir = await mkdtemp(join(os.tmpdir(), 'sv-analytics-bench-'));
    const opts = shortEntrance(cacheDir);
    const live = await runAnalyticsBench(opts);
    const replayed = await runAnalyticsBench({ ...opts, replay: true });
    const [a] = live.sequences;
    const [b] = replayed.sequences;
    expect(a!.framesPushed).toBe(80);
    expect(b!.framesPushed).toBe(80);
    // Something to compare: people tracked, and the door line's truth is known.
    expect(a!.score.tracking.idf1).toBeGreaterThan(0.3);
    expect(b!.score).toEqual(a!.score);
    const seqDir = join(cacheDir, 'entrance-s9101-10fps-80f');
    const cached = readdirSync(seqDir).filter((f) => /^detections-person-detector@.+\.jsonl$/.test(f));
    expect(cached).toHaveLength(1);
    expect(existsSync(join(seqDir, `${cached[0]}.partial`))).toBe(false);
    expect(formatAnalyticsBench(replayed)).toContain('REPLAY');
    expect(formatAnalyticsBench(live)).not.toContain('REPLAY');
  }, 240_000);

  it("--truth-boxes scores the tracker and counting rules on the truth's boxes, with no edge", async () => {
    cacheDir ??= await mkdtemp(join(os.tmpdir(), 'sv-analytics-bench-'));
    const r = await runAnalyticsBench({ ...shortEntrance(cacheDir), truthBoxes: 0.25 });
    const [q] = r.sequences;
    expect(r.command).toBeNull();
    expect(r.cost.edgeCpuSeconds).toBeNull();
    expect(q!.framesPushed).toBe(80);
    const [door] = q!.score.lines;
    expect(door!.truth.in + door!.truth.out).toBeGreaterThan(0);
    expect(door!.counted).toEqual(door!.truth);
    expect(q!.score.tracking.mota).toBeGreaterThan(0.9);
    expect(q!.score.tracking.idf1).toBeGreaterThan(0.9);
    const text = formatAnalyticsBench(r);
    expect(text).toContain('TRUTH BOXES');
    expect(text).not.toContain('REPLAY');
  }, 120_000);
});
