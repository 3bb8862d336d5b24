import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDetectorError } from './errors.ts';
import { readOnnxModelInfo, readOnnxModelInfoFromFileSync } from './onnx-reader.ts';
import { buildReshapeModel, concat, fieldBytes, writeModelWithSparseWeights } from './testing/tiny-onnx.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sv-onnx-reader-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const tiny = () =>
  buildReshapeModel({
    input: { name: 'images', type: 'float32', shape: [1, 3, 8, 8] },
    output: { name: 'output0', type: 'float32', shape: [1, 6, 32] },
    metadata: { task: 'detect', names: "{0: 'person'}" },
  });

/** A metadata entry after the weights: the reader must reach it without reading them. */
const afterWeights = fieldBytes(14, concat([fieldBytes(1, 'after_weights'), fieldBytes(2, 'yes')]));

describe('readOnnxModelInfoFromFileSync (protobuf walk over a file)', () => {
  it('reads what the in-memory reader reads, opset included', async () => {
    const bytes = tiny();
    const file = path.join(dir, 'tiny.onnx');
    await writeFile(file, bytes);
    const fromFile = readOnnxModelInfoFromFileSync(file);
    expect(fromFile).toEqual(readOnnxModelInfo(bytes));
    expect(fromFile.opsets).toEqual({ '': 13 });
    expect(fromFile.inputs).toEqual([{ name: 'images', type: 'float32', shape: [1, 3, 8, 8] }]);
  });

  it('skips 512 MB of weights by seeking: reads under 256 KiB and never a byte of the weights', () => {
    const file = path.join(dir, 'big.onnx');
    const weights = writeModelWithSparseWeights(file, tiny(), 512 * 1024 * 1024, afterWeights);
    const reads: Array<[number, number]> = [];
    const info = readOnnxModelInfoFromFileSync(file, { onRead: (pos, len) => reads.push([pos, len]) });
    expect(info.metadata).toEqual({ task: 'detect', names: "{0: 'person'}", after_weights: 'yes' });
    expect(info.outputs.map((o) => o.name)).toEqual(['output0']);
    const total = reads.reduce((n, [, len]) => n + len, 0);
    expect(total).toBeLessThan(256 * 1024);
    // A read may end inside the weights (its window runs on), but none starts inside them after
    // their first window: the reader jumped over them.
    const inside = reads.filter(([pos]) => pos >= weights.start && pos < weights.end);
    expect(inside).toEqual([]);
  });

  it('refuses a truncated file with DETECTOR_ERR_ONNX_PARSE (field runs past its message)', async () => {
    const bytes = tiny();
    const file = path.join(dir, 'truncated.onnx');
    await writeFile(file, bytes.subarray(0, bytes.length - 20));
    let caught: unknown;
    try {
      readOnnxModelInfoFromFileSync(file);
    } catch (err) {
      caught = err;
    }
    expect(isDetectorError(caught, 'DETECTOR_ERR_ONNX_PARSE')).toBe(true);
    expect((caught as Error).message).toMatch(/runs past|truncated/);
  });
});
