import { z } from 'zod';

/**
 * Model package manifest (`models/<name>/manifest.json`).
 *
 * It says everything a runtime needs to use a model without reading its code: how to turn an
 * image into the input tensor, how to read the output tensor, the labels and default thresholds,
 * and which file to load on which hardware. The hub validates it against the real ONNX graph.
 */

/** A semantic version (semver.org 2.0), e.g. `1.3.0` or `2.0.0-rc.1`. */
export const semverSchema = z
  .string()
  .regex(
    /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-.]+)?(?:\+[0-9A-Za-z-.]+)?$/,
    'not a semver',
  );

export const modelNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'model names are lower-case kebab-case, at most 63 characters');

/** A tensor dimension: a fixed size, or a symbolic name / -1 for a dynamic one. */
const dimSchema = z.union([z.number().int().min(-1), z.string().min(1)]);

export const modelInputSchema = z.object({
  /** Graph input name, e.g. `images`. */
  name: z.string().min(1),
  shape: z.array(dimSchema).min(3).max(4),
  layout: z.enum(['NCHW', 'NHWC']),
  dtype: z.enum(['float32', 'float16', 'uint8']),
  colorOrder: z.enum(['RGB', 'BGR']),
  /** value = (pixel * scale - mean[c]) / std[c]; Ultralytics: scale 1/255, mean 0, std 1. */
  normalize: z.object({
    scale: z.number().positive(),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  }),
  /** `letterbox`: keep aspect ratio and pad; `stretch`: resize to the input size ignoring aspect. */
  resize: z.enum(['letterbox', 'stretch']),
  /** Grey value used for the letterbox padding (Ultralytics uses 114). */
  padValue: z.number().int().min(0).max(255).default(114),
  /** Whether the letterboxed image is centred (Ultralytics) or placed at the top-left. */
  padCenter: z.boolean().default(true),
});

export const outputFormatSchema = z.enum(['yolov8', 'yolov5']);

export const modelOutputSchema = z.object({
  name: z.string().min(1),
  /**
   * `yolov8`: `[1, 4+nc, N]`, rows cx, cy, w, h (input pixels) then class scores (sigmoid applied).
   * `yolov5`: `[1, N, 5+nc]`, columns cx, cy, w, h, objectness, class scores.
   */
  format: outputFormatSchema,
  shape: z.array(dimSchema).min(2).max(3),
});

export const thresholdsSchema = z.object({
  /** Minimum class score for a detection to be reported. */
  confidence: z.number().min(0).max(1),
  /** IoU above which NMS suppresses the lower-scored box of the same class. */
  iou: z.number().min(0).max(1),
  /** Optional per-label override of `confidence`. */
  perLabel: z.record(z.string(), z.number().min(0).max(1)).optional(),
  maxDetections: z.number().int().positive().default(300),
});

export const modelVariantSchema = z.object({
  /** e.g. `fp32-cpu`, `fp16-gpu`, `int8-cpu`. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  /** File name relative to the manifest. */
  file: z.string().min(1),
  precision: z.enum(['fp32', 'fp16', 'int8']),
  /** Execution providers this variant is meant for, in order of preference. */
  executionProviders: z.array(z.enum(['cpu', 'cuda', 'tensorrt', 'coreml', 'webgpu'])).min(1),
  sha256: z
    .string()
    .regex(/^[a-f0-9]{64}$/)
    .optional(),
  sizeBytes: z.number().int().positive().optional(),
});

export const modelManifestSchema = z.object({
  schemaVersion: z.literal(1),
  name: modelNameSchema,
  version: semverSchema,
  task: z.enum(['detection']),
  description: z.string().optional(),
  input: modelInputSchema,
  output: modelOutputSchema,
  labels: z.array(z.string().min(1)).min(1),
  thresholds: thresholdsSchema,
  variants: z.array(modelVariantSchema).min(1),
  /** Free-form provenance: training data, command, commit. */
  source: z.record(z.string(), z.unknown()).optional(),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type ModelInput = z.infer<typeof modelInputSchema>;
export type ModelOutput = z.infer<typeof modelOutputSchema>;
export type OutputFormat = z.infer<typeof outputFormatSchema>;
export type Thresholds = z.infer<typeof thresholdsSchema>;
export type ModelVariant = z.infer<typeof modelVariantSchema>;
