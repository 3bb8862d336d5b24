import { type Kysely, sql } from 'kysely';
import type { HubDatabase } from '../db/schema.ts';

/** Readiness: the metadata database answers a trivial query within a second. */
export class HealthService {
  constructor(private readonly opts: { db: Kysely<HubDatabase>; databaseKind: string }) {}

  async readiness(): Promise<{ ready: boolean; database: { kind: string; ok: boolean; error?: string } }> {
    try {
      await Promise.race([
        sql`select 1`.execute(this.opts.db),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), 1000).unref()),
      ]);
      return { ready: true, database: { kind: this.opts.databaseKind, ok: true } };
    } catch (err) {
      return {
        ready: false,
        database: { kind: this.opts.databaseKind, ok: false, error: (err as Error).message },
      };
    }
  }
}
