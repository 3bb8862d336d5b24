import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { HubError } from '../errors.ts';
import type { HubDatabase } from './schema.ts';

/**
 * Schema migrations, in code (no migration folder to ship or find at run time). Names sort in the
 * order they run; a migration, once released, never changes — add a new one instead. Only types
 * both SQLite and PostgreSQL understand are used, so one list serves both.
 */
const migrations: Record<string, Migration> = {
  '0001_registry': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('models')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('model_versions')
        .addColumn('name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('signing_key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_versions_pk', ['name', 'version'])
        .execute();
      await db.schema.createIndex('model_versions_digest').on('model_versions').column('digest').execute();
      await db.schema
        .createTable('model_aliases')
        .addColumn('name', 'text', (c) => c.notNull().references('models.name'))
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_aliases_pk', ['name', 'alias'])
        .addForeignKeyConstraint('model_aliases_version_fk', ['name', 'version'], 'model_versions', [
          'name',
          'version',
        ])
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('label', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['api_tokens', 'model_aliases', 'model_versions', 'models'])
        await db.schema.dropTable(t).execute();
    },
  },
  '0002_store_events': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('stores')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('last_event_time', 'text')
        .execute();
      await db.schema
        .createTable('store_nodes')
        .addColumn('store_id', 'text', (c) => c.notNull().references('stores.id'))
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .addColumn('backlog', 'bigint')
        .addPrimaryKeyConstraint('store_nodes_pk', ['store_id', 'node_id'])
        .execute();
      await db.schema
        .createTable('store_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('camera_id', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('store_events_store_time')
        .on('store_events')
        .columns(['store_id', 'time'])
        .execute();
      await db.schema.createIndex('store_events_received').on('store_events').column('received_at').execute();
      let rollups = db.schema
        .createTable('event_rollups')
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('bucket', 'text', (c) => c.notNull())
        .addColumn('start', 'text', (c) => c.notNull())
        .addColumn('camera_id', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addColumn('sum', 'double precision', (c) => c.notNull())
        .addColumn('max', 'double precision', (c) => c.notNull());
      for (let i = 0; i < 12; i++)
        rollups = rollups.addColumn(`h${i}`, 'bigint', (c) => c.notNull().defaultTo(0));
      // Key order = the metrics query: one store, one metric, one bucket size, a time range.
      await rollups
        .addPrimaryKeyConstraint('event_rollups_pk', [
          'store_id',
          'metric',
          'bucket',
          'start',
          'camera_id',
          'subject',
        ])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['event_rollups', 'store_events', 'store_nodes', 'stores'])
        await db.schema.dropTable(t).execute();
    },
  },
  '0003_nodes_rollouts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('node_pool', 'text')
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text')
        .addColumn('health', 'text')
        .addColumn('health_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('node_models')
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id'))
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('rollout_id', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_models_pk', ['node_id', 'model'])
        .execute();
      await db.schema
        .createTable('enrolment_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('store_id', 'text')
        .addColumn('uses_left', 'integer', (c) => c.notNull())
        .addColumn('label', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('rollouts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('current_wave', 'integer', (c) => c.notNull())
        .addColumn('waves', 'text', (c) => c.notNull())
        .addColumn('health', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('wave_started_at', 'text')
        .addColumn('wave_healthy_since', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('rollouts_model_state')
        .on('rollouts')
        .columns(['model', 'state'])
        .execute();
      await db.schema
        .createTable('rollout_nodes')
        .addColumn('rollout_id', 'text', (c) => c.notNull().references('rollouts.id'))
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('wave', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('previous_version', 'text')
        .addColumn('error', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('rollout_nodes_pk', ['rollout_id', 'node_id'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['rollout_nodes', 'rollouts', 'enrolment_tokens', 'node_models', 'nodes'])
        await db.schema.dropTable(t).execute();
    },
  },
  '0004_token_store_scope': {
    // A token's store scope: a JSON array of store ids, or null for every store.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_tokens').addColumn('stores', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('api_tokens').dropColumn('stores').execute();
    },
  },
  '0005_time_weighted_levels': {
    // Time-weighted occupancy and queue length: the weights in the rollups, and the reports a late
    // one is placed between. Rows from before read as means of their reports (tw_ms 0).
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('event_rollups')
        .addColumn('tw_sum', 'double precision', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('event_rollups')
        .addColumn('tw_ms', 'double precision', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('level_samples')
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('camera_id', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('level_samples_pk', ['store_id', 'metric', 'camera_id', 'subject', 'time'])
        .execute();
      await db.schema.createIndex('level_samples_time').on('level_samples').column('time').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('level_samples').execute();
      await db.schema.alterTable('event_rollups').dropColumn('tw_ms').execute();
      await db.schema.alterTable('event_rollups').dropColumn('tw_sum').execute();
    },
  },
  '0006_camera_snapshots': {
    // The latest snapshot of each camera (the JPEG itself is a file, see SnapshotStore).
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('camera_snapshots')
        .addColumn('store_id', 'text', (c) => c.notNull())
        .addColumn('camera_id', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('captured_at', 'text', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addColumn('meta', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('camera_snapshots_pk', ['store_id', 'camera_id'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('camera_snapshots').execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the schema up to date; throws `HUB_ERR_DATABASE_UNAVAILABLE` with the failing migration. */
export async function migrateToLatest(db: Kysely<HubDatabase>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '(before any migration)';
    throw new HubError('HUB_ERR_DATABASE_UNAVAILABLE', `migration ${failed} failed: ${String(error)}`, {
      cause: error,
    });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
