/**
 * Builds tiny, real ONNX models byte by byte for tests that must not depend on a downloaded model:
 * a protobuf writer just big enough for ModelProto. Not exported from the package.
 */

import { closeSync, openSync, writeSync } from 'node:fs';

type Part = Uint8Array;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const utf8 = new TextEncoder();

export function fieldVarint(field: number, value: number): Part {
  return Uint8Array.from([...varint(field * 8), ...varint(value)]);
}

export function fieldBytes(field: number, payload: Part | string): Part {
  const body = typeof payload === 'string' ? utf8.encode(payload) : payload;
  return concat([Uint8Array.from([...varint(field * 8 + 2), ...varint(body.length)]), body]);
}

export function concat(parts: Part[]): Part {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ELEM = { float32: 1, uint8: 2, int64: 7, float16: 10 } as const;

export interface TinyTensor {
  name: string;
  type: keyof typeof ELEM;
  shape: Array<number | string>;
}

function valueInfo(t: TinyTensor): Part {
  const dims = t.shape.map((d) =>
    fieldBytes(1, typeof d === 'number' ? fieldVarint(1, d) : fieldBytes(2, d)),
  );
  const tensorType = concat([fieldVarint(1, ELEM[t.type]), fieldBytes(2, concat(dims))]);
  return concat([fieldBytes(1, t.name), fieldBytes(2, fieldBytes(1, tensorType))]);
}

export interface TinyReshapeModel {
  input: TinyTensor;
  output: TinyTensor;
  metadata?: Record<string, string>;
}

/** One `Reshape` node: the output is the input's values in a new shape (a fully static one). */
export function buildReshapeModel(m: TinyReshapeModel): Uint8Array {
  const target = m.output.shape.map((d) => {
    if (typeof d !== 'number' || d < 0) throw new Error('buildReshapeModel needs a static output shape');
    return d;
  });
  const shapeInit = concat([
    fieldVarint(1, target.length), // dims
    fieldVarint(2, ELEM.int64), // data_type
    ...target.map((d) => fieldVarint(7, d)), // int64_data
    fieldBytes(8, 'target_shape'),
  ]);
  const node = concat([
    fieldBytes(1, m.input.name),
    fieldBytes(1, 'target_shape'),
    fieldBytes(2, m.output.name),
    fieldBytes(3, 'reshape'),
    fieldBytes(4, 'Reshape'),
  ]);
  const graph = concat([
    fieldBytes(1, node),
    fieldBytes(2, 'tiny'),
    fieldBytes(5, shapeInit),
    fieldBytes(11, valueInfo(m.input)),
    fieldBytes(12, valueInfo(m.output)),
  ]);
  const metadata = Object.entries(m.metadata ?? {}).map(([k, v]) =>
    fieldBytes(14, concat([fieldBytes(1, k), fieldBytes(2, v)])),
  );
  return concat([
    fieldVarint(1, 8), // ir_version
    fieldBytes(2, 'storevision-test'),
    fieldBytes(3, '1'),
    fieldBytes(7, graph),
    fieldBytes(8, concat([fieldBytes(1, ''), fieldVarint(2, 13)])), // opset_import ai.onnx 13
    ...metadata,
  ]);
}

/**
 * Writes `model` followed by a second `graph` field (protobuf merges it into the first) holding one
 * unused float initializer of `weightBytes` raw bytes, then `tail` (more ModelProto fields, e.g. a
 * metadata entry after the weights) when given. The weights are a hole in a sparse file: a test of
 * hundreds of MB costs no disk, and any read of them shows. Returns where the weights lie and the
 * file's size.
 */
export function writeModelWithSparseWeights(
  file: string,
  model: Uint8Array,
  weightBytes: number,
  tail?: Uint8Array,
): { start: number; end: number; size: number } {
  const tensorHead = concat([
    fieldVarint(1, weightBytes / 4), // dims
    fieldVarint(2, 1), // data_type FLOAT
    fieldBytes(8, 'big_unused_weights'), // name
    Uint8Array.from([(9 << 3) | 2, ...varint(weightBytes)]), // raw_data tag and length
  ]);
  const initializer = concat([
    Uint8Array.from([(5 << 3) | 2, ...varint(tensorHead.length + weightBytes)]),
    tensorHead,
  ]);
  const graph = Uint8Array.from([(7 << 3) | 2, ...varint(initializer.length + weightBytes)]);
  const head = concat([model, graph, initializer]);
  const end = head.length + weightBytes;
  // Without a tail, the weights' last byte gives the file its full size; the rest is a hole.
  const after = tail ?? Uint8Array.from([0]);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, head, 0, head.length, 0);
    writeSync(fd, after, 0, after.length, tail ? end : end - 1);
  } finally {
    closeSync(fd);
  }
  return { start: head.length, end, size: tail ? end + tail.length : end };
}
