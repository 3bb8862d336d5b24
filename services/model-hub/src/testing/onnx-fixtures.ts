/**
 * Tiny hand-written ONNX files for the hub's bad-input tests. A protobuf writer of a few lines is
 * enough: field numbers are those of onnx/onnx.proto3 (see packages/detector/src/onnx-reader.ts).
 */

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, n: number) => [...tag(field, 0), ...varint(n)];
const bytes = (field: number, b: number[] | Buffer) => [...tag(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, Buffer.from(s, 'utf8'));

function valueInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, int(1, d)));
  const tensor = [...int(1, 1 /* float */), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensor))];
}

/**
 * A well-formed ONNX model (parses, and has the person-detector's input and output) whose one
 * node uses an operator no runtime knows: onnxruntime refuses to load it. It carries no
 * Ultralytics metadata.
 */
export function onnxWithUnknownOperator(): Buffer {
  const node = [...str(1, 'images'), ...str(2, 'output0'), ...str(3, 'n0'), ...str(4, 'StorevisionNoSuchOp')];
  const graph = [
    ...bytes(1, node),
    ...str(2, 'g'),
    ...bytes(11, valueInfo('images', [1, 3, 320, 320])),
    ...bytes(12, valueInfo('output0', [1, 6, 2100])),
  ];
  const opset = [...str(1, ''), ...int(2, 17)];
  return Buffer.from([...int(1, 8), ...str(2, 'storevision-test'), ...bytes(7, graph), ...bytes(8, opset)]);
}
