import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Detection, ModelManifest } from '@storevision/contracts';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector } from './detector.ts';
import { checkManifestAgainstGraph, graphIoFromSession } from './graph-check.ts';
import { readOnnxModelInfoFromFile } from './onnx-reader.ts';
import { manifestFromUltralytics } from './ultralytics.ts';

/**
 * Compatibility with a real Ultralytics export: a COCO YOLOv8n (dynamic int8) and five photos from
 * `../shared/fixtures/real-yolov8n` beside the checkout (never copied into the repo: not ours to
 * redistribute). The expected people are what Ultralytics' Python pipeline finds at confidence
 * 0.25 and per-class NMS IoU 0.45; matching them within ±3 px proves our letterbox, resize and
 * box mapping reproduce Ultralytics' preprocessing.
 */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = path.resolve(repoRoot, '../shared/fixtures/real-yolov8n');
const onnxPath = path.join(fixtures, 'yolov8n_int8.onnx');
const present = existsSync(onnxPath);

type Box = [number, number, number, number];
const expectedPeople: Record<string, Array<[Box, number]>> = {
  'bus.jpg': [
    [[673, 377, 810, 879], 0.9],
    [[221, 408, 343, 857], 0.9],
    [[51, 398, 242, 904], 0.89],
    [[0, 550, 62, 870], 0.41],
  ],
  'zidane.jpg': [
    [[117, 199, 1109, 710], 0.83],
    [[749, 43, 1141, 709], 0.83],
  ],
  'person.jpg': [[[191, 100, 275, 375], 0.94]],
  '000230.jpg': [[[247, 73, 355, 358], 0.91]],
  'dog.jpg': [],
};
const imageSizes: Record<string, [number, number]> = {
  'bus.jpg': [810, 1080],
  'zidane.jpg': [1280, 720],
  'person.jpg': [640, 424],
  '000230.jpg': [500, 375],
  'dog.jpg': [768, 576],
};

const boxError = (d: Detection, b: Box) =>
  Math.max(
    Math.abs(d.box.x1 - b[0]),
    Math.abs(d.box.y1 - b[1]),
    Math.abs(d.box.x2 - b[2]),
    Math.abs(d.box.y2 - b[3]),
  );

describe.skipIf(!present)(
  `real YOLOv8n export from ../shared/fixtures/real-yolov8n${present ? '' : ` (skipped: ${fixtures} is absent)`}`,
  () => {
    let manifest: ModelManifest;
    let detector: Detector;
    let maxBoxError = 0;
    let maxScoreError = 0;

    beforeAll(async () => {
      manifest = await manifestFromUltralytics(onnxPath);
      detector = await Detector.create({ manifest, model: onnxPath, session: { intraOpNumThreads: 2 } });
    });
    afterAll(() => detector?.release());

    it('builds the manifest from the ONNX metadata', () => {
      expect(manifest.labels).toHaveLength(80);
      expect(manifest.labels[0]).toBe('person');
      expect(manifest.input).toMatchObject({ name: 'images', shape: [1, 3, 640, 640], dtype: 'float32' });
      expect(manifest.output).toEqual({ name: 'output0', format: 'yolov8', shape: [1, 84, 8400] });
      expect(manifest.variants[0]).toMatchObject({
        id: 'int8-cpu',
        file: 'yolov8n_int8.onnx',
        precision: 'int8',
      });
      expect(manifest.source).toMatchObject({ stride: 32 });
    });

    it('matches the graph as onnxruntime-node reports it, and as the protobuf reader reads it', async () => {
      const session = await ort.InferenceSession.create(onnxPath);
      try {
        const fromSession = graphIoFromSession(session);
        expect(fromSession).toEqual({
          inputs: [{ name: 'images', type: 'float32', shape: [1, 3, 640, 640] }],
          outputs: [{ name: 'output0', type: 'float32', shape: [1, 84, 8400] }],
        });
        const fromFile = await readOnnxModelInfoFromFile(onnxPath);
        expect({ inputs: fromFile.inputs, outputs: fromFile.outputs }).toEqual(fromSession);
        expect(checkManifestAgainstGraph(manifest, fromSession)).toEqual([]);
        // The same model declared with 79 labels is caught.
        const wrong = { ...manifest, labels: manifest.labels.slice(1) };
        expect(checkManifestAgainstGraph(wrong, fromSession).map((i) => i.path)).toContain('output.shape[1]');
      } finally {
        await session.release();
      }
    });

    for (const [photo, people] of Object.entries(expectedPeople)) {
      it(`finds ${people.length} ${people.length === 1 ? 'person' : 'people'} in ${photo}, within ±3 px and ±0.03 of Ultralytics`, async () => {
        const { detections, geometry } = await detector.detect(await readFile(path.join(fixtures, photo)), {
          confidence: 0.25,
          iou: 0.45,
        });
        expect([geometry.srcWidth, geometry.srcHeight]).toEqual(imageSizes[photo]);
        const found = detections.filter((d) => d.classId === 0);
        expect(found).toHaveLength(people.length);
        const unmatched = [...found];
        for (const [box, score] of people) {
          unmatched.sort((a, b) => boxError(a, box) - boxError(b, box));
          const best = unmatched.shift()!;
          const err = boxError(best, box);
          expect(err, `${photo} ${JSON.stringify(box)} vs ${JSON.stringify(best.box)}`).toBeLessThanOrEqual(
            3,
          );
          expect(Math.abs(best.score - score)).toBeLessThanOrEqual(0.03);
          maxBoxError = Math.max(maxBoxError, err);
          maxScoreError = Math.max(maxScoreError, Math.abs(best.score - score));
        }
      });
    }

    it('reports how close it came', async ({ annotate }) => {
      // The table is rounded to whole pixels and two decimals, so ≤ 0.5 px and ≤ 0.005 is exact.
      await annotate(
        `max box error ${maxBoxError.toFixed(2)} px, max score error ${maxScoreError.toFixed(3)}`,
      );
      expect(maxBoxError).toBeLessThanOrEqual(3);
    });
  },
);
