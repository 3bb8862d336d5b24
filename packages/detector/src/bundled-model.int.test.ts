import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { checkManifestAgainstGraph, graphIoFromSession } from './graph-check.ts';
import { loadModelPackage } from './model-package.ts';
import { readOnnxModelInfoFromFile } from './onnx-reader.ts';
import { parseUltralyticsMetadata } from './ultralytics.ts';

const dir = fileURLToPath(new URL('../../../models/person-detector', import.meta.url));

describe('models/person-detector: manifest against the real ONNX graph', () => {
  it('loads with a verified digest and matches the graph (names, shapes, dtypes, class count)', async () => {
    const pkg = await loadModelPackage(dir, { verifyDigest: true });
    expect(pkg.variant.sha256).toMatch(/^[a-f0-9]{64}$/);
    const session = await ort.InferenceSession.create(pkg.modelPath);
    try {
      const graph = graphIoFromSession(session);
      expect(checkManifestAgainstGraph(pkg.manifest, graph)).toEqual([]);
      expect(session.inputNames).toEqual(['images']);
      expect(session.outputNames).toEqual(['output0']);
      const nc = pkg.manifest.labels.length;
      expect(nc).toBeGreaterThanOrEqual(2);
      // Anchors at strides 8, 16 and 32 of the square input (3024 at 384).
      const s = pkg.manifest.input.shape[2] as number;
      const anchors = (s / 8) ** 2 + (s / 16) ** 2 + (s / 32) ** 2;
      expect(pkg.manifest.output.shape).toEqual([1, 4 + nc, anchors]);
      // The output really has that shape when the model runs.
      const out = await session.run({
        images: new ort.Tensor('float32', new Float32Array(3 * s * s).fill(0.45), [1, 3, s, s]),
      });
      const t = out.output0!;
      expect(t.dims).toEqual([1, 4 + nc, anchors]);
      const scores = (t.data as Float32Array).subarray(4 * anchors);
      expect(Math.min(...scores)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...scores)).toBeLessThanOrEqual(1);
    } finally {
      await session.release();
    }
  });

  it('carries Ultralytics-style metadata that agrees with the manifest, and stays under 5 MB', async () => {
    const pkg = await loadModelPackage(dir);
    const info = await readOnnxModelInfoFromFile(pkg.modelPath);
    const meta = parseUltralyticsMetadata(info.metadata);
    expect(meta.names).toEqual(pkg.manifest.labels);
    expect(meta.imgsz).toEqual(pkg.manifest.input.shape.slice(2));
    expect((await stat(pkg.modelPath)).size).toBeLessThanOrEqual(5 * 1024 * 1024);
  });
});
