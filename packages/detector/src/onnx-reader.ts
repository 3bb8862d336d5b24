import { readFile } from 'node:fs/promises';
import { DetectorError } from './errors.ts';

/**
 * A minimal, read-only ONNX (protobuf) reader for what onnxruntime-node does not expose: the
 * model's `metadata_props` (where Ultralytics stores `names`, `imgsz`, `stride`, `task`), plus the
 * graph's declared inputs/outputs and operator types, without creating a session.
 *
 * It walks the wire format (varint / length-delimited fields) and skips everything else, so the
 * weights are never decoded. Field numbers are from onnx/onnx.proto3:
 *   ModelProto: 1 ir_version, 2 producer_name, 3 producer_version, 7 graph, 14 metadata_props
 *   StringStringEntryProto: 1 key, 2 value
 *   GraphProto: 1 node, 11 input, 12 output;  NodeProto: 4 op_type
 *   ValueInfoProto: 1 name, 2 type;  TypeProto: 1 tensor_type;  Tensor: 1 elem_type, 2 shape
 *   TensorShapeProto: 1 dim;  Dimension: 1 dim_value, 2 dim_param
 */

/** ONNX TensorProto.DataType names for the element types a detector meets. */
const ELEM_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

export interface OnnxValueInfo {
  name: string;
  /** e.g. `float32`; `unknown(N)` for element types not listed above. */
  type: string;
  /** Fixed sizes as numbers, symbolic dimensions by name (`''` when unnamed). */
  shape: Array<number | string>;
}

export interface OnnxModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  metadata: Record<string, string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** Distinct operator types in the main graph. */
  opTypes: Set<string>;
}

interface Field {
  field: number;
  wire: number;
  /** Varint value (wire 0). */
  value: number;
  /** Payload bounds (wire 2). */
  start: number;
  end: number;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    // Numbers, not 32-bit bitwise ops: lengths and int64 dims can exceed 2^31.
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw parseError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw parseError('varint longer than 10 bytes');
  }

  *fields(): Generator<Field> {
    while (this.pos < this.end) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 0) throw parseError('field number 0');
      if (wire === 0) {
        yield { field, wire, value: this.varint(), start: 0, end: 0 };
      } else if (wire === 2) {
        const len = this.varint();
        const start = this.pos;
        const end = start + len;
        if (end > this.end) throw parseError(`field ${field} runs past its message`);
        this.pos = end;
        yield { field, wire, value: 0, start, end };
      } else if (wire === 1) {
        this.skip(8);
      } else if (wire === 5) {
        this.skip(4);
      } else {
        throw parseError(`unsupported wire type ${wire}`);
      }
    }
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw parseError('truncated fixed-size field');
    this.pos += n;
  }
}

const utf8 = new TextDecoder('utf-8');

function parseError(detail: string): DetectorError {
  return new DetectorError('DETECTOR_ERR_ONNX_PARSE', detail);
}

function str(buf: Uint8Array, f: Field): string {
  return utf8.decode(buf.subarray(f.start, f.end));
}

function sub(buf: Uint8Array, f: Field): Reader {
  if (f.wire !== 2) throw parseError(`field ${f.field} should be a message`);
  return new Reader(buf, f.start, f.end);
}

/** Parses the parts of a serialized ModelProto listed in `OnnxModelInfo`. */
export function readOnnxModelInfo(bytes: Uint8Array): OnnxModelInfo {
  const info: OnnxModelInfo = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    metadata: {},
    inputs: [],
    outputs: [],
    opTypes: new Set(),
  };
  let sawGraph = false;
  for (const f of new Reader(bytes, 0, bytes.length).fields()) {
    if (f.field === 1 && f.wire === 0) info.irVersion = f.value;
    else if (f.field === 2 && f.wire === 2) info.producerName = str(bytes, f);
    else if (f.field === 3 && f.wire === 2) info.producerVersion = str(bytes, f);
    else if (f.field === 7 && f.wire === 2) {
      sawGraph = true;
      readGraph(bytes, f, info);
    } else if (f.field === 14 && f.wire === 2) {
      let key = '';
      let value = '';
      for (const e of sub(bytes, f).fields()) {
        if (e.field === 1 && e.wire === 2) key = str(bytes, e);
        else if (e.field === 2 && e.wire === 2) value = str(bytes, e);
      }
      info.metadata[key] = value;
    }
  }
  if (!sawGraph) throw parseError('no graph in the model');
  return info;
}

/** Reads an `.onnx` file and parses it with `readOnnxModelInfo`. */
export async function readOnnxModelInfoFromFile(file: string): Promise<OnnxModelInfo> {
  return readOnnxModelInfo(await readFile(file));
}

function readGraph(buf: Uint8Array, graph: Field, info: OnnxModelInfo): void {
  const inputs: OnnxValueInfo[] = [];
  const initializers = new Set<string>();
  for (const f of sub(buf, graph).fields()) {
    if (f.field === 1 && f.wire === 2) {
      for (const n of sub(buf, f).fields()) if (n.field === 4 && n.wire === 2) info.opTypes.add(str(buf, n));
    } else if (f.field === 5 && f.wire === 2) {
      // Before IR v4 initializers were also listed as graph inputs; remember them to drop those.
      for (const t of sub(buf, f).fields()) if (t.field === 8 && t.wire === 2) initializers.add(str(buf, t));
    } else if (f.field === 11 && f.wire === 2) inputs.push(readValueInfo(buf, f));
    else if (f.field === 12 && f.wire === 2) info.outputs.push(readValueInfo(buf, f));
  }
  info.inputs = inputs.filter((i) => !initializers.has(i.name));
}

function readValueInfo(buf: Uint8Array, vi: Field): OnnxValueInfo {
  const out: OnnxValueInfo = { name: '', type: 'unknown', shape: [] };
  for (const f of sub(buf, vi).fields()) {
    if (f.field === 1 && f.wire === 2) out.name = str(buf, f);
    else if (f.field === 2 && f.wire === 2) {
      for (const t of sub(buf, f).fields()) {
        if (t.field !== 1 || t.wire !== 2) continue; // only tensor types matter here
        for (const tt of sub(buf, t).fields()) {
          if (tt.field === 1 && tt.wire === 0) out.type = ELEM_TYPES[tt.value] ?? `unknown(${tt.value})`;
          else if (tt.field === 2 && tt.wire === 2) {
            for (const d of sub(buf, tt).fields()) {
              if (d.field !== 1 || d.wire !== 2) continue;
              let dim: number | string = '';
              for (const dv of sub(buf, d).fields()) {
                if (dv.field === 1 && dv.wire === 0) dim = dv.value;
                else if (dv.field === 2 && dv.wire === 2) dim = str(buf, dv);
              }
              out.shape.push(dim);
            }
          }
        }
      }
    }
  }
  return out;
}
