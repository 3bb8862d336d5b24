import { z } from 'zod';

/**
 * Store events on their way from an edge's event outbox to the hub, and the hub's answers about
 * them: the upload batch and its acknowledgement (`POST /v1/events/batch`), stores, and the
 * metrics API the dashboard reads. Times on the wire are ISO 8601 UTC.
 */

const idSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1–64 of A-Z a-z 0-9 _ . -');
const storeIdSchema = idSchema;

/** Most events one batch may carry (the edge sends 500 by default). */
export const EVENT_BATCH_MAX_EVENTS = 5000;

/**
 * `POST /v1/events/batch` body (JSON, `content-encoding: gzip` accepted). The envelope is checked
 * whole; each event is checked on its own against `analyticsEventSchema`, so one event the hub
 * cannot read is reported in `rejected` and never blocks the ones behind it in the outbox.
 * An empty `events` array is a heartbeat: the node is up.
 */
export const eventBatchSchema = z.object({
  schemaVersion: z.literal(1),
  nodeId: idSchema,
  storeId: storeIdSchema,
  /** Events still in the node's outbox besides this batch (live status on the hub). */
  backlog: z.number().int().nonnegative().optional(),
  /** The node's configured store time zone: used only when the hub first hears of the store. */
  timezone: z.string().max(64).optional(),
  events: z.array(z.unknown()).max(EVENT_BATCH_MAX_EVENTS),
});
export type EventBatch = z.infer<typeof eventBatchSchema>;

/**
 * The hub's acknowledgement. Every event of the batch is in exactly one of: `accepted` (new),
 * `duplicates` (its id was stored before: a retry), `rejected` (unreadable; never stored). The edge
 * removes all of them from its outbox; the hub has durably stored the accepted ones when it answers.
 */
export const eventBatchAckSchema = z.object({
  accepted: z.number().int().nonnegative(),
  duplicates: z.number().int().nonnegative(),
  rejected: z.array(
    z.object({
      /** Position in the batch. */
      index: z.number().int().nonnegative(),
      id: z.string().nullable(),
      message: z.string(),
    }),
  ),
});
export type EventBatchAck = z.infer<typeof eventBatchAckSchema>;

// Stores -------------------------------------------------------------------------------------------

const timezoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'not an IANA time zone (e.g. Asia/Shanghai)');

/** `PUT /v1/stores/{storeId}` body. */
export const putStoreRequestSchema = z.object({
  name: z.string().min(1).max(200).optional(),
  /** The store's IANA time zone: day buckets and "today" are store-local. */
  timezone: timezoneSchema,
});
export type PutStoreRequest = z.infer<typeof putStoreRequestSchema>;

export const storeStatusSchema = z.object({
  storeId: storeIdSchema,
  name: z.string(),
  timezone: z.string(),
  /** Nodes that uploaded or sent a heartbeat within the hub's `nodeUpAfterMs`, of all seen. */
  nodes: z.object({
    up: z.number().int().nonnegative(),
    total: z.number().int().nonnegative(),
    items: z.array(
      z.object({
        nodeId: z.string(),
        up: z.boolean(),
        lastSeenAt: z.string(),
        backlog: z.number().int().nullable(),
      }),
    ),
  }),
  /** Capture time of the newest event received from the store. */
  lastEventTime: z.string().nullable(),
  /** Since the store-local midnight. */
  today: z.object({
    footfallIn: z.number().int().nonnegative(),
    footfallOut: z.number().int().nonnegative(),
    alerts: z.number().int().nonnegative(),
  }),
});
export type StoreStatus = z.infer<typeof storeStatusSchema>;

// Metrics ------------------------------------------------------------------------------------------

export const storeMetricSchema = z.enum([
  'footfall_in',
  'footfall_out',
  'occupancy',
  'dwell',
  'queue_length',
  'queue_wait',
  'alerts',
]);
export type StoreMetric = z.infer<typeof storeMetricSchema>;

export const metricBucketSchema = z.enum(['1m', '5m', '1h', '1d']);
export type MetricBucket = z.infer<typeof metricBucketSchema>;

/**
 * One bucket of a metric. `value` is what a chart plots: the count (footfall, alerts), the mean
 * (occupancy, queue length summed over the selected zones; dwell and queue wait in seconds).
 * `n` is the number of observations behind it; `max`, `p50`, `p90` where they apply.
 */
export const metricPointSchema = z.object({
  t: z.string(),
  value: z.number().nullable(),
  n: z.number().int().nonnegative(),
  max: z.number().nullable().optional(),
  p50: z.number().nullable().optional(),
  p90: z.number().nullable().optional(),
});
export type MetricPoint = z.infer<typeof metricPointSchema>;

/** `GET /v1/stores/{storeId}/metrics` answer. */
export const storeMetricsSchema = z.object({
  storeId: storeIdSchema,
  metric: storeMetricSchema,
  bucket: metricBucketSchema,
  from: z.string(),
  to: z.string(),
  timezone: z.string(),
  /** Every bucket in [from, to), empty ones included (value null or 0). */
  points: z.array(metricPointSchema),
  /** The same per zone (or line), for per-zone charts. */
  byKey: z.record(z.string(), z.array(metricPointSchema)),
  /** The whole range as one bucket. */
  total: metricPointSchema,
});
export type StoreMetrics = z.infer<typeof storeMetricsSchema>;

/** `GET /v1/metrics/compare` answer: one metric for many stores. */
export const storeComparisonSchema = z.object({
  metric: storeMetricSchema,
  bucket: metricBucketSchema,
  from: z.string(),
  to: z.string(),
  stores: z.array(
    z.object({
      storeId: storeIdSchema,
      total: metricPointSchema,
      points: z.array(metricPointSchema),
    }),
  ),
});
export type StoreComparison = z.infer<typeof storeComparisonSchema>;
