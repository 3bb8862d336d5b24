import type { Kysely } from 'kysely';
import type { HubDatabase } from '../db/schema.ts';

export interface StoreRecord {
  id: string;
  name: string;
  timezone: string;
  createdAt: string;
  updatedAt: string;
  lastEventTime: string | null;
}

export interface StoreNodeRecord {
  storeId: string;
  nodeId: string;
  lastSeenAt: string;
  backlog: number | null;
}

/** Stores and the nodes that report for them. */
export class StoreRepository {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  async list(): Promise<StoreRecord[]> {
    return (await this.db.selectFrom('stores').selectAll().orderBy('id').execute()).map(toStore);
  }

  async get(id: string): Promise<StoreRecord | undefined> {
    const row = await this.db.selectFrom('stores').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toStore(row);
  }

  /** Creates or updates a store; resolves it as it was before (undefined when new). */
  async put(
    id: string,
    s: { name?: string; timezone: string },
    at: string,
  ): Promise<StoreRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('stores').selectAll().where('id', '=', id).executeTakeFirst();
      if (before)
        await trx
          .updateTable('stores')
          .set({ name: s.name ?? before.name, timezone: s.timezone, updated_at: at })
          .where('id', '=', id)
          .execute();
      else
        await trx
          .insertInto('stores')
          .values({
            id,
            name: s.name ?? id,
            timezone: s.timezone,
            created_at: at,
            updated_at: at,
            last_event_time: null,
          })
          .execute();
      return before && toStore(before);
    });
  }

  async nodes(storeIds?: string[]): Promise<StoreNodeRecord[]> {
    let q = this.db.selectFrom('store_nodes').selectAll().orderBy('store_id').orderBy('node_id');
    if (storeIds) {
      if (storeIds.length === 0) return [];
      q = q.where('store_id', 'in', storeIds);
    }
    return (await q.execute()).map((r) => ({
      storeId: r.store_id,
      nodeId: r.node_id,
      lastSeenAt: r.last_seen_at,
      backlog: r.backlog === null ? null : Number(r.backlog),
    }));
  }
}

function toStore(r: {
  id: string;
  name: string;
  timezone: string;
  created_at: string;
  updated_at: string;
  last_event_time: string | null;
}): StoreRecord {
  return {
    id: r.id,
    name: r.name,
    timezone: r.timezone,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastEventTime: r.last_event_time,
  };
}
