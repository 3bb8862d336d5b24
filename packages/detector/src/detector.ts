import type { Detection, ModelManifest } from '@storevision/contracts';
import * as ort from 'onnxruntime-node';
import type sharp from 'sharp';
import { decodeOutput, resolveThresholds, type ThresholdOverrides } from './decode.ts';
import { DetectorError } from './errors.ts';
import {
  type AvailabilityProbe,
  availableExecutionProviders,
  type ExecutionProviderName,
  selectExecutionProviders,
} from './execution-providers.ts';
import { assertManifestMatchesGraph, graphIoFromSession } from './graph-check.ts';
import { computeLetterbox, type LetterboxGeometry } from './letterbox.ts';
import { type LoadModelPackageOptions, loadModelPackage } from './model-package.ts';
import {
  createInputBuffer,
  type InputSpec,
  type InputTensorData,
  preprocess,
  type RawRgbImage,
  resolveInputSpec,
  writeTensor,
} from './preprocess.ts';

/**
 * One loaded model, ready to answer `detect(image)`. Shared by the benchmark and the edge's
 * inference workers. `run()` blocks nothing in JS, but onnxruntime-node's inference still
 * competes for cores: the edge runs detectors in worker threads and budgets `intraOpNumThreads`.
 */

/** pino-compatible subset; the default logs nothing. */
export interface DetectorLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

const silentLogger: DetectorLogger = { warn() {}, info() {} };

export interface DetectorSessionOptions {
  /** Threads inside one operator. @defaultValue onnxruntime's (all physical cores) */
  intraOpNumThreads?: number;
  /** Threads across independent operators. @defaultValue onnxruntime's */
  interOpNumThreads?: number;
  /** Exact providers to ask for; by default chosen by `selectExecutionProviders`. */
  executionProviders?: readonly ExecutionProviderName[];
}

export interface DetectorOptions {
  manifest: ModelManifest;
  /** ONNX file path or bytes. */
  model: string | Uint8Array;
  /** Execution providers the chosen variant is meant for (restricts the registry's choice). */
  variantExecutionProviders?: readonly string[];
  session?: DetectorSessionOptions;
  /** Inference runs on a blank letterboxed frame before the detector is returned. @defaultValue 2 */
  warmupRuns?: number;
  /** Images above this many pixels are refused from their header. @defaultValue 40_000_000 */
  maxPixels?: number;
  /** libvips kernel for the resize. @defaultValue 'linear' */
  resizeKernel?: keyof sharp.KernelEnum;
  /** Refuse a manifest that does not match the graph. @defaultValue true */
  checkGraph?: boolean;
  availability?: AvailabilityProbe;
  logger?: DetectorLogger;
}

export interface DetectTimings {
  /** Header check, decode and resize (one libvips pass). */
  decodeMs: number;
  /** Padding, layout, normalisation into the input tensor. */
  preprocessMs: number;
  inferMs: number;
  /** Decoding the output: threshold, NMS, mapping back to the image. */
  postprocessMs: number;
}

export interface DetectResult {
  detections: Detection[];
  timings: DetectTimings;
  /** How the image was fitted into the input; maps input pixels back to the image. */
  geometry: LetterboxGeometry;
}

export interface RawOutput {
  data: Float32Array;
  dims: number[];
}

export class Detector {
  readonly manifest: ModelManifest;
  readonly inputSpec: InputSpec;
  /** Providers the session was created with, in order. */
  readonly executionProviders: readonly ExecutionProviderName[];
  readonly #session: ort.InferenceSession;
  readonly #options: DetectorOptions;
  /** Input buffers not in use; detect() calls in flight take one each, so frames never share one. */
  readonly #freeInputs: InputTensorData[] = [];
  #released = false;

  private constructor(
    session: ort.InferenceSession,
    eps: readonly ExecutionProviderName[],
    spec: InputSpec,
    options: DetectorOptions,
  ) {
    this.#session = session;
    this.executionProviders = eps;
    this.inputSpec = spec;
    this.manifest = options.manifest;
    this.#options = options;
  }

  /** Creates the session (falling back to CPU), checks the graph, warms up. */
  static async create(options: DetectorOptions): Promise<Detector> {
    const logger = options.logger ?? silentLogger;
    const spec = resolveInputSpec(options.manifest.input);
    const eps =
      options.session?.executionProviders ??
      selectExecutionProviders({
        available: availableExecutionProviders(options.availability),
        wanted: options.variantExecutionProviders,
      });
    const sessionOptions = (list: readonly ExecutionProviderName[]): ort.InferenceSession.SessionOptions => ({
      executionProviders: [...list],
      graphOptimizationLevel: 'all',
      ...(options.session?.intraOpNumThreads !== undefined
        ? { intraOpNumThreads: options.session.intraOpNumThreads }
        : {}),
      ...(options.session?.interOpNumThreads !== undefined
        ? { interOpNumThreads: options.session.interOpNumThreads }
        : {}),
    });
    let session: ort.InferenceSession;
    let used = eps;
    try {
      session = await createSession(options.model, sessionOptions(eps));
    } catch (err) {
      if (eps.length === 1 && eps[0] === 'cpu') throw err;
      // A GPU provider listed as available can still fail to load (driver, CUDA/cuDNN version):
      // a store keeps detecting on CPU rather than not at all.
      logger.warn({ err, executionProviders: eps }, 'session creation failed, falling back to cpu');
      used = ['cpu'];
      session = await createSession(options.model, sessionOptions(used));
    }
    try {
      if (options.checkGraph ?? true)
        assertManifestMatchesGraph(options.manifest, graphIoFromSession(session));
      const detector = new Detector(session, used, spec, options);
      await detector.#warmUp(options.warmupRuns ?? 2);
      logger.info(
        { model: options.manifest.name, version: options.manifest.version, executionProviders: used },
        'detector ready',
      );
      return detector;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Image (encoded, or decoded RGB) → detections in the image's pixel coordinates. */
  async detect(image: Buffer | RawRgbImage, overrides?: ThresholdOverrides): Promise<DetectResult> {
    this.#assertLive();
    const target = this.#freeInputs.pop() ?? createInputBuffer(this.inputSpec);
    try {
      const pre = await preprocess(image, this.inputSpec, {
        target,
        ...(this.#options.maxPixels !== undefined ? { maxPixels: this.#options.maxPixels } : {}),
        ...(this.#options.resizeKernel !== undefined ? { kernel: this.#options.resizeKernel } : {}),
      });
      const t0 = performance.now();
      const output = await this.run(pre.tensor);
      const t1 = performance.now();
      const detections = this.decode(output, pre.geometry, overrides);
      const t2 = performance.now();
      return {
        detections,
        geometry: pre.geometry,
        timings: {
          decodeMs: pre.decodeMs,
          preprocessMs: pre.preprocessMs,
          inferMs: t1 - t0,
          postprocessMs: t2 - t1,
        },
      };
    } finally {
      this.#freeInputs.push(target);
    }
  }

  /** Runs the model on a prepared input tensor (`inputSpec` layout and dtype) and returns its raw output. */
  async run(tensor: InputTensorData): Promise<RawOutput> {
    this.#assertLive();
    const spec = this.inputSpec;
    if (tensor.length !== spec.elementCount) {
      throw new DetectorError(
        'DETECTOR_ERR_UNSUPPORTED_INPUT',
        `tensor has ${tensor.length} values, want ${spec.elementCount}`,
      );
    }
    const input =
      spec.dtype === 'float32'
        ? new ort.Tensor('float32', tensor as Float32Array, spec.dims)
        : spec.dtype === 'uint8'
          ? new ort.Tensor('uint8', tensor as Uint8Array, spec.dims)
          : new ort.Tensor('float16', tensor as Uint16Array, spec.dims);
    const name = this.manifest.output.name;
    const results = await this.#session.run({ [spec.name]: input }, [name]);
    const out = results[name];
    if (!out) throw new DetectorError('DETECTOR_ERR_OUTPUT_SHAPE', `no output ${name}`);
    const dims = [...out.dims];
    if (out.type === 'float32') return { data: out.data as Float32Array, dims };
    if (out.type === 'float16') return { data: float16ToFloat32(out.data as Uint16Array), dims };
    throw new DetectorError('DETECTOR_ERR_OUTPUT_SHAPE', `output type ${out.type}`);
  }

  /** Raw output → detections, with the manifest's thresholds and any per-call overrides. */
  decode(output: RawOutput, geometry: LetterboxGeometry, overrides?: ThresholdOverrides): Detection[] {
    return decodeOutput(this.manifest.output.format, output.data, output.dims, {
      labels: this.manifest.labels,
      geometry,
      ...resolveThresholds(this.manifest.thresholds, overrides),
    });
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#session.release();
  }

  /**
   * The first runs allocate arenas and (on GPU) build kernels or engines; doing them here keeps
   * that latency out of the first real frame and lets the edge report ready only when it is fast.
   */
  async #warmUp(runs: number): Promise<void> {
    if (runs <= 0) return;
    const spec = this.inputSpec;
    const g = computeLetterbox(spec.width, spec.height, spec.width, spec.height, { mode: 'stretch' });
    const tensor = createInputBuffer(spec);
    writeTensor(new Uint8Array(spec.width * spec.height * 3).fill(spec.padValue), g, spec, tensor);
    for (let i = 0; i < runs; i++) await this.run(tensor);
    this.#freeInputs.push(tensor);
  }

  #assertLive(): void {
    if (this.#released) throw new DetectorError('DETECTOR_ERR_RELEASED');
  }
}

export interface CreateDetectorFromPackageOptions
  extends Omit<DetectorOptions, 'manifest' | 'model' | 'variantExecutionProviders'>,
    Omit<LoadModelPackageOptions, 'available'> {}

/** Loads a model package directory and creates a detector for the variant that fits this machine. */
export async function createDetectorFromPackage(
  dir: string,
  options: CreateDetectorFromPackageOptions = {},
): Promise<Detector> {
  const pkg = await loadModelPackage(dir, {
    ...options,
    available: availableExecutionProviders(options.availability),
  });
  return Detector.create({
    ...options,
    manifest: pkg.manifest,
    model: pkg.modelPath,
    variantExecutionProviders: pkg.variant.executionProviders,
  });
}

function createSession(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions) {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

function float16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    out[i] =
      exp === 0
        ? sign * mant * 2 ** -24
        : exp === 0x1f
          ? mant
            ? Number.NaN
            : sign * Number.POSITIVE_INFINITY
          : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
