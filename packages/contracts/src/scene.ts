import { z } from 'zod';

/** A point in normalised image coordinates: (0,0) top-left, (1,1) bottom-right. */
export const normPointSchema = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);
export type NormPoint = z.infer<typeof normPointSchema>;

export const zoneSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  /** What the area is in the store: a shelf front, a checkout queue, the whole floor, … */
  kind: z.enum(['area', 'shelf', 'queue', 'counter', 'door']),
  polygon: z.array(normPointSchema).min(3),
});
export type Zone = z.infer<typeof zoneSchema>;

export const lineSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  a: normPointSchema,
  b: normPointSchema,
  /**
   * A vector (normalised image units) pointing to the "in" side: a person's anchor that moves
   * across the segment a–b towards the side this vector points to counts as `in`, the other way `out`.
   */
  in: z.tuple([z.number(), z.number()]),
});
export type Line = z.infer<typeof lineSchema>;

export const sceneNameSchema = z.enum(['entrance', 'aisle', 'checkout']);
export type SceneName = z.infer<typeof sceneNameSchema>;

/** `scene.json`: the camera a sequence was rendered from, with its zones and lines. */
export const sceneDescriptionSchema = z.object({
  schemaVersion: z.literal(1),
  scene: sceneNameSchema,
  seed: z.number().int(),
  width: z.number().int(),
  height: z.number().int(),
  fps: z.number().positive(),
  frames: z.number().int().nonnegative(),
  /** The point of a person that zones and lines are tested against. */
  anchor: z.enum(['bottom-center', 'center']),
  zones: z.array(zoneSchema),
  lines: z.array(lineSchema),
  /** Rendering conditions chosen by the seed, for the record. */
  conditions: z.record(z.string(), z.unknown()),
});
export type SceneDescription = z.infer<typeof sceneDescriptionSchema>;
