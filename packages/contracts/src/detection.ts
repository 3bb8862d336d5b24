import { z } from 'zod';

/** A box in the original image's pixel coordinates (x2 > x1, y2 > y1). */
export const boxSchema = z.object({
  x1: z.number(),
  y1: z.number(),
  x2: z.number(),
  y2: z.number(),
});
export type Box = z.infer<typeof boxSchema>;

/** One detection, as the edge reports it (ARCHITECTURE.md, "Detection schema"). */
export const detectionSchema = z.object({
  label: z.string(),
  classId: z.number().int().min(0),
  score: z.number().min(0).max(1),
  box: boxSchema,
  trackId: z.number().int().optional(),
  /** Colour descriptor the tracker tells people apart with (see packages/analytics appearance.ts). */
  appearance: z.array(z.number()).max(64).optional(),
});
export type Detection = z.infer<typeof detectionSchema>;
