import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import {
  type ModelInput,
  type ModelManifest,
  type ModelVariant,
  modelManifestSchema,
} from '@storevision/contracts';
import { DetectorError } from './errors.ts';
import { type OnnxModelInfo, readOnnxModelInfoFromFileSync } from './onnx-reader.ts';

/**
 * Builds a model manifest for an Ultralytics detection export (YOLOv5u/v8/v11 `.onnx`) from the
 * metadata Ultralytics writes into the file, so the hub can import such a model without anyone
 * writing the manifest by hand. Preprocessing is Ultralytics' own (letterbox with grey 114,
 * centred, RGB scaled by 1/255). Thresholds are confidence 0.25 (Ultralytics' `predict` default)
 * and IoU 0.45 (YOLOv5's default and the common deployment value; Ultralytics' `predict` now uses
 * 0.7, which keeps more overlapping boxes in crowds).
 */

export interface UltralyticsMetadata {
  task: string;
  /** Class names, index = class id. */
  names: string[];
  /** Input size as Ultralytics writes it: [height, width]. */
  imgsz: [number, number];
  stride: number;
  /** Ultralytics package version that exported the model. */
  version?: string;
  description?: string;
  license?: string;
  author?: string;
  date?: string;
  /** NMS-free exports (YOLOv10/YOLO26 `end2end`, or `nms=True`) have a different output. */
  end2end: boolean;
}

/** Reads Ultralytics' keys from ONNX `metadata_props`; throws `DETECTOR_ERR_NOT_ULTRALYTICS` when absent. */
export function parseUltralyticsMetadata(metadata: Record<string, string>): UltralyticsMetadata {
  const { names, imgsz, stride, task } = metadata;
  if (names === undefined || imgsz === undefined || task === undefined) {
    throw new DetectorError('DETECTOR_ERR_NOT_ULTRALYTICS', 'metadata has no names, imgsz or task');
  }
  return {
    task,
    names: parsePythonNames(names),
    imgsz: parseImgsz(imgsz),
    stride: stride === undefined ? 32 : Number.parseInt(stride, 10),
    version: metadata.version,
    description: metadata.description,
    license: metadata.license,
    author: metadata.author,
    date: metadata.date,
    end2end: metadata.end2end === 'True' || /'nms':\s*True/.test(metadata.args ?? ''),
  };
}

/**
 * Parses Python's repr of a dict of class names: `{0: 'person', 1: "man's bag"}`. repr picks double
 * quotes when the name holds a single quote, so a back-reference to the opening quote suffices.
 */
export function parsePythonNames(repr: string): string[] {
  const names: string[] = [];
  const re = /(\d+)\s*:\s*(['"])((?:\\.|(?!\2).)*)\2/g;
  for (const m of repr.matchAll(re)) {
    names[Number(m[1])] = m[3]!.replace(/\\(.)/g, '$1');
  }
  if (names.length === 0 || names.some((n) => n === undefined)) {
    throw new DetectorError(
      'DETECTOR_ERR_NOT_ULTRALYTICS',
      `cannot read class names from ${repr.slice(0, 80)}`,
    );
  }
  return names;
}

function parseImgsz(repr: string): [number, number] {
  const nums = [...repr.matchAll(/\d+/g)].map((m) => Number(m[0]));
  const [h, w] = nums.length === 1 ? [nums[0], nums[0]] : nums;
  if (!h || !w) throw new DetectorError('DETECTOR_ERR_NOT_ULTRALYTICS', `cannot read imgsz from ${repr}`);
  return [h, w];
}

export interface ManifestFromUltralyticsOptions {
  /** @defaultValue the file name, kebab-cased */
  name?: string;
  /** @defaultValue '1.0.0' */
  version?: string;
  /** Variant id. @defaultValue `<precision>-cpu` or `fp16-gpu` */
  variantId?: string;
  /** @defaultValue ['cpu'], or ['cuda', 'tensorrt'] for fp16 */
  executionProviders?: ModelVariant['executionProviders'];
}

/** Reads an Ultralytics `.onnx` file and returns a manifest validated by the contracts schema. */
export async function manifestFromUltralytics(
  onnxPath: string,
  options: ManifestFromUltralyticsOptions = {},
): Promise<ModelManifest> {
  // Hashed as a stream and parsed at offsets: the weights are never held in memory.
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of createReadStream(onnxPath, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  const info = readOnnxModelInfoFromFileSync(onnxPath);
  return manifestFromUltralyticsInfo(info, {
    ...options,
    file: path.basename(onnxPath),
    sha256: hash.digest('hex'),
    sizeBytes,
  });
}

/** As `manifestFromUltralytics`, from an already parsed model. */
export function manifestFromUltralyticsInfo(
  info: OnnxModelInfo,
  options: ManifestFromUltralyticsOptions & { file: string; sha256?: string; sizeBytes?: number },
): ModelManifest {
  const meta = parseUltralyticsMetadata(info.metadata);
  if (meta.task !== 'detect') {
    throw new DetectorError('DETECTOR_ERR_NOT_ULTRALYTICS', `task is ${meta.task}, only detect is supported`);
  }
  if (meta.end2end) {
    throw new DetectorError(
      'DETECTOR_ERR_NOT_ULTRALYTICS',
      'NMS-free (end2end) exports are not supported yet',
    );
  }
  const input = info.inputs[0];
  const output = info.outputs[0];
  if (!input || !output || info.inputs.length !== 1 || info.outputs.length !== 1) {
    throw new DetectorError('DETECTOR_ERR_NOT_ULTRALYTICS', 'expected one input and one output');
  }
  const nc = meta.names.length;
  const [h, w] = meta.imgsz;
  const format = output.shape[2] === 5 + nc && output.shape[1] !== 4 + nc ? 'yolov5' : 'yolov8';
  const quantized = [
    'DynamicQuantizeLinear',
    'QuantizeLinear',
    'ConvInteger',
    'MatMulInteger',
    'QLinearConv',
  ].some((op) => info.opTypes.has(op));
  const precision = quantized ? 'int8' : input.type === 'float16' ? 'fp16' : 'fp32';
  const gpu = precision === 'fp16';
  const name =
    options.name ??
    path
      .basename(options.file, path.extname(options.file))
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63);
  const candidate = {
    schemaVersion: 1,
    name,
    version: options.version ?? '1.0.0',
    task: 'detection',
    description: meta.description,
    input: ultralyticsInput(h, w, {
      name: input.name,
      shape: [dimOr(input.shape[0], 1), 3, h, w],
      dtype: input.type === 'float16' ? 'float16' : 'float32',
    }),
    output: {
      name: output.name,
      format,
      shape: output.shape.length === 3 ? output.shape.map((d) => dimOr(d, -1)) : [1, 4 + nc, -1],
    },
    labels: meta.names,
    thresholds: { confidence: 0.25, iou: 0.45, maxDetections: 300 },
    variants: [
      {
        id: options.variantId ?? (gpu ? 'fp16-gpu' : `${precision}-cpu`),
        file: options.file,
        precision,
        executionProviders: options.executionProviders ?? (gpu ? ['cuda', 'tensorrt'] : ['cpu']),
        ...(options.sha256 ? { sha256: options.sha256 } : {}),
        ...(options.sizeBytes ? { sizeBytes: options.sizeBytes } : {}),
      },
    ],
    source: {
      importedFrom: 'ultralytics-onnx-metadata',
      ultralyticsVersion: meta.version,
      author: meta.author,
      license: meta.license,
      exportDate: meta.date,
      stride: meta.stride,
      producer: `${info.producerName} ${info.producerVersion}`.trim(),
    },
  };
  const parsed = modelManifestSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new DetectorError('DETECTOR_ERR_MANIFEST_INVALID', parsed.error.message, { cause: parsed.error });
  }
  return parsed.data;
}

/** An unnamed symbolic dim ('') is not a valid manifest dim; use the fallback instead. */
function dimOr(d: number | string | undefined, fallback: number): number | string {
  return d === undefined || d === '' ? fallback : d;
}

/**
 * The input an Ultralytics export expects: `images` NCHW float32 RGB scaled to 0–1, letterboxed
 * (centred, pad 114) to `height`×`width`. Our own models use the same convention.
 */
export function ultralyticsInput(
  height: number,
  width = height,
  patch: Partial<ModelInput> = {},
): ModelInput {
  return {
    name: 'images',
    shape: [1, 3, height, width],
    layout: 'NCHW',
    dtype: 'float32',
    colorOrder: 'RGB',
    normalize: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    resize: 'letterbox',
    padValue: 114,
    padCenter: true,
    ...patch,
  };
}
