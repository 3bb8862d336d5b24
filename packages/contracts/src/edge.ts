import { z } from 'zod';
import { detectionSchema } from './detection.ts';
import { modelNameSchema } from './manifest.ts';

/**
 * The inference edge's HTTP bodies and queue payloads (ARCHITECTURE.md, "inference-edge"), shared
 * by the edge, its clients (CLI, hub) and tests.
 */

export const CAMERA_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const cameraIdSchema = z
  .string()
  .regex(CAMERA_ID_PATTERN, 'camera id must be 1–64 of A-Z a-z 0-9 _ . -');

/** Every JSON error of every service. */
export const errorBodySchema = z.object({ code: z.string(), message: z.string() });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** 202 answer to `POST /v1/cameras/{cameraId}/frames`. */
export const frameAcceptedSchema = z.object({ frameId: z.string(), cameraId: cameraIdSchema });
export type FrameAccepted = z.infer<typeof frameAcceptedSchema>;

/**
 * BullMQ job payload: a runner of the edge's frame path, which serves the newest pending frames of
 * the cameras due (their capture times, models and bytes are kept in Redis). For logs only: a runner
 * queued by ingest names the frame and camera that queued it; one queued in another runner's place
 * carries its own id and that runner's last camera (`sweep` when queued by the processor's check).
 */
export const frameJobSchema = z.object({
  frameId: z.string().min(1),
  cameraId: cameraIdSchema,
});
export type FrameJob = z.infer<typeof frameJobSchema>;

export const modelDetectionsSchema = z.object({
  version: z.string(),
  detections: z.array(detectionSchema),
  inferMs: z.number().nonnegative(),
});
export type ModelDetections = z.infer<typeof modelDetectionsSchema>;

/** One processed frame: what `detections/latest` returns and what the outbox carries. */
export const frameResultSchema = z.object({
  frameId: z.string(),
  cameraId: cameraIdSchema,
  nodeId: z.string(),
  captureTime: z.number().int(),
  processedAt: z.number().int(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Decode of the frame (once, for all models), ms. */
  decodeMs: z.number().nonnegative(),
  models: z.record(z.string(), modelDetectionsSchema),
  /**
   * With motion gating on: the fraction of the frame's motion thumbnail that moved since the
   * camera's last detected frame (1 when there was none to compare with: the camera's first frame,
   * one too old, of another size, or detected by other models or versions), and whether the models
   * were skipped (`reused`: the detections are that frame's, `inferMs` 0).
   */
  motion: z.object({ moved: z.number().min(0).max(1), reused: z.boolean() }).optional(),
});
export type FrameResult = z.infer<typeof frameResultSchema>;

/** Per-camera counters kept in Redis. */
export const cameraStatsSchema = z.object({
  cameraId: cameraIdSchema,
  /** Frames accepted (202). */
  received: z.number().int().nonnegative(),
  /** Results written. */
  processed: z.number().int().nonnegative(),
  /** Frames superseded by a newer frame of the same camera before a worker took them. */
  dropped: z.number().int().nonnegative(),
  /** Frames given up on: undecodable, or every attempt crashed or timed out, or expired unprocessed. */
  failed: z.number().int().nonnegative(),
});
export type CameraStats = z.infer<typeof cameraStatsSchema>;

export const latestDetectionsSchema = frameResultSchema.extend({
  dropped: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
});
export type LatestDetections = z.infer<typeof latestDetectionsSchema>;

/** Answer of `POST /v1/models/{name}/detect`. */
export const detectResponseSchema = z.object({
  model: modelNameSchema,
  version: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  detections: z.array(detectionSchema),
  timings: z.object({ decodeMs: z.number(), inferMs: z.number() }),
});
export type DetectResponse = z.infer<typeof detectResponseSchema>;

// Open Inference Protocol (KServe v2) REST, JSON tensors.
export const v2DatatypeSchema = z.enum(['FP32', 'FP16', 'UINT8', 'INT64', 'INT32', 'BOOL', 'BYTES']);
export const v2TensorSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  datatype: v2DatatypeSchema,
  parameters: z.record(z.string(), z.unknown()).optional(),
  data: z.array(z.unknown()),
});
export const v2InferRequestSchema = z.object({
  id: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(v2TensorSchema).min(1),
  outputs: z
    .array(z.object({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() }))
    .optional(),
});
export type V2InferRequest = z.infer<typeof v2InferRequestSchema>;
export const v2InferResponseSchema = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  outputs: z.array(v2TensorSchema),
});
export type V2InferResponse = z.infer<typeof v2InferResponseSchema>;
