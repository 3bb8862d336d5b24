import { describe, expect, it } from 'vitest';
import { isDetectorError } from './errors.ts';
import { readOnnxModelInfo } from './onnx-reader.ts';
import { buildReshapeModel } from './testing/tiny-onnx.ts';
import { manifestFromUltralyticsInfo, parsePythonNames } from './ultralytics.ts';

const ultralyticsMetadata = {
  description: 'Ultralytics YOLOv8n model trained on store.yaml',
  author: 'Ultralytics',
  version: '8.3.0',
  license: 'AGPL-3.0 License',
  stride: '32',
  task: 'detect',
  batch: '1',
  imgsz: '[8, 8]',
  names: "{0: 'person', 1: \"shopper's cart\"}",
  end2end: 'False',
};

function tinyExport(metadata: Record<string, string> = ultralyticsMetadata) {
  return buildReshapeModel({
    input: { name: 'images', type: 'float32', shape: [1, 3, 8, 8] },
    output: { name: 'output0', type: 'float32', shape: [1, 6, 32] },
    metadata,
  });
}

describe('readOnnxModelInfo (protobuf walk)', () => {
  it('reads metadata_props, graph inputs/outputs and operator types', () => {
    const info = readOnnxModelInfo(tinyExport());
    expect(info.metadata).toEqual(ultralyticsMetadata);
    expect(info.inputs).toEqual([{ name: 'images', type: 'float32', shape: [1, 3, 8, 8] }]);
    expect(info.outputs).toEqual([{ name: 'output0', type: 'float32', shape: [1, 6, 32] }]);
    expect([...info.opTypes]).toEqual(['Reshape']);
    expect(info.producerName).toBe('storevision-test');
  });

  it('refuses truncated or foreign bytes with DETECTOR_ERR_ONNX_PARSE', () => {
    const bytes = tinyExport();
    for (const bad of [bytes.subarray(0, bytes.length - 3), new TextEncoder().encode('{"not": "onnx"}')]) {
      let caught: unknown;
      try {
        readOnnxModelInfo(bad);
      } catch (err) {
        caught = err;
      }
      expect(isDetectorError(caught, 'DETECTOR_ERR_ONNX_PARSE')).toBe(true);
    }
  });
});

describe('manifestFromUltralyticsInfo', () => {
  it('builds a valid manifest with Ultralytics preprocessing from the metadata', () => {
    const m = manifestFromUltralyticsInfo(readOnnxModelInfo(tinyExport()), { file: 'Store_YOLOv8n.onnx' });
    expect(m.name).toBe('store-yolov8n');
    expect(m.labels).toEqual(['person', "shopper's cart"]);
    expect(m.input).toMatchObject({
      name: 'images',
      shape: [1, 3, 8, 8],
      resize: 'letterbox',
      padValue: 114,
      padCenter: true,
      colorOrder: 'RGB',
    });
    expect(m.input.normalize.scale).toBeCloseTo(1 / 255, 15);
    expect(m.output).toEqual({ name: 'output0', format: 'yolov8', shape: [1, 6, 32] });
    expect(m.thresholds).toEqual({ confidence: 0.25, iou: 0.45, maxDetections: 300 });
    expect(m.variants).toEqual([
      { id: 'fp32-cpu', file: 'Store_YOLOv8n.onnx', precision: 'fp32', executionProviders: ['cpu'] },
    ]);
    expect(m.source).toMatchObject({ ultralyticsVersion: '8.3.0', stride: 32 });
  });

  it('refuses non-detection tasks, NMS-free exports and models without Ultralytics metadata', () => {
    const cases: Array<Record<string, string>> = [
      { ...ultralyticsMetadata, task: 'segment' },
      { ...ultralyticsMetadata, end2end: 'True' },
      { producer: 'someone else' },
    ];
    for (const metadata of cases) {
      let caught: unknown;
      try {
        manifestFromUltralyticsInfo(readOnnxModelInfo(tinyExport(metadata)), { file: 'x.onnx' });
      } catch (err) {
        caught = err;
      }
      expect(isDetectorError(caught, 'DETECTOR_ERR_NOT_ULTRALYTICS')).toBe(true);
    }
  });
});

describe('parsePythonNames', () => {
  it("reads Python's dict repr, with either quote style", () => {
    expect(parsePythonNames("{0: 'person', 1: 'traffic light', 2: \"it's\"}")).toEqual([
      'person',
      'traffic light',
      "it's",
    ]);
    expect(() => parsePythonNames('{0: person}')).toThrow(/class names/);
  });
});
