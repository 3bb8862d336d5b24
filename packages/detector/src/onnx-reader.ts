import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DetectorError } from './errors.ts';

/**
 * A minimal, read-only ONNX (protobuf) reader for what onnxruntime-node does not expose: the
 * model's `metadata_props` (where Ultralytics stores `names`, `imgsz`, `stride`, `task`), plus the
 * graph's declared inputs/outputs and operator types, without creating a session.
 *
 * It walks the wire format (varint / length-delimited fields) and skips everything else, so the
 * weights are never decoded — and, reading a file, never even read: a skipped field is a seek.
 * Field numbers are from onnx/onnx.proto3:
 *   ModelProto: 1 ir_version, 2 producer_name, 3 producer_version, 7 graph, 8 opset_import,
 *     14 metadata_props;  OperatorSetIdProto: 1 domain, 2 version
 *   StringStringEntryProto: 1 key, 2 value
 *   GraphProto: 1 node, 5 initializer, 11 input, 12 output;  NodeProto: 4 op_type;  TensorProto: 8 name
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
  /** Operator set versions by domain (`''` is the default ONNX domain). */
  opsets: Record<string, number>;
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

/**
 * Where the reader's bytes come from: a buffer, or a file read at offsets. The reader asks only
 * for the bytes it parses (tags, varints, names, metadata); a length-delimited field it does not
 * need (initializers, weights in attributes, doc strings) is skipped by moving past it, never read.
 */
interface ByteSource {
  readonly length: number;
  /** The byte at `pos` (`pos < length`). */
  byte(pos: number): number;
  /** The bytes `[start, end)`, for strings the reader keeps. */
  bytes(start: number, end: number): Uint8Array;
}

class BufferSource implements ByteSource {
  constructor(private readonly buf: Uint8Array) {}
  get length(): number {
    return this.buf.length;
  }
  byte(pos: number): number {
    return this.buf[pos]!;
  }
  bytes(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }
}

/** Longest string the reader keeps (a name, a metadata value): more is not a model we can serve. */
const MAX_STRING_BYTES = 16 * 1024 * 1024;

/**
 * A file read through a small window at the offsets the reader asks for, so parsing a model costs
 * memory for the window and the strings kept, not for the file: a 100 MB ONNX whose weights sit in
 * initializers is parsed with a few dozen 64 KiB reads. Synchronous positioned reads: the parse is a
 * short run of small reads, meant for a validation process or thread, a CLI or a test.
 */
class FileSource implements ByteSource {
  private readonly window: Buffer;
  private winStart = 0;
  private winEnd = 0;

  constructor(
    private readonly fd: number,
    readonly length: number,
    private readonly onRead?: (position: number, length: number) => void,
    windowBytes = 64 * 1024,
  ) {
    this.window = Buffer.allocUnsafe(windowBytes);
  }

  byte(pos: number): number {
    if (pos < this.winStart || pos >= this.winEnd) this.fill(pos);
    return this.window[pos - this.winStart]!;
  }

  bytes(start: number, end: number): Uint8Array {
    if (start >= this.winStart && end <= this.winEnd)
      return this.window.subarray(start - this.winStart, end - this.winStart);
    const out = Buffer.allocUnsafe(end - start);
    this.readFully(out, start);
    return out;
  }

  private fill(pos: number): void {
    const n = Math.min(this.window.length, this.length - pos);
    this.readFully(this.window.subarray(0, n), pos);
    this.winStart = pos;
    this.winEnd = pos + n;
  }

  private readFully(into: Uint8Array, pos: number): void {
    this.onRead?.(pos, into.length);
    for (let off = 0; off < into.length; ) {
      const n = readSync(this.fd, into, off, into.length - off, pos + off);
      if (n === 0) throw parseError('the file ended while it was read');
      off += n;
    }
  }
}

class Reader {
  pos: number;
  constructor(
    readonly src: ByteSource,
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
      const b = this.src.byte(this.pos++);
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
        // Skipped unless the caller reads it: the payload's bytes are never touched here.
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

function str(src: ByteSource, f: Field): string {
  if (f.end - f.start > MAX_STRING_BYTES)
    throw parseError(`field ${f.field} is a string of ${f.end - f.start} bytes (limit ${MAX_STRING_BYTES})`);
  return utf8.decode(src.bytes(f.start, f.end));
}

function sub(src: ByteSource, f: Field): Reader {
  if (f.wire !== 2) throw parseError(`field ${f.field} should be a message`);
  return new Reader(src, f.start, f.end);
}

/** Parses the parts of a serialized ModelProto listed in `OnnxModelInfo`. */
export function readOnnxModelInfo(bytes: Uint8Array): OnnxModelInfo {
  return readModel(new BufferSource(bytes));
}

/**
 * Parses an `.onnx` file as `readOnnxModelInfo` does, reading only the bytes it parses (see
 * `FileSource`): memory stays at a 64 KiB window plus the names and metadata, whatever the size of
 * the weights. The reads are synchronous; run it off a server's event loop.
 */
export function readOnnxModelInfoFromFileSync(
  file: string,
  opts: {
    /** Called for every read of the file (tests check that skipped weights are never read). */
    onRead?: (position: number, length: number) => void;
  } = {},
): OnnxModelInfo {
  const fd = openSync(file, 'r');
  try {
    return readModel(new FileSource(fd, fstatSync(fd).size, opts.onRead));
  } finally {
    closeSync(fd);
  }
}

/** `readOnnxModelInfoFromFileSync`, for callers that await (tests, the CLI). */
export async function readOnnxModelInfoFromFile(file: string): Promise<OnnxModelInfo> {
  return readOnnxModelInfoFromFileSync(file);
}

function readModel(src: ByteSource): OnnxModelInfo {
  const info: OnnxModelInfo = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    opsets: {},
    metadata: {},
    inputs: [],
    outputs: [],
    opTypes: new Set(),
  };
  let sawGraph = false;
  for (const f of new Reader(src, 0, src.length).fields()) {
    if (f.field === 1 && f.wire === 0) info.irVersion = f.value;
    else if (f.field === 2 && f.wire === 2) info.producerName = str(src, f);
    else if (f.field === 3 && f.wire === 2) info.producerVersion = str(src, f);
    else if (f.field === 7 && f.wire === 2) {
      sawGraph = true;
      readGraph(src, f, info);
    } else if (f.field === 8 && f.wire === 2) {
      let domain = '';
      let version = 0;
      for (const o of sub(src, f).fields()) {
        if (o.field === 1 && o.wire === 2) domain = str(src, o);
        else if (o.field === 2 && o.wire === 0) version = o.value;
      }
      info.opsets[domain === 'ai.onnx' ? '' : domain] = version;
    } else if (f.field === 14 && f.wire === 2) {
      let key = '';
      let value = '';
      for (const e of sub(src, f).fields()) {
        if (e.field === 1 && e.wire === 2) key = str(src, e);
        else if (e.field === 2 && e.wire === 2) value = str(src, e);
      }
      info.metadata[key] = value;
    }
  }
  if (!sawGraph) throw parseError('no graph in the model');
  return info;
}

function readGraph(src: ByteSource, graph: Field, info: OnnxModelInfo): void {
  const inputs: OnnxValueInfo[] = [];
  const initializers = new Set<string>();
  for (const f of sub(src, graph).fields()) {
    if (f.field === 1 && f.wire === 2) {
      for (const n of sub(src, f).fields()) if (n.field === 4 && n.wire === 2) info.opTypes.add(str(src, n));
    } else if (f.field === 5 && f.wire === 2) {
      // Before IR v4 initializers were also listed as graph inputs; remember them to drop those.
      for (const t of sub(src, f).fields()) if (t.field === 8 && t.wire === 2) initializers.add(str(src, t));
    } else if (f.field === 11 && f.wire === 2) inputs.push(readValueInfo(src, f));
    else if (f.field === 12 && f.wire === 2) info.outputs.push(readValueInfo(src, f));
  }
  info.inputs = inputs.filter((i) => !initializers.has(i.name));
}

function readValueInfo(src: ByteSource, vi: Field): OnnxValueInfo {
  const out: OnnxValueInfo = { name: '', type: 'unknown', shape: [] };
  for (const f of sub(src, vi).fields()) {
    if (f.field === 1 && f.wire === 2) out.name = str(src, f);
    else if (f.field === 2 && f.wire === 2) {
      for (const t of sub(src, f).fields()) {
        if (t.field !== 1 || t.wire !== 2) continue; // only tensor types matter here
        for (const tt of sub(src, t).fields()) {
          if (tt.field === 1 && tt.wire === 0) out.type = ELEM_TYPES[tt.value] ?? `unknown(${tt.value})`;
          else if (tt.field === 2 && tt.wire === 2) {
            for (const d of sub(src, tt).fields()) {
              if (d.field !== 1 || d.wire !== 2) continue;
              let dim: number | string = '';
              for (const dv of sub(src, d).fields()) {
                if (dv.field === 1 && dv.wire === 0) dim = dv.value;
                else if (dv.field === 2 && dv.wire === 2) dim = str(src, dv);
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
