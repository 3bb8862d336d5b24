import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { envList, envRecord, modelNameSchema, parseServiceConfig } from '@storevision/contracts';
import { z } from 'zod';

/**
 * The edge's configuration: one zod schema, parsed by `loadConfig(env, overrides)` (never at
 * import time), frozen. Defaults make `npm start` work on a laptop with a local Redis and the
 * bundled model. Environment variables are `EDGE_*`; the CLI passes its options as overrides.
 */

/** The repository's `models/` folder, where the bundled model packages live. */
export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../../models', import.meta.url));

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

export const edgeConfigSchema = z.object({
  /** HTTP port. @defaultValue 8080 */
  port: int(0, 65535).default(8080),
  /** Interface to listen on. @defaultValue '0.0.0.0' (cameras on the store LAN push here) */
  host: z.string().min(1).default('0.0.0.0'),
  /** This node's id (in logs, metrics labels, outbox records). @defaultValue the host name */
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'node id must be 1–64 of A-Z a-z 0-9 _ . -')
    .default(
      () =>
        os
          .hostname()
          .replace(/[^A-Za-z0-9_.-]/g, '-')
          .slice(0, 64) || 'edge',
    ),
  /**
   * Redis to use. When absent the edge starts its own `redis-server` (AOF on) under
   * `<dataDir>/redis` on a free port, the embedded default of ARCHITECTURE.md.
   */
  redisUrl: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /** Where the embedded Redis keeps its append-only file. @defaultValue '.data' */
  dataDir: z.string().min(1).default('.data'),
  /** Prefix of every Redis key this node writes (frames, slots, counters, outbox, BullMQ queue). */
  redisPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('sv'),
  /** Folder holding model packages (`<dir>/<name>/manifest.json`). */
  modelsDir: z.string().min(1).default(DEFAULT_MODELS_DIR),
  /** Models run on every camera's frames (the orchestrator assigns them later). */
  models: z.array(modelNameSchema).min(1).default(['person-detector']),
  /** Largest request body. @defaultValue 20 MiB */
  bodyLimitBytes: int(1024).default(20 * 1024 * 1024),
  /** Images with more pixels are refused from their header, before decoding. @defaultValue 40 MP */
  maxPixels: int(1).default(40_000_000),
  /** Cores to budget for; @defaultValue os.availableParallelism() */
  cores: int(1, 1024).default(() => os.availableParallelism()),
  /** Inference worker threads; @defaultValue from the thread budget */
  inferenceThreads: int(1, 256).optional(),
  /** onnxruntime intra-op threads per inference thread; @defaultValue from the thread budget */
  intraOpThreads: int(1, 256).optional(),
  /** Watchdog: a frame's inference (all its models) taking longer kills the thread. @defaultValue 15 s */
  inferenceTimeoutMs: int(100).default(15_000),
  /** Tries per frame (a crashed or stuck worker counts as one). @defaultValue 2 */
  frameAttempts: int(1, 10).default(2),
  /**
   * How long a frame runner with no camera due waits for one before its BullMQ job ends (the next
   * runner to start is handed to it instead of becoming a job). 0: end at once. At most 10 s (a
   * runner's job ends after 10 s whatever it does). @defaultValue 2 s
   */
  runnerIdleMs: int(0, 10_000).default(2000),
  /** How long an accepted frame's bytes live in Redis if nothing processes them. @defaultValue 60 s */
  frameTtlMs: int(1000).default(60_000),
  /** Approximate cap on the outbox stream (`XADD MAXLEN ~`). @defaultValue 10 000 */
  outboxMaxLen: int(1).default(10_000),
  /**
   * How far V8 lets the heap grow past what the last full GC kept, in percent (V8's
   * `--heap-growing-percent`; process-wide, set when the edge starts). Left to itself V8 shrinks
   * that room to ~10 % when the main thread is busy, so a saturated edge ran a full mark-compact of
   * its ~70 MB heap every ~250 ms (48 in 20 s) and lost ~12 % of its frames to it. 0: V8's own
   * heuristic. @defaultValue 100
   */
  heapGrowthPercent: int(0, 400).default(100),
  /** Bytes of ingested frames held in memory for this process's own claims (0 = always read Redis). */
  localFrameBytes: int(0).default(64 * 1024 * 1024),
  /**
   * Motion gating (Frigate's): a camera frame that barely differs from the camera's last detected
   * frame repeats that frame's detections instead of running the models (`inference/motion.ts`).
   * @defaultValue false
   */
  motionGate: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')])
    .default(false),
  /** Motion gating: grey levels (0–255) a thumbnail pixel must change by to count as moved. @defaultValue 20 */
  motionThreshold: int(1, 255).default(20),
  /** Motion gating: fraction of the thumbnail that must move for a frame to have motion. @defaultValue 0.002 */
  motionMinArea: z.coerce.number().min(0).max(1).default(0.002),
  /** Motion gating: a camera's models run at least this often, motion or not. @defaultValue 5 s */
  motionMaxSkipMs: int(0, 3_600_000).default(5000),
  /** The store this node belongs to (on every analytics event). @defaultValue 'store-1' */
  storeId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'store id must be 1–64 of A-Z a-z 0-9 _ . -')
    .default('store-1'),
  /** The store's IANA time zone: the day line counts start at local midnight. @defaultValue 'UTC' */
  timezone: z
    .string()
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'not an IANA time zone (e.g. Asia/Shanghai)')
    .default('UTC'),
  /** How long analytics events wait in the event outbox for the uploader. @defaultValue 7 days */
  eventRetentionMs: int(60_000).default(7 * 24 * 3600 * 1000),
  /**
   * The model hub analytics events are uploaded to (`POST <hubUrl>/v1/events/batch`). No hub, no
   * uploader: events stay in the outbox for `eventRetentionMs` (GET /v1/events still pages them).
   */
  hubUrl: z
    .string()
    .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** The hub API token of this node (role `node`), sent as `Authorization: Bearer`. */
  hubToken: z.string().min(1).optional(),
  /**
   * An enrolment token issued by a hub admin (`POST /v1/enrolment-tokens`), exchanged once for
   * this node's own token, which is then kept in `<dataDir>/hub-node-token`. Used when no `hubToken`.
   */
  hubEnrolmentToken: z.string().min(16).optional(),
  /**
   * The hub's ed25519 public key (PEM text, or a path to a PEM file), pinned: the model agent runs
   * only versions signed by it. With `hubUrl` and a token it turns the model agent on.
   */
  hubPublicKey: z.string().min(1).optional(),
  /** Labels this node reports to the hub (rollout targets), e.g. `{tier: 'canary'}`. */
  nodeLabels: z.record(z.string(), z.string()).optional(),
  /** Verified model versions from the hub. @defaultValue `<dataDir>/model-cache` */
  modelCacheDir: z.string().min(1).optional(),
  /** Cache size above which versions no longer live, previous or desired are evicted (LRU). @defaultValue 2 GiB */
  modelCacheMaxBytes: int(1).default(2 * 1024 ** 3),
  /** Long-poll wait of the desired-state request. @defaultValue 30 s */
  modelSyncWaitSeconds: int(0, 300).default(30),
  /**
   * Learn of desired-state changes over the hub's push channel (SSE), long-polling only when it is
   * unavailable; false long-polls only (e.g. behind a proxy known to break streams). @defaultValue true
   */
  modelSyncPush: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')])
    .default(true),
  /** How often the node reports its models' health to the hub. @defaultValue 10 s */
  modelHealthIntervalMs: int(100).default(10_000),
  /**
   * With a hub: how often each camera this node runs analytics for sends the hub a snapshot (a
   * JPEG of at most `snapshotMaxSide` px with that frame's boxes and the camera's zones and lines)
   * for the dashboard's camera view; 0 sends none. @defaultValue 10 s
   */
  snapshotIntervalMs: int(0, 3_600_000)
    .refine((v) => v === 0 || v >= 1000, 'snapshotIntervalMs is 0 (off) or at least 1000')
    .default(10_000),
  /** Long side of a snapshot, in pixels. @defaultValue 640 */
  snapshotMaxSide: int(64, 1280).default(640),
  /** Blur the people in a snapshot before it leaves the store. @defaultValue true */
  snapshotBlurPeople: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')])
    .default(true),
  /** Events per upload batch. @defaultValue 500 */
  uploadBatchSize: int(1, 5000).default(500),
  /**
   * Ceiling on the upload rate, so a store coming back from a long outage drains its backlog
   * without flooding the hub (live events still go first, see the uploader). @defaultValue 5000
   */
  uploadMaxEventsPerSecond: int(1).default(5000),
  /** Longest wait between tries while the hub is unreachable (exponential back-off, full jitter). @defaultValue 60 s */
  uploadMaxBackoffMs: int(100).default(60_000),
  /**
   * Cap on the event outbox (events), besides its age limit: beyond it the oldest events are
   * trimmed, and counted in `edge_events_dropped_total`. @defaultValue 1 000 000
   */
  eventOutboxMaxLen: int(100).default(1_000_000),
  /** Synchronous requests (detect, v2 infer) waiting for a thread, per thread, before 503. @defaultValue 8 */
  maxQueuedRequestsPerThread: int(0, 10_000).default(8),
  /** `Retry-After` on 503s from an unreachable Redis or saturated workers. @defaultValue 1 */
  retryAfterSeconds: int(1, 3600).default(1),
  /**
   * The orchestrator to register with and take assignments from. Absent: no orchestrator, every
   * camera runs every model of `models` (the behaviour before the orchestrator existed).
   */
  orchestratorUrl: z
    .string()
    .regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** Where cameras and the other edges of the store reach this node. @defaultValue http://<host>:<port> as listened */
  advertiseUrl: z
    .string()
    .regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL')
    .optional(),
  /** OpenYurt node pool label; @defaultValue the store id */
  nodePool: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .optional(),
  /** Zone label (rack, room) for spreading. */
  zone: z.string().max(64).optional(),
  /** How often the node heartbeats to the orchestrator. @defaultValue 2 s (the orchestrator's timeout is 10 s) */
  heartbeatIntervalMs: int(50).default(2000),
  /**
   * With an orchestrator: forward push frames of a camera another node of the store runs to that
   * node (its 202 comes back), instead of answering 421 + `Location`. @defaultValue true
   */
  forwardFrames: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')])
    .default(true),
  /** Time budget of one forwarded frame; past it the camera gets 421 + `Location`. @defaultValue 2 s */
  forwardTimeoutMs: int(50, 60_000).default(2000),
  /** While the orchestrator is unreachable: how often the store's other edges are probed (`/healthz`). @defaultValue 2 s */
  peerProbeIntervalMs: int(50, 60_000).default(2000),
  /**
   * While the orchestrator is unreachable: a peer failing every probe for this long is down, and
   * its cameras move by the store-local rule. @defaultValue 10 s (the orchestrator's heartbeat timeout)
   */
  localFailoverMs: int(100, 3_600_000).default(10_000),
  /** Length of the start-up throughput measurement per model. @defaultValue 1 s */
  throughputProbeMs: int(0, 60_000).default(1000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type EdgeConfig = Readonly<z.infer<typeof edgeConfigSchema>>;
export type EdgeConfigInput = z.input<typeof edgeConfigSchema>;

const ENV: Record<string, keyof EdgeConfigInput> = {
  EDGE_PORT: 'port',
  EDGE_HOST: 'host',
  EDGE_NODE_ID: 'nodeId',
  EDGE_REDIS_URL: 'redisUrl',
  EDGE_DATA_DIR: 'dataDir',
  EDGE_REDIS_PREFIX: 'redisPrefix',
  EDGE_MODELS_DIR: 'modelsDir',
  EDGE_MODELS: 'models',
  EDGE_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  EDGE_MAX_PIXELS: 'maxPixels',
  EDGE_CORES: 'cores',
  EDGE_INFERENCE_THREADS: 'inferenceThreads',
  EDGE_INTRA_OP_THREADS: 'intraOpThreads',
  EDGE_INFERENCE_TIMEOUT_MS: 'inferenceTimeoutMs',
  EDGE_FRAME_ATTEMPTS: 'frameAttempts',
  EDGE_RUNNER_IDLE_MS: 'runnerIdleMs',
  EDGE_FRAME_TTL_MS: 'frameTtlMs',
  EDGE_OUTBOX_MAX_LEN: 'outboxMaxLen',
  EDGE_LOCAL_FRAME_BYTES: 'localFrameBytes',
  EDGE_HEAP_GROWTH_PERCENT: 'heapGrowthPercent',
  EDGE_MOTION_GATE: 'motionGate',
  EDGE_MOTION_THRESHOLD: 'motionThreshold',
  EDGE_MOTION_MIN_AREA: 'motionMinArea',
  EDGE_MOTION_MAX_SKIP_MS: 'motionMaxSkipMs',
  EDGE_MAX_QUEUED_REQUESTS_PER_THREAD: 'maxQueuedRequestsPerThread',
  EDGE_STORE_ID: 'storeId',
  EDGE_TIMEZONE: 'timezone',
  EDGE_EVENT_RETENTION_MS: 'eventRetentionMs',
  EDGE_HUB_URL: 'hubUrl',
  EDGE_HUB_TOKEN: 'hubToken',
  EDGE_HUB_ENROLMENT_TOKEN: 'hubEnrolmentToken',
  EDGE_HUB_PUBLIC_KEY: 'hubPublicKey',
  EDGE_NODE_LABELS: 'nodeLabels',
  EDGE_MODEL_CACHE_DIR: 'modelCacheDir',
  EDGE_MODEL_CACHE_MAX_BYTES: 'modelCacheMaxBytes',
  EDGE_MODEL_SYNC_WAIT_SECONDS: 'modelSyncWaitSeconds',
  EDGE_MODEL_SYNC_PUSH: 'modelSyncPush',
  EDGE_MODEL_HEALTH_INTERVAL_MS: 'modelHealthIntervalMs',
  EDGE_SNAPSHOT_INTERVAL_MS: 'snapshotIntervalMs',
  EDGE_SNAPSHOT_MAX_SIDE: 'snapshotMaxSide',
  EDGE_SNAPSHOT_BLUR_PEOPLE: 'snapshotBlurPeople',
  EDGE_UPLOAD_BATCH_SIZE: 'uploadBatchSize',
  EDGE_UPLOAD_MAX_EVENTS_PER_SECOND: 'uploadMaxEventsPerSecond',
  EDGE_UPLOAD_MAX_BACKOFF_MS: 'uploadMaxBackoffMs',
  EDGE_EVENT_OUTBOX_MAX_LEN: 'eventOutboxMaxLen',
  EDGE_RETRY_AFTER_SECONDS: 'retryAfterSeconds',
  EDGE_LOG_LEVEL: 'logLevel',
  EDGE_ORCHESTRATOR_URL: 'orchestratorUrl',
  EDGE_ADVERTISE_URL: 'advertiseUrl',
  EDGE_NODE_POOL: 'nodePool',
  EDGE_ZONE: 'zone',
  EDGE_HEARTBEAT_INTERVAL_MS: 'heartbeatIntervalMs',
  EDGE_THROUGHPUT_PROBE_MS: 'throughputProbeMs',
  EDGE_FORWARD_FRAMES: 'forwardFrames',
  EDGE_FORWARD_TIMEOUT_MS: 'forwardTimeoutMs',
  EDGE_PEER_PROBE_INTERVAL_MS: 'peerProbeIntervalMs',
  EDGE_LOCAL_FAILOVER_MS: 'localFailoverMs',
};

/** Names of the environment variables, for `--help` and the README. */
export const EDGE_ENV_VARS = Object.keys(ENV);

export class EdgeConfigError extends Error {
  override readonly name = 'EdgeConfigError';
  readonly code = 'EDGE_ERR_CONFIG';
}

/** Environment, then explicit overrides (CLI options), through the schema; throws `EdgeConfigError`. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<EdgeConfigInput> = {},
): EdgeConfig {
  const parsed = parseServiceConfig(edgeConfigSchema, ENV, env, overrides, {
    models: envList,
    nodeLabels: envRecord,
  });
  if (!parsed.ok) throw new EdgeConfigError(`invalid edge configuration: ${parsed.detail}`);
  return Object.freeze({ ...parsed.data, models: Object.freeze([...parsed.data.models]) as string[] });
}
