import { type DetectResponse, type V2InferResponse, v2InferRequestSchema } from '@storevision/contracts';
import { type InputSpec, resolveInputSpec, type ThresholdOverrides } from '@storevision/detector';
import { z } from 'zod';
import { EdgeError } from '../errors.ts';
import { checkContentType, checkImage } from '../image-check.ts';
import type { LoadedModel } from '../inference/messages.ts';
import type { InferencePool } from '../inference/pool.ts';
import type { EdgeMetrics } from '../metrics.ts';

/** Query-string threshold overrides of `POST /v1/models/{name}/detect`. */
export const detectQuerySchema = z
  .object({
    confidence: z.coerce.number().min(0).max(1).optional(),
    iou: z.coerce.number().min(0).max(1).optional(),
    maxDetections: z.coerce.number().int().min(1).max(10_000).optional(),
  })
  .strict();

export interface InferenceServiceOptions {
  pool: InferencePool;
  metrics: EdgeMetrics;
  /** Models this node is assigned (known even before the threads have loaded them). */
  models: readonly string[];
  maxPixels: number;
  retryAfterSeconds: number;
}

/** Synchronous inference for HTTP callers (detect, Open Inference Protocol v2), through the pool. */
export class InferenceService {
  readonly #o: InferenceServiceOptions;
  readonly #specs = new Map<string, InputSpec>();

  constructor(opts: InferenceServiceOptions) {
    this.#o = opts;
  }

  get ready(): boolean {
    return this.#o.pool.ready;
  }

  /** The loaded model, 404 for a model this node does not run, 503 while it is still loading. */
  model(name: string): LoadedModel {
    if (!this.#o.models.includes(name))
      throw new EdgeError('EDGE_ERR_MODEL_NOT_FOUND', `"${name.slice(0, 80)}"`);
    const m = this.#o.pool.models.find((x) => x.name === name);
    if (!m || !this.#o.pool.ready)
      throw new EdgeError('EDGE_ERR_NOT_READY', name, { retryAfterSeconds: this.#o.retryAfterSeconds });
    return m;
  }

  /** Whether a model is assigned here and loaded (v2 `ready`); throws 404 for unknown models. */
  modelReady(name: string): boolean {
    if (!this.#o.models.includes(name))
      throw new EdgeError('EDGE_ERR_MODEL_NOT_FOUND', `"${name.slice(0, 80)}"`);
    return this.#o.pool.ready && this.#o.pool.models.some((x) => x.name === name);
  }

  async detect(
    name: string,
    input: { contentType: string | undefined; body: unknown; query: unknown },
  ): Promise<DetectResponse> {
    const model = this.model(name);
    checkContentType(input.contentType);
    const q = detectQuerySchema.safeParse(input.query ?? {});
    if (!q.success)
      throw new EdgeError(
        'EDGE_ERR_BAD_REQUEST',
        q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    const overrides: ThresholdOverrides = {};
    if (q.data.confidence !== undefined) overrides.confidence = q.data.confidence;
    if (q.data.iou !== undefined) overrides.iou = q.data.iou;
    if (q.data.maxDetections !== undefined) overrides.maxDetections = q.data.maxDetections;
    await checkImage(input.body, this.#o.maxPixels);
    const r = await this.#run({ kind: 'detect', image: input.body as Buffer, models: [name], overrides });
    if (r.kind !== 'detect') throw new EdgeError('EDGE_ERR_INTERNAL', 'unexpected task result');
    const run = r.models[name]!;
    this.#o.metrics.inferenceSeconds.observe({ model: name }, run.inferMs / 1000);
    return {
      model: name,
      version: model.version,
      width: r.width,
      height: r.height,
      detections: run.detections,
      timings: { decodeMs: r.decodeMs, inferMs: run.inferMs },
    };
  }

  /** KServe v2 model metadata. */
  metadataV2(name: string) {
    const m = this.model(name);
    const spec = this.#spec(m);
    return {
      name: m.name,
      versions: [m.version],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: spec.name, datatype: datatypeOf(spec.dtype), shape: spec.dims }],
      outputs: [
        {
          name: m.manifest.output.name,
          datatype: 'FP32',
          shape: m.manifest.output.shape.map((d) => (typeof d === 'number' ? d : -1)),
        },
      ],
      parameters: { labels: m.manifest.labels, executionProviders: m.executionProviders },
    };
  }

  /** KServe v2 `infer` with JSON tensors: the raw model input in, the raw model output out. */
  async inferV2(name: string, body: unknown): Promise<V2InferResponse> {
    const m = this.model(name);
    const parsed = v2InferRequestSchema.safeParse(body);
    if (!parsed.success)
      throw new EdgeError(
        'EDGE_ERR_BAD_REQUEST',
        parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
      );
    const req = parsed.data;
    const spec = this.#spec(m);
    if (req.inputs.length !== 1)
      throw new EdgeError('EDGE_ERR_BAD_TENSOR', `${name} takes exactly one input`);
    const input = req.inputs[0]!;
    if (input.name !== spec.name)
      throw new EdgeError('EDGE_ERR_BAD_TENSOR', `input is "${spec.name}", got "${input.name}"`);
    if (spec.dtype !== 'float32' || input.datatype !== 'FP32')
      throw new EdgeError(
        'EDGE_ERR_BAD_TENSOR',
        `datatype must be ${datatypeOf(spec.dtype)}, got ${input.datatype}`,
      );
    if (input.shape.length !== spec.dims.length || input.shape.some((d, i) => d !== spec.dims[i]))
      throw new EdgeError(
        'EDGE_ERR_BAD_TENSOR',
        `shape must be ${JSON.stringify(spec.dims)}, got ${JSON.stringify(input.shape)}`,
      );
    // KServe allows the data flat or nested in row-major order.
    const flat = (input.data as unknown[]).flat(Number.POSITIVE_INFINITY as 1);
    if (flat.length !== spec.elementCount)
      throw new EdgeError(
        'EDGE_ERR_BAD_TENSOR',
        `data holds ${flat.length} values, shape needs ${spec.elementCount}`,
      );
    const tensor = new Float32Array(spec.elementCount);
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new EdgeError('EDGE_ERR_BAD_TENSOR', `data[${i}] is not a finite number`);
      tensor[i] = v;
    }
    const r = await this.#run({ kind: 'infer', model: name, tensor });
    if (r.kind !== 'infer') throw new EdgeError('EDGE_ERR_INTERNAL', 'unexpected task result');
    this.#o.metrics.inferenceSeconds.observe({ model: name }, r.inferMs / 1000);
    return {
      model_name: name,
      model_version: m.version,
      ...(req.id !== undefined ? { id: req.id } : {}),
      outputs: [{ name: r.outputName, shape: r.dims, datatype: 'FP32', data: Array.from(r.data) }],
    };
  }

  #spec(m: LoadedModel): InputSpec {
    let s = this.#specs.get(m.name);
    if (!s) {
      s = resolveInputSpec(m.manifest.input);
      this.#specs.set(m.name, s);
    }
    return s;
  }

  async #run(task: Parameters<InferencePool['run']>[0]) {
    try {
      return await this.#o.pool.run(task);
    } catch (err) {
      // A crash or watchdog kill hit this request; the pool has already started a replacement.
      if (err instanceof EdgeError && err.statusCode === 503 && err.retryAfterSeconds === undefined)
        throw new EdgeError(err.code, err.message, {
          cause: err,
          retryAfterSeconds: this.#o.retryAfterSeconds,
        });
      throw err;
    }
  }
}

function datatypeOf(dtype: InputSpec['dtype']): string {
  return dtype === 'float32' ? 'FP32' : dtype === 'float16' ? 'FP16' : 'UINT8';
}
