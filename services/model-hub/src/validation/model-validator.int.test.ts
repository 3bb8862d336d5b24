import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeModelWithSparseWeights } from '../../../../packages/detector/src/testing/tiny-onnx.ts';
import { isHubError } from '../errors.ts';
import { PERSON_DETECTOR_ONNX, personDetector } from '../testing/hub-fixture.ts';
import { ProcessModelValidator } from './model-validator.ts';

/**
 * The validator runs onnxruntime in a child process: a model's weights (which onnxruntime holds in
 * native memory while it loads) must not land in the hub's own memory, and a validation that hangs
 * is killed with its own code.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sv-validator-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The bundled detector plus an unused float initializer of `weightBytes`, in a sparse file. */
async function detectorWithWeights(file: string, weightBytes: number): Promise<number> {
  return writeModelWithSparseWeights(file, await readFile(PERSON_DETECTOR_ONNX), weightBytes).size;
}

describe('ProcessModelValidator', () => {
  it('validates a 256 MB model while the hub process grows by far less than the model', async () => {
    const file = path.join(dir, 'big.onnx');
    const size = await detectorWithWeights(file, 256 * 1024 * 1024);
    const { manifest } = await personDetector({ version: '9.0.0' });
    const validator = new ProcessModelValidator({ timeoutMs: 120_000 });
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const v = await validator.validate({
        file,
        fileName: 'person-detector.onnx',
        name: 'person-detector',
        version: '9.0.0',
        sha256: '0'.repeat(64),
        sizeBytes: size,
        manifest,
      });
      expect(v.graph.inputs.map((i) => i.name)).toEqual(['images']);
      expect(v.imported).toBe(false);
    } finally {
      clearInterval(sampler);
    }
    // onnxruntime held the 256 MB of weights in the validation process, not here.
    expect((peak - before) / 2 ** 20).toBeLessThan(48);
  }, 120_000);

  it('kills a validation that runs past its timeout (HUB_ERR_VALIDATION_TIMEOUT)', async () => {
    const { content, manifest } = await personDetector();
    const file = path.join(dir, 'small.onnx');
    await writeFile(file, content);
    // Shorter than starting the process: no verdict can come in time.
    const err = await new ProcessModelValidator({ timeoutMs: 20 })
      .validate({
        file,
        fileName: 'person-detector.onnx',
        name: 'person-detector',
        version: '1.0.0',
        sha256: '0'.repeat(64),
        sizeBytes: content.length,
        manifest,
      })
      .catch((e: unknown) => e);
    expect(isHubError(err) && err.code).toBe('HUB_ERR_VALIDATION_TIMEOUT');
  });
});
