import { z } from 'zod';
import { boxSchema } from './detection.ts';
import { cameraIdSchema } from './edge.ts';
import { polygonArea, polygonSelfIntersection } from './geometry.ts';
import { normPointSchema } from './scene.ts';

/**
 * Per-camera analytics: the config a camera's zones, lines and operations are set with (through the
 * edge API now, from the orchestrator later), the events the edge appends to its event outbox, and
 * the live state `GET /v1/cameras/{cameraId}/analytics` returns.
 *
 * Modelled on what users of Azure Spatial Analysis (zones/lines with operations), DeepStream
 * nvdsanalytics (ROI, line crossing, overcrowding) and Frigate zones (inertia, loitering time) rely on.
 */

const analyticsIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'ids are 1–64 of A-Z a-z 0-9 _ . -');

/** Minimum area of a zone, in normalised units (0.0001 = 1% × 1% of the frame). */
export const MIN_ZONE_AREA = 1e-4;

export const analyticsZoneSchema = z.object({
  id: analyticsIdSchema,
  /** What the area is in the store; `queue` zones are where the queue operation looks by default. */
  kind: z.enum(['area', 'shelf', 'queue', 'counter', 'door']).default('area'),
  polygon: z.array(normPointSchema).min(3).max(64),
  /**
   * Consecutive detection frames a person's anchor must be inside (or outside) before they count as
   * entered (or left): jitter at the edge never double counts. Enter and exit times are those of the
   * first of those frames, so dwell is not biased by it. @defaultValue 2 (Frigate's `inertia` is 3 at 5 fps)
   */
  inertia: z.number().int().min(1).max(30).default(2),
});
export type AnalyticsZone = z.infer<typeof analyticsZoneSchema>;

export const analyticsLineSchema = z.object({
  id: analyticsIdSchema,
  a: normPointSchema,
  b: normPointSchema,
  /** A vector pointing to the line's "in" side (normalised image units). */
  in: z.tuple([z.number(), z.number()]),
  /** Consecutive detection frames on the new side before a crossing counts. @defaultValue 1 (the band does the debouncing) */
  inertia: z.number().int().min(1).max(30).default(1),
  /**
   * Half-width of a dead band around the line, as a fraction of the person's box height (so it
   * scales with distance from the camera): feet inside the band keep the side they had, so a person
   * lingering on the line or a wobbling box bottom never flips sides. @defaultValue 0.1
   */
  band: z.number().min(0).max(2).default(0.1),
});
export type AnalyticsLine = z.infer<typeof analyticsLineSchema>;

const zoneRefs = z.array(analyticsIdSchema).min(1).optional();

export const occupancyOperationSchema = z.object({
  type: z.literal('occupancy'),
  /** Zones to report; all when absent. */
  zones: zoneRefs,
  /** An `occupancy` event per zone at least this often (capture time), besides one on each change. @defaultValue 60 */
  intervalSeconds: z.number().positive().max(86_400).default(60),
});

export const lineCrossingOperationSchema = z.object({
  type: z.literal('line_crossing'),
  /** Lines to count; all when absent. */
  lines: zoneRefs,
});

export const zoneDwellOperationSchema = z.object({
  type: z.literal('zone_dwell'),
  zones: zoneRefs,
  /** Visits shorter than this produce no `zone_exit` (people walking through). @defaultValue 0 */
  minDwellSeconds: z.number().nonnegative().max(86_400).default(0),
});

export const queueOperationSchema = z.object({
  type: z.literal('queue'),
  /** The queue zone; the config's first `queue` zone when absent. */
  zone: analyticsIdSchema.optional(),
  intervalSeconds: z.number().positive().max(86_400).default(30),
  /** Window of recent departures the waiting-time estimate uses (Little's law). @defaultValue 300 */
  windowSeconds: z.number().positive().max(86_400).default(300),
});

export const overcrowdingRuleSchema = z.object({
  kind: z.literal('overcrowding'),
  zone: analyticsIdSchema,
  /** Raised when more than this many people are in the zone … */
  maxPeople: z.number().int().nonnegative(),
  /** … for this long; cleared when the count is back at or under `maxPeople`. @defaultValue 10 */
  forSeconds: z.number().nonnegative().max(86_400).default(10),
});
export const loiteringRuleSchema = z.object({
  kind: z.literal('loitering'),
  zone: analyticsIdSchema,
  /** Raised for a person whose dwell in the zone passes this; cleared when they leave. */
  dwellSeconds: z.number().positive().max(86_400),
});
export const alertRuleSchema = z.discriminatedUnion('kind', [overcrowdingRuleSchema, loiteringRuleSchema]);
export type AlertRule = z.infer<typeof alertRuleSchema>;

export const alertsOperationSchema = z.object({
  type: z.literal('alerts'),
  rules: z.array(alertRuleSchema).min(1).max(64),
});

export const analyticsOperationSchema = z.discriminatedUnion('type', [
  occupancyOperationSchema,
  lineCrossingOperationSchema,
  zoneDwellOperationSchema,
  queueOperationSchema,
  alertsOperationSchema,
]);
export type AnalyticsOperation = z.infer<typeof analyticsOperationSchema>;
export const analyticsOperationTypes = [
  'occupancy',
  'line_crossing',
  'zone_dwell',
  'queue',
  'alerts',
] as const;

/** ByteTrack's knobs (Zhang et al. 2022), in seconds where ByteTrack counts frames, so they hold at any detection rate. */
export const trackerConfigSchema = z.object({
  /**
   * Detections at or above this score are matched first and may start tracks. @defaultValue 0.4
   * (ByteTrack's 0.5 is for YOLOX on MOT17; the bundled detector scores people lower)
   */
  highScore: z.number().min(0).max(1).default(0.4),
  /**
   * Detections below `highScore` and at or above this only keep existing tracks alive. The edge only
   * passes on what clears the model's own confidence threshold (0.25 for the bundled detector), so
   * with it this is in effect 0.25 (passing 0.1–0.25 too did not help: IDF1 −0.01). @defaultValue 0.1
   */
  lowScore: z.number().min(0).max(1).default(0.1),
  /** A new track needs a detection at least this confident. @defaultValue 0.45 */
  newTrackScore: z.number().min(0).max(1).default(0.45),
  /** Minimum IoU (score-fused) between a predicted track and a high-score detection. @defaultValue 0.2 */
  matchIou: z.number().min(0).max(1).default(0.2),
  /**
   * A seen track's box is grown on each side by this fraction of its size per second since its last
   * detection (C-BIoU): 0.15 between frames at 10 fps, 0.3 at 5 fps, at most 1. It bridges a box
   * that jumps in size as a person steps out from behind a door frame (without it, crossings at
   * the simulator's entrance door are lost at 5 fps). A lost track's box is never grown: through a
   * crowded doorway it took whoever walked out of the occlusion first. @defaultValue 1.5
   */
  bufferPerSecond: z.number().min(0).max(10).default(1.5),
  /**
   * Weight of the colour distance (`appearanceDistance`, 0–1) in the association cost (added to
   * 1 − IoU): two people swapping places behind a door frame keep their own tracks. @defaultValue 1
   */
  appearanceWeight: z.number().min(0).max(100).default(1),
  /**
   * Colour distance above which a detection that overlaps no other cannot continue a confirmed
   * track, however well the boxes overlap. On the simulator's scenes the same person seen 1 s apart
   * is over 0.65 in 1 % of pairs, two different people within a body height and a half of each
   * other in 76 %. 1 turns the gate off. @defaultValue 0.65
   */
  appearanceGate: z.number().min(0).max(1).default(0.65),
  /** Colour distance (`appearanceDistance`) under which a lost track is re-identified without overlap. @defaultValue 0.2 */
  reidDistance: z.number().min(0).max(1).default(0.2),
  /** Minimum IoU for the second, low-score association. @defaultValue 0.5 */
  lowMatchIou: z.number().min(0).max(1).default(0.5),
  /** Detection frames in a row a new track needs before it gets an id and counts. @defaultValue 2 */
  confirmFrames: z.number().int().min(1).max(30).default(2),
  /**
   * How long a track survives unseen (occlusion, missed detections) before it ends; it still counts
   * in its zones meanwhile. @defaultValue 3
   */
  maxLostSeconds: z.number().positive().max(60).default(3),
});
export type TrackerConfig = z.infer<typeof trackerConfigSchema>;

const analyticsConfigBase = z.object({
  schemaVersion: z.literal(1).default(1),
  /** The point of a person tested against zones and lines. @defaultValue 'bottom-center' (the feet) */
  anchor: z.enum(['bottom-center', 'center']).default('bottom-center'),
  /** Detection labels that are tracked and counted. @defaultValue ['person'] */
  labels: z.array(z.string().min(1)).min(1).max(16).default(['person']),
  /** The model whose detections are tracked; the camera's first model when absent. */
  model: z.string().optional(),
  tracker: trackerConfigSchema.default(trackerConfigSchema.parse({})),
  zones: z.array(analyticsZoneSchema).max(64).default([]),
  lines: z.array(analyticsLineSchema).max(64).default([]),
  operations: z.array(analyticsOperationSchema).min(1).max(32),
});

/**
 * Checks what a schema of shapes cannot: unique ids, references to zones and lines that exist,
 * polygons that are simple and not degenerate, lines with length and an `in` side.
 */
function checkAnalyticsConfig(c: z.infer<typeof analyticsConfigBase>, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path, message });
  const zoneIds = new Set<string>();
  c.zones.forEach((zone, i) => {
    if (zoneIds.has(zone.id)) issue(['zones', i, 'id'], `duplicate zone id "${zone.id}"`);
    zoneIds.add(zone.id);
    // Self-intersection first: a bow-tie's signed areas cancel and it would read as degenerate.
    const x = polygonSelfIntersection(zone.polygon);
    if (x)
      issue(
        ['zones', i, 'polygon'],
        `zone "${zone.id}" is self-intersecting (edges ${x[0]} and ${x[1]} cross)`,
      );
    else if (polygonArea(zone.polygon) < MIN_ZONE_AREA)
      issue(['zones', i, 'polygon'], `zone "${zone.id}" is degenerate (area below ${MIN_ZONE_AREA})`);
  });
  const lineIds = new Set<string>();
  c.lines.forEach((line, i) => {
    if (lineIds.has(line.id)) issue(['lines', i, 'id'], `duplicate line id "${line.id}"`);
    lineIds.add(line.id);
    const dx = line.b[0] - line.a[0];
    const dy = line.b[1] - line.a[1];
    if (Math.hypot(dx, dy) < 0.01) issue(['lines', i], `line "${line.id}" is shorter than 0.01`);
    else if (Math.abs(dx * line.in[1] - dy * line.in[0]) < 1e-9)
      issue(['lines', i, 'in'], `line "${line.id}": "in" must point to one side of the line, not along it`);
  });
  const seenOps = new Set<string>();
  c.operations.forEach((op, i) => {
    const key = op.type === 'queue' ? `queue:${op.zone ?? ''}` : op.type;
    if (seenOps.has(key)) issue(['operations', i, 'type'], `duplicate operation "${key}"`);
    seenOps.add(key);
    const refs = (ids: string[] | undefined, known: Set<string>, field: string, what: string) =>
      ids?.forEach((id, j) => {
        if (!known.has(id)) issue(['operations', i, field, j], `unknown ${what} "${id}"`);
      });
    if (op.type === 'occupancy' || op.type === 'zone_dwell') refs(op.zones, zoneIds, 'zones', 'zone');
    if (op.type === 'line_crossing') {
      refs(op.lines, lineIds, 'lines', 'line');
      if (c.lines.length === 0) issue(['operations', i], 'line_crossing needs at least one line');
    }
    if (op.type === 'queue') {
      if (op.zone !== undefined && !zoneIds.has(op.zone))
        issue(['operations', i, 'zone'], `unknown zone "${op.zone}"`);
      if (op.zone === undefined && !c.zones.some((z) => z.kind === 'queue'))
        issue(['operations', i, 'zone'], 'queue needs a zone (or a zone of kind "queue")');
    }
    if (op.type === 'alerts')
      op.rules.forEach((r, j) => {
        if (!zoneIds.has(r.zone)) issue(['operations', i, 'rules', j, 'zone'], `unknown zone "${r.zone}"`);
      });
  });
  if (c.tracker.lowScore > c.tracker.highScore)
    issue(['tracker', 'lowScore'], 'lowScore must not be above highScore');
}

export const analyticsConfigSchema = analyticsConfigBase.superRefine(checkAnalyticsConfig);
/** A camera's analytics config as given (defaults not yet applied). */
export type AnalyticsConfigInput = z.input<typeof analyticsConfigSchema>;
/** A camera's analytics config with every default filled in. */
export type AnalyticsConfig = z.infer<typeof analyticsConfigSchema>;

/** What `PUT`/`GET /v1/cameras/{cameraId}/analytics/config` answer. */
export const storedAnalyticsConfigSchema = z.object({
  cameraId: cameraIdSchema,
  /** Increases by one on each change; recorded on every event. */
  version: z.number().int().positive(),
  updatedAt: z.string(),
  config: analyticsConfigBase,
});
export type StoredAnalyticsConfig = z.infer<typeof storedAnalyticsConfigSchema>;

// Events ------------------------------------------------------------------------------------------

const eventBase = z.object({
  schemaVersion: z.literal(1),
  /** Unique, and the same if the edge computes the event again (retries, replays): the hub dedupes on it. */
  id: z.string().min(1).max(128),
  storeId: z.string().min(1),
  cameraId: cameraIdSchema,
  nodeId: z.string().min(1),
  /** The capture time of the frame the event was decided on, ISO 8601 UTC. */
  time: z.string(),
  /** The frame it was decided on. */
  frameId: z.string(),
  /** Version of the camera's analytics config in force. */
  configVersion: z.number().int().positive(),
});

export const occupancyEventSchema = eventBase.extend({
  type: z.literal('occupancy'),
  zone: z.string(),
  count: z.number().int().nonnegative(),
  reason: z.enum(['change', 'interval']),
});
export const lineCrossingEventSchema = eventBase.extend({
  type: z.literal('line_crossing'),
  line: z.string(),
  trackId: z.number().int().positive(),
  direction: z.enum(['in', 'out']),
});
export const zoneEnterEventSchema = eventBase.extend({
  type: z.literal('zone_enter'),
  zone: z.string(),
  trackId: z.number().int().positive(),
});
export const zoneExitEventSchema = eventBase.extend({
  type: z.literal('zone_exit'),
  zone: z.string(),
  trackId: z.number().int().positive(),
  dwellMs: z.number().nonnegative(),
});
export const queueEventSchema = eventBase.extend({
  type: z.literal('queue'),
  zone: z.string(),
  length: z.number().int().nonnegative(),
  /** Estimated wait for someone joining now (Little's law over recent departures); null before any departure. */
  waitSeconds: z.number().nonnegative().nullable(),
  reason: z.enum(['change', 'interval']),
});
export const alertEventSchema = eventBase.extend({
  type: z.literal('alert'),
  alert: z.enum(['overcrowding', 'loitering']),
  state: z.enum(['raised', 'cleared']),
  zone: z.string(),
  /** The person, for loitering. */
  trackId: z.number().int().positive().optional(),
  /** People in the zone (overcrowding) or dwell seconds (loitering) when decided. */
  value: z.number(),
  threshold: z.number(),
});

export const analyticsEventSchema = z.discriminatedUnion('type', [
  occupancyEventSchema,
  lineCrossingEventSchema,
  zoneEnterEventSchema,
  zoneExitEventSchema,
  queueEventSchema,
  alertEventSchema,
]);
export type AnalyticsEvent = z.infer<typeof analyticsEventSchema>;
export type AnalyticsEventType = AnalyticsEvent['type'];

// Live state ---------------------------------------------------------------------------------------

export const trackedPersonSchema = z.object({
  trackId: z.number().int().positive(),
  label: z.string(),
  score: z.number(),
  /** Box in pixels: the detection when seen in this frame, else the motion model's prediction. */
  box: boxSchema,
  /** Seen in this frame (`tracked`) or predicted through an occlusion (`lost`). */
  state: z.enum(['tracked', 'lost']),
  /** Zones the person counts as inside. */
  zones: z.array(z.string()),
});
export type TrackedPerson = z.infer<typeof trackedPersonSchema>;

export const cameraAnalyticsStateSchema = z.object({
  cameraId: cameraIdSchema,
  storeId: z.string(),
  configVersion: z.number().int().positive(),
  /** The last frame analysed, and its capture time (ISO 8601 UTC). */
  frameId: z.string().nullable(),
  time: z.string().nullable(),
  /** The store-local day the line counts are for (`YYYY-MM-DD` in the edge's time zone). */
  day: z.string().nullable(),
  timezone: z.string(),
  tracks: z.array(trackedPersonSchema),
  zones: z.record(z.string(), z.object({ kind: z.string(), occupancy: z.number().int().nonnegative() })),
  /** In/out counts per line since the store-local midnight. */
  lines: z.record(
    z.string(),
    z.object({ in: z.number().int().nonnegative(), out: z.number().int().nonnegative() }),
  ),
  queues: z.record(
    z.string(),
    z.object({ length: z.number().int().nonnegative(), waitSeconds: z.number().nullable() }),
  ),
  alerts: z.array(
    z.object({
      alert: z.enum(['overcrowding', 'loitering']),
      zone: z.string(),
      trackId: z.number().int().optional(),
      since: z.string(),
    }),
  ),
  /** Frames analysed, and frames skipped because they arrived after a newer one of the same camera. */
  frames: z.object({ analysed: z.number().int(), outOfOrder: z.number().int() }),
});
export type CameraAnalyticsState = z.infer<typeof cameraAnalyticsStateSchema>;
