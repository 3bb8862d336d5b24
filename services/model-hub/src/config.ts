import path from 'node:path';
import { parseServiceConfig } from '@storevision/contracts';
import { z } from 'zod';
import { DEFAULT_LEVEL_HOLD_MS } from './services/rollup.ts';

/**
 * The hub's configuration: one zod schema, parsed by `loadConfig(env, overrides)` (never at import
 * time), frozen. Defaults make `storevision hub` work on a laptop: SQLite and blobs under
 * `.data/hub` (git-ignored), a signing key generated there on first start. Environment variables
 * are `HUB_*`; the CLI passes its options as overrides.
 */

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

export const hubConfigSchema = z
  .object({
    /** HTTP port. @defaultValue 8090 */
    port: int(0, 65535).default(8090),
    /** Interface to listen on. @defaultValue '0.0.0.0' */
    host: z.string().min(1).default('0.0.0.0'),
    /** Blobs (`<dataDir>/blobs`), the SQLite file and the signing key live here. @defaultValue '.data/hub' */
    dataDir: z.string().min(1).default('.data/hub'),
    /**
     * Metadata database: `postgres://…` / `postgresql://…` for PostgreSQL, `sqlite:<file>` (or a
     * plain file path) for SQLite. @defaultValue `sqlite:<dataDir>/hub.sqlite`
     */
    databaseUrl: z.string().min(1).optional(),
    /** Largest model file a publish may upload. @defaultValue 2 GiB */
    maxUploadBytes: int(1024).default(2 * 1024 ** 3),
    /** ed25519 private key (PKCS#8 PEM); generated on first start. @defaultValue `<dataDir>/signing-key.pem` */
    signingKeyPath: z.string().min(1).optional(),
    /**
     * Bootstrap admin token (≥ 16 characters) for first use, compared with the request's token and
     * never stored. When absent the hub generates one on first start and keeps it in
     * `<dataDir>/admin-token` (mode 0600).
     */
    adminToken: z.string().min(16, 'the admin token must be at least 16 characters').optional(),
    /**
     * How long raw store events are kept after they arrive (and so how long a re-sent event is
     * recognised as a duplicate: keep it above the edges' outbox retention, 7 days by default).
     * Minute rollups are kept as long; hour and day rollups are kept. @defaultValue 30 days
     */
    eventRetentionMs: int(60_000).default(30 * 24 * 3600 * 1000),
    /**
     * Occupancy and queue length are time-weighted: a report's value holds until the next report
     * of its camera and zone, but at most this long (a camera that stopped reporting does not
     * hold its last count forever). Keep it above the edges' report interval (60 s occupancy, 30 s
     * queue by default). @defaultValue 5 min
     */
    levelHoldMs: int(1000, 86_400_000).default(DEFAULT_LEVEL_HOLD_MS),
    /** How often retention runs (the first time a minute after start); 0 turns it off. @defaultValue 1 h */
    eventPruneIntervalMs: int(0).default(3_600_000),
    /** A node counts as up when it uploaded or sent a heartbeat this recently. @defaultValue 90 s */
    nodeUpAfterMs: int(1000).default(90_000),
    /** Largest camera snapshot (JPEG) an edge may upload; the hub keeps the latest per camera. @defaultValue 512 KiB */
    maxSnapshotBytes: int(1024, 16 * 1024 * 1024).default(512 * 1024),
    /** Largest event batch, decompressed. @defaultValue 16 MiB */
    maxEventBatchBytes: int(1024).default(16 * 1024 * 1024),
    /** Validating a published model (parse, onnxruntime load, graph check) longer than this fails. @defaultValue 120 s */
    validationTimeoutMs: int(1000).default(120_000),
    /** How often running rollouts are evaluated (health reports also trigger it). @defaultValue 1 s */
    rolloutTickMs: int(50).default(1000),
    /** A wave node that has not switched to the new version by then counts as a breach. @defaultValue 10 min */
    rolloutNodeTimeoutMs: int(1000).default(600_000),
    /**
     * Heartbeat of the desired-state push channel (SSE): a comment this often keeps proxies from
     * closing an idle stream and lets edges tell a dead one; the state is re-read each time (how a
     * change made through another hub replica reaches the edge). Edges give a stream up after
     * 45 s without a byte, so keep it well under that. @defaultValue 15 s
     */
    pushHeartbeatMs: int(100, 60_000).default(15_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .transform((c) => ({
    ...c,
    databaseUrl: c.databaseUrl ?? `sqlite:${path.join(c.dataDir, 'hub.sqlite')}`,
    signingKeyPath: c.signingKeyPath ?? path.join(c.dataDir, 'signing-key.pem'),
  }))
  .refine(
    (c) => /^(postgres(ql)?:\/\/|sqlite:|file:)/.test(c.databaseUrl) || !c.databaseUrl.includes('://'),
    {
      message: 'databaseUrl must be postgres://…, postgresql://…, sqlite:<file> or a file path',
      path: ['databaseUrl'],
    },
  );

export type HubConfig = Readonly<z.output<typeof hubConfigSchema>>;
export type HubConfigInput = z.input<typeof hubConfigSchema>;

const ENV: Record<string, keyof HubConfigInput> = {
  HUB_PORT: 'port',
  HUB_HOST: 'host',
  HUB_DATA_DIR: 'dataDir',
  HUB_DATABASE_URL: 'databaseUrl',
  HUB_MAX_UPLOAD_BYTES: 'maxUploadBytes',
  HUB_SIGNING_KEY_PATH: 'signingKeyPath',
  HUB_ADMIN_TOKEN: 'adminToken',
  HUB_VALIDATION_TIMEOUT_MS: 'validationTimeoutMs',
  HUB_EVENT_RETENTION_MS: 'eventRetentionMs',
  HUB_LEVEL_HOLD_MS: 'levelHoldMs',
  HUB_NODE_UP_AFTER_MS: 'nodeUpAfterMs',
  HUB_EVENT_PRUNE_INTERVAL_MS: 'eventPruneIntervalMs',
  HUB_MAX_EVENT_BATCH_BYTES: 'maxEventBatchBytes',
  HUB_MAX_SNAPSHOT_BYTES: 'maxSnapshotBytes',
  HUB_ROLLOUT_TICK_MS: 'rolloutTickMs',
  HUB_ROLLOUT_NODE_TIMEOUT_MS: 'rolloutNodeTimeoutMs',
  HUB_PUSH_HEARTBEAT_MS: 'pushHeartbeatMs',
  HUB_LOG_LEVEL: 'logLevel',
};

/** Names of the environment variables, for `--help` and the README. */
export const HUB_ENV_VARS = Object.keys(ENV);

export class HubConfigError extends Error {
  override readonly name = 'HubConfigError';
  readonly code = 'HUB_ERR_CONFIG';
}

/** Environment, then explicit overrides (CLI options), through the schema; throws `HubConfigError`. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<HubConfigInput> = {},
): HubConfig {
  const parsed = parseServiceConfig(hubConfigSchema, ENV, env, overrides);
  if (!parsed.ok) throw new HubConfigError(`invalid hub configuration: ${parsed.detail}`);
  return Object.freeze(parsed.data);
}
