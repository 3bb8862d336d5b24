import type { Kysely } from 'kysely';
import type { HubDatabase } from '../db/schema.ts';

/** A version row as the service uses it (manifest still JSON text, exactly as signed). */
export interface VersionRecord {
  name: string;
  version: string;
  digest: string;
  sizeBytes: number;
  manifestJson: string;
  signature: string;
  signingKeyId: string;
  createdAt: string;
  createdBy: string;
}

export interface ModelRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
  versions: Array<{ version: string; createdAt: string }>;
  aliases: Record<string, string>;
}

/** Models, versions and aliases in the metadata database. The only place that writes SQL for them. */
export class ModelRepository {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  /**
   * Inserts a version (and its model when new) in one transaction. Resolves `false`, writing
   * nothing, when that version already exists — the caller decides whether that is idempotent or a
   * conflict. `ON CONFLICT DO NOTHING` works alike on SQLite and PostgreSQL, so no driver error
   * codes are sniffed.
   */
  async insertVersion(v: VersionRecord): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('models')
        .values({ name: v.name, created_at: v.createdAt, updated_at: v.createdAt })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const res = await trx
        .insertInto('model_versions')
        .values({
          name: v.name,
          version: v.version,
          digest: v.digest,
          size_bytes: v.sizeBytes,
          manifest: v.manifestJson,
          signature: v.signature,
          signing_key_id: v.signingKeyId,
          created_at: v.createdAt,
          created_by: v.createdBy,
        })
        .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
        .executeTakeFirst();
      const inserted = Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
      if (inserted)
        await trx.updateTable('models').set({ updated_at: v.createdAt }).where('name', '=', v.name).execute();
      return inserted;
    });
  }

  async getVersion(name: string, version: string): Promise<VersionRecord | undefined> {
    const row = await this.db
      .selectFrom('model_versions')
      .selectAll()
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toVersion(row);
  }

  async listVersions(name: string): Promise<VersionRecord[]> {
    const rows = await this.db.selectFrom('model_versions').selectAll().where('name', '=', name).execute();
    return rows.map(toVersion);
  }

  async modelExists(name: string): Promise<boolean> {
    const row = await this.db.selectFrom('models').select('name').where('name', '=', name).executeTakeFirst();
    return row !== undefined;
  }

  async listModels(): Promise<ModelRecord[]> {
    const [models, versions, aliases] = await Promise.all([
      this.db.selectFrom('models').selectAll().orderBy('name').execute(),
      this.db.selectFrom('model_versions').select(['name', 'version', 'created_at']).execute(),
      this.db.selectFrom('model_aliases').select(['name', 'alias', 'version']).execute(),
    ]);
    return models.map((m) => ({
      name: m.name,
      createdAt: m.created_at,
      updatedAt: m.updated_at,
      versions: versions
        .filter((v) => v.name === m.name)
        .map((v) => ({ version: v.version, createdAt: v.created_at })),
      aliases: Object.fromEntries(aliases.filter((a) => a.name === m.name).map((a) => [a.alias, a.version])),
    }));
  }

  async setAlias(name: string, alias: string, version: string, at: string): Promise<void> {
    await this.db
      .insertInto('model_aliases')
      .values({ name, alias, version, updated_at: at })
      .onConflict((oc) => oc.columns(['name', 'alias']).doUpdateSet({ version, updated_at: at }))
      .execute();
  }

  async getAlias(name: string, alias: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('model_aliases')
      .select('version')
      .where('name', '=', name)
      .where('alias', '=', alias)
      .executeTakeFirst();
    return row?.version;
  }

  async aliasesOf(name: string): Promise<Record<string, string>> {
    const rows = await this.db
      .selectFrom('model_aliases')
      .select(['alias', 'version'])
      .where('name', '=', name)
      .execute();
    return Object.fromEntries(rows.map((r) => [r.alias, r.version]));
  }

  /** Whether any version still points at this blob (a failed publish only removes unreferenced ones). */
  async digestReferenced(digest: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('model_versions')
      .select('name')
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }
}

function toVersion(row: {
  name: string;
  version: string;
  digest: string;
  size_bytes: number | string;
  manifest: string;
  signature: string;
  signing_key_id: string;
  created_at: string;
  created_by: string;
}): VersionRecord {
  return {
    name: row.name,
    version: row.version,
    digest: row.digest,
    sizeBytes: Number(row.size_bytes),
    manifestJson: row.manifest,
    signature: row.signature,
    signingKeyId: row.signing_key_id,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}
