import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { modelNameSchema } from '@storevision/contracts';
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
  /** How long an accepted frame's bytes live in Redis if nothing processes them. @defaultValue 60 s */
  frameTtlMs: int(1000).default(60_000),
  /** Approximate cap on the outbox stream (`XADD MAXLEN ~`). @defaultValue 10 000 */
  outboxMaxLen: int(1).default(10_000),
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
  /** Synchronous requests (detect, v2 infer) waiting for a thread, per thread, before 503. @defaultValue 8 */
  maxQueuedRequestsPerThread: int(0, 10_000).default(8),
  /** `Retry-After` on 503s from an unreachable Redis or saturated workers. @defaultValue 1 */
  retryAfterSeconds: int(1, 3600).default(1),
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
  EDGE_FRAME_TTL_MS: 'frameTtlMs',
  EDGE_OUTBOX_MAX_LEN: 'outboxMaxLen',
  EDGE_MAX_QUEUED_REQUESTS_PER_THREAD: 'maxQueuedRequestsPerThread',
  EDGE_STORE_ID: 'storeId',
  EDGE_TIMEZONE: 'timezone',
  EDGE_EVENT_RETENTION_MS: 'eventRetentionMs',
  EDGE_RETRY_AFTER_SECONDS: 'retryAfterSeconds',
  EDGE_LOG_LEVEL: 'logLevel',
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
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    raw[key] =
      key === 'models'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v;
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  const parsed = edgeConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new EdgeConfigError(`invalid edge configuration: ${detail}`);
  }
  return Object.freeze({ ...parsed.data, models: Object.freeze([...parsed.data.models]) as string[] });
}
