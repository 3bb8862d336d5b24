import { z } from 'zod';
import { cameraIdSchema } from './edge.ts';
import { normPointSchema } from './scene.ts';

/**
 * Camera snapshots: the one small, recent picture per camera that leaves the store, so a manager
 * sees what the camera sees with its boxes, zones and lines drawn over it. Frames themselves never
 * leave the store; a snapshot is downscaled (long side `SNAPSHOT_EDGE_MAX_SIDE` by default), taken
 * at most once per interval, stripped of metadata, and the hub keeps only the latest per camera.
 *
 * The edge sends `PUT /v1/stores/{storeId}/cameras/{cameraId}/snapshot` as multipart/form-data: a
 * `meta` field (JSON, `cameraSnapshotMetaSchema`) and an `image` file (JPEG). Coordinates are
 * normalised to the image (0–1, origin top left), so the overlay fits the picture at any size.
 */

/** The long side the edge downscales snapshots to. */
export const SNAPSHOT_EDGE_MAX_SIDE = 640;
/** The longest side the hub accepts (a snapshot is a thumbnail, not a frame). */
export const SNAPSHOT_HUB_MAX_SIDE = 1280;
/** Most boxes, zones and lines one snapshot carries. */
export const SNAPSHOT_MAX_BOXES = 256;

const idSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1–64 of A-Z a-z 0-9 _ . -');
const unit = z.number().min(0).max(1);

export const snapshotBoxSchema = z.object({
  label: z.string().min(1).max(64),
  score: unit,
  /** The tracker's id, when the box is a tracked person. */
  trackId: z.number().int().positive().optional(),
  /** `lost`: predicted through an occlusion, not seen in this frame. */
  state: z.enum(['tracked', 'lost']).optional(),
  /** Normalised to the image: x1 < x2, y1 < y2, all in [0, 1]. */
  box: z
    .object({ x1: unit, y1: unit, x2: unit, y2: unit })
    .refine((b) => b.x2 >= b.x1 && b.y2 >= b.y1, 'x2 ≥ x1 and y2 ≥ y1'),
});
export type SnapshotBox = z.infer<typeof snapshotBoxSchema>;

export const snapshotZoneSchema = z.object({
  id: idSchema,
  kind: z.string().max(32),
  polygon: z.array(normPointSchema).min(3).max(64),
  /** People the edge counted in it at this frame. */
  occupancy: z.number().int().nonnegative().optional(),
});

export const snapshotLineSchema = z.object({
  id: idSchema,
  a: normPointSchema,
  b: normPointSchema,
  /** A vector to the "in" side (normalised units), for drawing the direction. */
  in: z.tuple([z.number(), z.number()]).optional(),
  /** In/out counts since the store-local midnight, at this frame. */
  counts: z.object({ in: z.number().int().nonnegative(), out: z.number().int().nonnegative() }).optional(),
});

/** The `meta` part of a snapshot upload: what was in the frame and the camera's geometry. */
export const cameraSnapshotMetaSchema = z.object({
  schemaVersion: z.literal(1),
  nodeId: idSchema,
  /** The frame the snapshot is of. */
  frameId: z.string().min(1).max(128),
  /** Its capture time, ISO 8601 UTC. */
  capturedAt: z.iso.datetime({ offset: true }),
  /** The JPEG's size in pixels (the hub checks it against the file). */
  width: z.number().int().positive().max(SNAPSHOT_HUB_MAX_SIDE),
  height: z.number().int().positive().max(SNAPSHOT_HUB_MAX_SIDE),
  /** The analytics config version the zones and lines are from. */
  configVersion: z.number().int().positive().nullable(),
  /** The people's boxes were blurred at the edge before the picture left the store. */
  blurred: z.boolean().optional(),
  boxes: z.array(snapshotBoxSchema).max(SNAPSHOT_MAX_BOXES),
  zones: z.array(snapshotZoneSchema).max(64),
  lines: z.array(snapshotLineSchema).max(64),
});
export type CameraSnapshotMeta = z.infer<typeof cameraSnapshotMetaSchema>;

/** `GET /v1/stores/{storeId}/cameras/{cameraId}/snapshot/meta` answer (and the PUT's). */
export const cameraSnapshotSchema = cameraSnapshotMetaSchema.extend({
  storeId: idSchema,
  cameraId: cameraIdSchema,
  receivedAt: z.string(),
  sizeBytes: z.number().int().positive(),
  /** `sha256:<hex>` of the JPEG; its ETag. */
  digest: z.string(),
  /** Where the JPEG is (the same path without `/meta`, with `?v=<digest>` to bust caches). */
  imageUrl: z.string(),
});
export type CameraSnapshot = z.infer<typeof cameraSnapshotSchema>;

/**
 * The size of a baseline or progressive JPEG from its frame header, walking the markers from SOI
 * to the first scan; undefined when the bytes are not a JPEG this can read (no SOI, a segment cut
 * off, no SOF before the scan) or do not end with EOI. Reads headers only: no decoder needed.
 */
export function readJpegSize(b: Uint8Array): { width: number; height: number } | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let end = b.length;
  while (end > 2 && end > b.length - 64 && b[end - 1] === 0) end--;
  if (b[end - 2] !== 0xff || b[end - 1] !== 0xd9) return undefined;
  const u16 = (i: number) => (b[i]! << 8) | b[i + 1]!;
  let size: { width: number; height: number } | undefined;
  let i = 2;
  for (;;) {
    while (i < b.length && b[i] !== 0xff) i++;
    while (i < b.length && b[i] === 0xff) i++;
    if (i >= b.length) return undefined;
    const marker = b[i]!;
    i++;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd8 || marker === 0xd9) return undefined;
    if (marker === 0xda) return size;
    if (i + 2 > b.length) return undefined;
    const len = u16(i);
    if (len < 2 || i + len > b.length) return undefined;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      if (size || len < 8) return undefined;
      const height = u16(i + 3);
      const width = u16(i + 5);
      if (width === 0 || height === 0) return undefined;
      size = { width, height };
    }
    i += len;
  }
}
