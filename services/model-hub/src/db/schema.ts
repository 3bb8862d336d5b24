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
  /** Not used yet; Generated keeps inserts from having to name it. */
  last_used_at: Generated<string | null>;
}
