import { type ModelManifest, modelManifestSchema } from '@storevision/contracts';
import { ultralyticsInput } from '../ultralytics.ts';

/** A valid two-class detector manifest (like models/person-detector) for tests to vary. */
export function testManifest(patch: (m: ModelManifest) => void = () => {}): ModelManifest {
  const m = modelManifestSchema.parse({
    schemaVersion: 1,
    name: 'test-detector',
    version: '1.0.0',
    task: 'detection',
    input: ultralyticsInput(320),
    output: { name: 'output0', format: 'yolov8', shape: [1, 6, 2100] },
    labels: ['person', 'cart'],
    thresholds: { confidence: 0.25, iou: 0.45, maxDetections: 300 },
    variants: [{ id: 'fp32-cpu', file: 'model.onnx', precision: 'fp32', executionProviders: ['cpu'] }],
  });
  patch(m);
  return m;
}
