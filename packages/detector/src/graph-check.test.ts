import { describe, expect, it } from 'vitest';
import { isDetectorError } from './errors.ts';
import { assertManifestMatchesGraph, checkManifestAgainstGraph, type GraphIo } from './graph-check.ts';
import { testManifest } from './testing/manifests.ts';

const graph = (patch: Partial<GraphIo> = {}): GraphIo => ({
  inputs: [{ name: 'images', type: 'float32', shape: [1, 3, 320, 320] }],
  outputs: [{ name: 'output0', type: 'float32', shape: [1, 6, 2100] }],
  ...patch,
});

describe('checkManifestAgainstGraph', () => {
  it('accepts a manifest that matches the graph', () => {
    expect(checkManifestAgainstGraph(testManifest(), graph())).toEqual([]);
  });

  it('accepts symbolic (dynamic) graph dims where the manifest pins a size', () => {
    const dynamic = graph({
      inputs: [{ name: 'images', type: 'float32', shape: ['batch', 3, 'height', 'width'] }],
      outputs: [{ name: 'output0', type: 'float32', shape: ['batch', 6, 'anchors'] }],
    });
    expect(checkManifestAgainstGraph(testManifest(), dynamic)).toEqual([]);
  });

  it('finds wrong names, dtypes and static sizes', () => {
    const issues = checkManifestAgainstGraph(
      testManifest(),
      graph({
        inputs: [{ name: 'input', type: 'float16', shape: [1, 3, 320, 320] }],
        outputs: [{ name: 'output0', type: 'float32', shape: [1, 6, 8400] }],
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(['input.name', 'output.shape[2]']);
    const dtype = checkManifestAgainstGraph(
      testManifest(),
      graph({ inputs: [{ name: 'images', type: 'float16', shape: [1, 3, 640, 640] }] }),
    );
    expect(dtype.map((i) => i.path)).toEqual(['input.dtype', 'input.shape[2]', 'input.shape[3]']);
  });

  it('checks yolov8 dim 1 = 4 + number of labels, in the manifest and in the graph', () => {
    const threeLabels = testManifest((m) => {
      m.labels = ['person', 'cart', 'basket'];
    });
    const issues = checkManifestAgainstGraph(threeLabels, graph());
    expect(issues.map((i) => i.path)).toEqual(['output.shape[1]', 'output.shape[1]']);
    expect(issues[1]!.message).toMatch(
      /graph output dim 1 is 6; yolov8 \[1, 4\+nc, N\] with 3 labels needs 7/,
    );
  });

  it('checks yolov5 dim 2 = 5 + number of labels', () => {
    const v5 = testManifest((m) => {
      m.output = { name: 'output0', format: 'yolov5', shape: [1, 6300, 7] };
    });
    expect(
      checkManifestAgainstGraph(
        v5,
        graph({ outputs: [{ name: 'output0', type: 'float32', shape: [1, 6300, 7] }] }),
      ),
    ).toEqual([]);
    expect(
      checkManifestAgainstGraph(
        v5,
        graph({ outputs: [{ name: 'output0', type: 'float32', shape: [1, 6300, 85] }] }),
      ),
    ).toHaveLength(2); // dim 2 differs from the manifest, and is not 5 + 2
  });

  it('throws DETECTOR_ERR_GRAPH_MISMATCH listing the issues', () => {
    let caught: unknown;
    try {
      assertManifestMatchesGraph(
        testManifest(),
        graph({ outputs: [{ name: 'out', type: 'int64', shape: [] }] }),
      );
    } catch (err) {
      caught = err;
    }
    expect(isDetectorError(caught, 'DETECTOR_ERR_GRAPH_MISMATCH')).toBe(true);
    expect((caught as Error).message).toContain('no graph output output0');
  });
});
