import type { ColumnType, Generated } from 'kysely';

/**
 * The hub's tables as Kysely sees them. Timestamps are ISO-8601 text (the same on SQLite and
 * PostgreSQL, and they sort); sizes are `bigint`, which `pg` returns as a string, so repositories
 * read them through `Number()`.
 */
export interface HubDatabase {
  models: ModelsTable;
  model_versions: ModelVersionsTable;
  model_aliases: ModelAliasesTable;
  api_tokens: ApiTokensTable;
  stores: StoresTable;
  store_nodes: StoreNodesTable;
  store_events: StoreEventsTable;
  event_rollups: EventRollupsTable;
  nodes: NodesTable;
  node_models: NodeModelsTable;
  enrolment_tokens: EnrolmentTokensTable;
  rollouts: RolloutsTable;
  rollout_nodes: RolloutNodesTable;
  level_samples: LevelSamplesTable;
  camera_snapshots: CameraSnapshotsTable;
}

/**
 * The reports of levels (occupancy, queue length) per series, kept as long as raw events: a late
 * report needs its neighbours to split the step segment it falls in (see `levelDeltas`).
 */
export interface LevelSamplesTable {
  store_id: string;
  metric: string;
  camera_id: string;
  subject: string;
  /** Capture time, ISO UTC. */
  time: string;
  value: number;
}

/**
 * The latest snapshot of each camera: the JPEG is a file under `<dataDir>/snapshots` named by its
 * digest (see `SnapshotStore`), its overlay (boxes, zones, lines) is here.
 */
export interface CameraSnapshotsTable {
  store_id: string;
  camera_id: string;
  node_id: string;
  /** `sha256:<hex>` of the JPEG (its file name and ETag). */
  digest: string;
  size_bytes: ColumnType<number | string, number, number>;
  width: number;
  height: number;
  /** Capture time of the frame, ISO UTC. */
  captured_at: string;
  received_at: string;
  /** The overlay (`CameraSnapshotMeta` without the image), JSON text. */
  meta: string;
}

/** Edges known to the hub (enrolled, or first seen through a health report). */
export interface NodesTable {
  id: string;
  store_id: string;
  node_pool: string | null;
  /** JSON object text. */
  labels: string;
  /** The node token bound to this node (enrolment, or the first node token that reported). */
  token_id: string | null;
  /** The last health report (JSON text) and when it arrived. */
  health: string | null;
  health_at: string | null;
  created_at: string;
  updated_at: string;
}

/** Desired state: the version of each model a node should run (absent: whatever it has). */
export interface NodeModelsTable {
  node_id: string;
  model: string;
  version: string;
  rollout_id: string | null;
  updated_at: string;
}

/** Enrolment (bootstrap) tokens, hashed like API tokens; exchanged for per-node tokens. */
export interface EnrolmentTokensTable {
  id: string;
  token_hash: string;
  store_id: string | null;
  uses_left: number;
  label: string | null;
  created_at: string;
  expires_at: string;
}

export interface RolloutsTable {
  id: string;
  model: string;
  version: string;
  /** running | paused | completed | rolled_back */
  state: string;
  current_wave: number;
  /** JSON: [{percent?, stores: [...], holdSeconds}] with the stores resolved at creation. */
  waves: string;
  /** JSON: {maxErrorRate, maxP99LatencyMs} */
  health: string;
  reason: string | null;
  wave_started_at: string | null;
  /** Since when every node of the current wave has been healthy (the hold counts from here). */
  wave_healthy_since: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface RolloutNodesTable {
  rollout_id: string;
  node_id: string;
  store_id: string;
  wave: number;
  /** pending | updating | healthy | failed | rolled_back */
  state: string;
  /** What the node ran before this rollout moved it (the rollback target). */
  previous_version: string | null;
  error: string | null;
  updated_at: string;
}

export interface StoresTable {
  id: string;
  name: string;
  /** IANA time zone: day rollups start at the store-local midnight. */
  timezone: string;
  created_at: string;
  updated_at: string;
  /** Capture time of the newest event received (ISO, UTC). */
  last_event_time: string | null;
}

export interface StoreNodesTable {
  store_id: string;
  node_id: string;
  /** Last upload or heartbeat. */
  last_seen_at: string;
  /** Events the node still held when it last reported. */
  backlog: number | null;
}

/** Raw events, kept `eventRetentionMs` after receipt; the primary key is the idempotency key. */
export interface StoreEventsTable {
  id: string;
  store_id: string;
  camera_id: string;
  node_id: string;
  type: string;
  /** Capture time, ISO UTC. */
  time: string;
  received_at: string;
  /** The event, JSON text. */
  body: string;
}

/**
 * Additive aggregates per store, camera, subject (zone or line; '' for none), metric and bucket
 * (`1m`, `1h` UTC-aligned; `1d` aligned to the store-local midnight, `start` is its UTC instant).
 * Every column merges by addition (or max), so late and out-of-order events fold in with one upsert.
 * `h0`…`h11` are a dwell histogram (bounds in `DWELL_BOUNDS_SECONDS`).
 */
export interface EventRollupsTable {
  store_id: string;
  camera_id: string;
  subject: string;
  metric: string;
  bucket: string;
  start: string;
  n: ColumnType<number | string, number, number>;
  sum: number;
  max: number;
  h0: ColumnType<number | string, number, number>;
  h1: ColumnType<number | string, number, number>;
  h2: ColumnType<number | string, number, number>;
  h3: ColumnType<number | string, number, number>;
  h4: ColumnType<number | string, number, number>;
  h5: ColumnType<number | string, number, number>;
  h6: ColumnType<number | string, number, number>;
  h7: ColumnType<number | string, number, number>;
  h8: ColumnType<number | string, number, number>;
  h9: ColumnType<number | string, number, number>;
  h10: ColumnType<number | string, number, number>;
  h11: ColumnType<number | string, number, number>;
  /** Levels: Σ value × ms of the step function in the bucket, and the ms it covers (migration 0005). */
  tw_sum: number;
  tw_ms: number;
}

export interface ModelsTable {
  name: string;
  created_at: string;
  updated_at: string;
}

export interface ModelVersionsTable {
  name: string;
  version: string;
  digest: string;
  size_bytes: ColumnType<number | string, number, number>;
  /** The validated manifest, JSON text. */
  manifest: string;
  /** Base64 ed25519 signature over the canonical `{name, version, digest, manifest}`. */
  signature: string;
  signing_key_id: string;
  created_at: string;
  /** Id of the token that published it (`bootstrap` for the configured admin token). */
  created_by: string;
}

export interface ModelAliasesTable {
  name: string;
  alias: string;
  version: string;
  updated_at: string;
}

export interface ApiTokensTable {
  id: string;
  /** sha256 (hex) of the secret; the secret itself is never stored. */
  token_hash: string;
  role: string;
  label: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  /** Store scope, JSON array text; null means every store (migration 0004). */
  stores: string | null;
  /** Not used yet; Generated keeps inserts from having to name it. */
  last_used_at: Generated<string | null>;
}
