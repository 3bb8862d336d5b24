import { z } from 'zod';
import { boxSchema } from './detection.ts';
import { sceneNameSchema } from './scene.ts';

/**
 * Ground truth of a rendered sequence, written as JSON Lines (`ground-truth.jsonl`).
 *
 * Line 1 is a `sequence` header; then one `frame` record per frame in order; then the
 * sequence-level records derived from the tracks (`line_crossing`, `zone_visit`), and a final
 * `summary`. Every sequence-level fact is computed from the per-frame tracks, never typed in.
 * Times are milliseconds from the first frame (`t`) — `captureTime` adds the sequence's start epoch.
 */

export const gtLabels = ['person', 'cart'] as const;

export const gtObjectSchema = z.object({
  trackId: z.number().int().positive(),
  classId: z.number().int().min(0),
  label: z.enum(gtLabels),
  /** The object's full extent clipped to the frame, in pixels. */
  box: boxSchema,
  /** Fraction (0–1) of the object's silhouette that is inside the frame and not hidden by anything nearer. */
  visible: z.number().min(0).max(1),
  /** Anchor point (feet, bottom-centre of the unclipped body) in pixels; may lie outside the frame. */
  anchor: z.tuple([z.number(), z.number()]),
});
export type GtObject = z.infer<typeof gtObjectSchema>;

export const gtSequenceHeaderSchema = z.object({
  kind: z.literal('sequence'),
  schemaVersion: z.literal(1),
  scene: sceneNameSchema,
  seed: z.number().int(),
  frames: z.number().int(),
  fps: z.number().positive(),
  width: z.number().int(),
  height: z.number().int(),
  startEpochMs: z.number().int(),
  labels: z.array(z.string()),
});

export const gtFrameSchema = z.object({
  kind: z.literal('frame'),
  frame: z.number().int().nonnegative(),
  t: z.number().nonnegative(),
  file: z.string(),
  objects: z.array(gtObjectSchema),
  /** People whose anchor is inside each zone in this frame. */
  occupancy: z.record(z.string(), z.number().int().nonnegative()),
  /** People waiting in each queue zone (inside it and not moving through), by zone id. */
  queue: z.record(z.string(), z.number().int().nonnegative()),
});
export type GtFrame = z.infer<typeof gtFrameSchema>;

export const gtLineCrossingSchema = z.object({
  kind: z.literal('line_crossing'),
  lineId: z.string(),
  trackId: z.number().int(),
  frame: z.number().int(),
  t: z.number(),
  direction: z.enum(['in', 'out']),
});
export type GtLineCrossing = z.infer<typeof gtLineCrossingSchema>;

export const gtZoneVisitSchema = z.object({
  kind: z.literal('zone_visit'),
  zoneId: z.string(),
  trackId: z.number().int(),
  enterFrame: z.number().int(),
  enterT: z.number(),
  /** Absent when the person was still inside at the end of the sequence. */
  exitFrame: z.number().int().optional(),
  exitT: z.number().optional(),
  dwellMs: z.number().optional(),
});
export type GtZoneVisit = z.infer<typeof gtZoneVisitSchema>;

export const gtSummarySchema = z.object({
  kind: z.literal('summary'),
  tracks: z.number().int(),
  crossings: z.record(z.string(), z.object({ in: z.number().int(), out: z.number().int() })),
  maxOccupancy: z.record(z.string(), z.number().int()),
  maxQueue: z.record(z.string(), z.number().int()),
});

export const gtRecordSchema = z.discriminatedUnion('kind', [
  gtSequenceHeaderSchema,
  gtFrameSchema,
  gtLineCrossingSchema,
  gtZoneVisitSchema,
  gtSummarySchema,
]);
export type GtRecord = z.infer<typeof gtRecordSchema>;
export type GtSequenceHeader = z.infer<typeof gtSequenceHeaderSchema>;
export type GtSummary = z.infer<typeof gtSummarySchema>;
