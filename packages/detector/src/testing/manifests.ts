import { type ModelManifest, modelManifestSchema } from '@storevision/contracts';

/** A valid two-class detector manifest (like models/person-detector) for tests to vary. */
export function testManifest(patch: (m: ModelManifest) => void = () => {}): ModelManifest {
  const m = modelManifestSchema.parse({
    schemaVersion: 1,
    name: 'test-detector',
    version: '1.0.0',
    task: 'detection',
    input: {
      name: 'images',
      shape: [1, 3, 320, 320],
      layout: 'NCHW',
      dtype: 'float32',
      colorOrder: 'RGB',
      normalize: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
      resize: 'letterbox',
      padValue: 114,
      padCenter: true,
    },
    output: { name: 'output0', format: 'yolov8', shape: [1, 6, 2100] },
    labels: ['person', 'cart'],
    thresholds: { confidence: 0.25, iou: 0.45, maxDetections: 300 },
    variants: [{ id: 'fp32-cpu', file: 'model.onnx', precision: 'fp32', executionProviders: ['cpu'] }],
  });
  patch(m);
  return m;
}
