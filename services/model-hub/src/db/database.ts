import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { HubDatabase } from './schema.ts';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface HubDb {
  db: Kysely<HubDatabase>;
  kind: DatabaseKind;
  close(): Promise<void>;
}

/**
 * Opens the metadata database named by `url`: `postgres://…` through a `pg` pool, anything else
 * as a SQLite file through better-sqlite3 (WAL, foreign keys on, 5 s busy timeout). The same
 * Kysely code runs on both.
 */
export function openDatabase(url: string): HubDb {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    const db = new Kysely<HubDatabase>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', close: () => db.destroy() };
  }
  const file = url.replace(/^(sqlite|file):(\/\/)?/, '');
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<HubDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, kind: 'sqlite', close: () => db.destroy() };
}
