import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ModelManifest } from '@storevision/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDetectorFromPackage } from './detector.ts';
import { isDetectorError } from './errors.ts';
import { chooseVariant, loadModelPackage } from './model-package.ts';
import { testManifest } from './testing/manifests.ts';
import { buildReshapeModel } from './testing/tiny-onnx.ts';

const model = buildReshapeModel({
  input: { name: 'images', type: 'float32', shape: [1, 3, 8, 8] },
  output: { name: 'output0', type: 'float32', shape: [1, 6, 32] },
});
const sha256 = createHash('sha256').update(model).digest('hex');

const manifest = testManifest((m) => {
  m.input.shape = [1, 3, 8, 8];
  m.output.shape = [1, 6, 32];
  m.variants = [
    { id: 'fp16-gpu', file: 'model-fp16.onnx', precision: 'fp16', executionProviders: ['tensorrt', 'cuda'] },
    {
      id: 'fp32-cpu',
      file: 'model.onnx',
      precision: 'fp32',
      executionProviders: ['cpu'],
      sha256,
      sizeBytes: model.length,
    },
  ];
});

describe('loadModelPackage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'storevision-model-package-'));
    await writeFile(path.join(dir, 'model.onnx'), model);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const writeManifest = (m: unknown) => writeFile(path.join(dir, 'manifest.json'), JSON.stringify(m));

  it('validates the manifest and picks the variant this machine can run, checking its digest', async () => {
    await writeManifest(manifest);
    const pkg = await loadModelPackage(dir, { available: ['cpu'] });
    expect(pkg.variant.id).toBe('fp32-cpu');
    expect(pkg.modelPath).toBe(path.join(dir, 'model.onnx'));
    expect(pkg.manifest.input.padValue).toBe(114);
  });

  it('refuses a model file that does not match the manifest digest', async () => {
    await writeManifest(manifest);
    await writeFile(path.join(dir, 'model.onnx'), Buffer.concat([model, Buffer.from([0])]));
    const err = await loadModelPackage(dir, { available: ['cpu'] }).catch((e: unknown) => e);
    expect(isDetectorError(err, 'DETECTOR_ERR_DIGEST_MISMATCH')).toBe(true);
    await expect(loadModelPackage(dir, { available: ['cpu'], verifyDigest: false })).resolves.toBeTruthy();
  });

  it('says which field of an invalid manifest is wrong', async () => {
    await writeManifest({ ...manifest, version: 'v1', labels: [] });
    const err = await loadModelPackage(dir).catch((e: unknown) => e);
    expect(isDetectorError(err, 'DETECTOR_ERR_MANIFEST_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/version: not a semver/);
    expect((err as Error).message).toMatch(/labels/);
  });

  it('refuses a variant file outside the package directory', async () => {
    await writeManifest({ ...manifest, variants: [{ ...manifest.variants[1]!, file: '../elsewhere.onnx' }] });
    const err = await loadModelPackage(dir, { available: ['cpu'] }).catch((e: unknown) => e);
    expect(isDetectorError(err, 'DETECTOR_ERR_MANIFEST_INVALID')).toBe(true);
  });

  it('creates a working detector from the directory', async () => {
    await writeManifest(manifest);
    const detector = await createDetectorFromPackage(dir, { warmupRuns: 1, verifyDigest: true });
    const image = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8, channels: 3 as const };
    expect((await detector.detect(image)).detections).toEqual([]);
    expect(detector.executionProviders).toContain('cpu');
    await detector.release();
  });
});

describe('chooseVariant', () => {
  const m: ModelManifest = manifest;
  it('prefers a GPU variant where a GPU provider is available, else the CPU one', () => {
    expect(chooseVariant(m, { available: ['cpu', 'cuda'] }).id).toBe('fp16-gpu');
    expect(chooseVariant(m, { available: ['cpu', 'webgpu'] }).id).toBe('fp32-cpu');
  });

  it('takes an explicit variant, and says which exist when it is wrong', () => {
    expect(chooseVariant(m, { available: ['cpu'], variantId: 'fp16-gpu' }).id).toBe('fp16-gpu');
    expect(() => chooseVariant(m, { available: ['cpu'], variantId: 'int8-cpu' })).toThrow(
      /has fp16-gpu, fp32-cpu/,
    );
  });

  it('refuses when no variant runs here', () => {
    const gpuOnly = { ...m, variants: [m.variants[0]!] };
    expect(() => chooseVariant(gpuOnly, { available: ['cpu'] })).toThrow(/no variant/);
  });
});
