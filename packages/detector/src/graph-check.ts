import type { ModelManifest } from '@storevision/contracts';
import type { InferenceSession } from 'onnxruntime-node';
import { DetectorError } from './errors.ts';

/**
 * Checks a manifest against the real ONNX graph, as the hub does for every published version and
 * the detector does at load: names, dtypes, shapes, and that the output holds one score per label.
 * onnxruntime-node ≥ 1.22 reports names, element types and shapes in `session.inputMetadata` /
 * `outputMetadata` (checked on 1.30); the protobuf reader (`onnx-reader.ts`) gives the same
 * without a session.
 */

export interface GraphTensor {
  name: string;
  type: string;
  /** Fixed sizes as numbers; symbolic dims as names (or -1 / '' when unnamed). */
  shape: ReadonlyArray<number | string>;
}

export interface GraphIo {
  inputs: readonly GraphTensor[];
  outputs: readonly GraphTensor[];
}

export interface GraphIssue {
  /** Where in the manifest, e.g. `output.shape[1]`. */
  path: string;
  message: string;
}

/** The graph's tensor inputs and outputs from a live session. */
export function graphIoFromSession(
  session: Pick<InferenceSession, 'inputMetadata' | 'outputMetadata'>,
): GraphIo {
  const tensors = (list: readonly InferenceSession.ValueMetadata[]) =>
    list.map((m) =>
      m.isTensor
        ? { name: m.name, type: m.type, shape: m.shape }
        : { name: m.name, type: 'non-tensor', shape: [] },
    );
  return { inputs: tensors(session.inputMetadata), outputs: tensors(session.outputMetadata) };
}

const isStatic = (d: number | string | undefined): d is number => typeof d === 'number' && d >= 0;

/** Every way the manifest disagrees with the graph; empty when it fits. */
export function checkManifestAgainstGraph(manifest: ModelManifest, graph: GraphIo): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const nc = manifest.labels.length;

  const input = graph.inputs.find((i) => i.name === manifest.input.name);
  if (graph.inputs.length !== 1) {
    issues.push({
      path: 'input',
      message: `the graph has ${graph.inputs.length} inputs, the runtime feeds one`,
    });
  }
  if (!input) {
    issues.push({
      path: 'input.name',
      message: `no graph input ${manifest.input.name} (graph has ${graph.inputs.map((i) => i.name).join(', ')})`,
    });
  } else {
    if (input.type !== manifest.input.dtype) {
      issues.push({ path: 'input.dtype', message: `manifest ${manifest.input.dtype}, graph ${input.type}` });
    }
    compareShapes('input.shape', manifest.input.shape, input.shape, issues);
  }
  const shape = manifest.input.shape;
  const batched = shape.length === 4 ? 1 : 0;
  const [c, h, w] =
    manifest.input.layout === 'NCHW'
      ? [shape[batched], shape[batched + 1], shape[batched + 2]]
      : [shape[batched + 2], shape[batched], shape[batched + 1]];
  if (isStatic(c) && c !== 3)
    issues.push({ path: 'input.shape', message: `${manifest.input.layout} wants 3 channels, got ${c}` });
  if (!isStatic(h) || !isStatic(w) || h === 0 || w === 0) {
    issues.push({ path: 'input.shape', message: 'height and width must be fixed numbers for preprocessing' });
  }

  const output = graph.outputs.find((o) => o.name === manifest.output.name);
  if (!output) {
    issues.push({
      path: 'output.name',
      message: `no graph output ${manifest.output.name} (graph has ${graph.outputs.map((o) => o.name).join(', ')})`,
    });
  } else {
    if (output.type !== 'float32' && output.type !== 'float16') {
      issues.push({
        path: 'output',
        message: `output type ${output.type}, the decoders read float32 or float16`,
      });
    }
    compareShapes('output.shape', manifest.output.shape, output.shape, issues);
  }
  const format = manifest.output.format;
  const classAxis = format === 'yolov8' ? 1 : 2;
  const expected = format === 'yolov8' ? 4 + nc : 5 + nc;
  const layoutText = format === 'yolov8' ? '[1, 4+nc, N]' : '[1, N, 5+nc]';
  for (const [where, dims] of [
    ['manifest', manifest.output.shape],
    ['graph', output?.shape ?? []],
  ] as const) {
    if (where === 'graph' && !output) continue;
    if (dims.length !== 3) {
      issues.push({
        path: 'output.shape',
        message: `${where} output has rank ${dims.length}, ${format} is ${layoutText}`,
      });
      continue;
    }
    const d = dims[classAxis];
    if (isStatic(d) && d !== expected) {
      issues.push({
        path: `output.shape[${classAxis}]`,
        message: `${where} output dim ${classAxis} is ${d}; ${format} ${layoutText} with ${nc} labels needs ${expected}`,
      });
    }
  }
  return issues;
}

/** Throws `DETECTOR_ERR_GRAPH_MISMATCH` listing every issue. */
export function assertManifestMatchesGraph(manifest: ModelManifest, graph: GraphIo): void {
  const issues = checkManifestAgainstGraph(manifest, graph);
  if (issues.length > 0) {
    const err = new DetectorError(
      'DETECTOR_ERR_GRAPH_MISMATCH',
      issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    );
    throw Object.assign(err, { issues });
  }
}

function compareShapes(
  path: string,
  manifest: ReadonlyArray<number | string>,
  graph: ReadonlyArray<number | string>,
  issues: GraphIssue[],
): void {
  // An empty graph shape means the exporter declared none: nothing to compare.
  if (graph.length === 0) return;
  if (manifest.length !== graph.length) {
    issues.push({
      path,
      message: `manifest rank ${manifest.length}, graph rank ${graph.length} (${JSON.stringify(graph)})`,
    });
    return;
  }
  manifest.forEach((m, i) => {
    const g = graph[i];
    if (isStatic(m) && isStatic(g) && m !== g) {
      issues.push({ path: `${path}[${i}]`, message: `manifest ${m}, graph ${g}` });
    }
  });
}
