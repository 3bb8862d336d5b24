import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_MODEL_DIR } from '../commands/bench.ts';
import { type ModelBenchResult, runModelBench } from './model-bench.ts';

/**
 * Regression guard for the bundled detector: the held-out AP measured by `storevision bench model`
 * and recorded in models/person-detector/metrics.json (the figures in the model card) must hold.
 * Rendering is deterministic, so this re-renders exactly the recorded frames; the tolerance only
 * absorbs floating-point differences between machines and onnxruntime builds.
 */
const TOLERANCE = 0.02;

describe('bundled person-detector on held-out rendered scenes', () => {
  it('keeps the documented person and cart AP@0.5 on every scene', { timeout: 600_000 }, async () => {
    const documented = JSON.parse(
      await readFile(join(BUNDLED_MODEL_DIR, 'metrics.json'), 'utf8'),
    ) as ModelBenchResult;
    const result = await runModelBench({
      modelDir: BUNDLED_MODEL_DIR,
      scenes: documented.scenes.map((s) => s.scene),
      seeds: documented.scenes[0]!.seeds,
      frames: documented.framesPerSeed,
      fps: documented.fps,
      latencyRuns: 3,
    });
    for (const doc of documented.scenes) {
      const now = result.scenes.find((s) => s.scene === doc.scene)!;
      for (const label of ['person', 'cart']) {
        const want = doc.evaluation.perClass[label]?.ap;
        if (want === null || want === undefined) continue;
        expect(now.evaluation.perClass[label]?.ap, `${doc.scene} ${label} AP`).toBeGreaterThanOrEqual(
          want - TOLERANCE,
        );
      }
      expect(now.evaluation.perClass.person?.positives).toBe(doc.evaluation.perClass.person?.positives);
    }
  });
});
