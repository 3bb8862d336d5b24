import type { Kysely } from 'kysely';
import type {
  EnrolmentTokensTable,
  HubDatabase,
  NodesTable,
  RolloutNodesTable,
  RolloutsTable,
} from '../db/schema.ts';

export type NodeRow = NodesTable;
export type RolloutRow = RolloutsTable;
export type RolloutNodeRow = RolloutNodesTable;
export interface NodeModelRow {
  node_id: string;
  model: string;
  version: string;
  rollout_id: string | null;
  updated_at: string;
}

/** Nodes, their desired model versions, enrolment tokens and rollouts: the hub's fleet state. */
export class RolloutRepository {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  // ---- nodes ----

  async getNode(id: string): Promise<NodeRow | undefined> {
    return this.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listNodes(): Promise<NodeRow[]> {
    return this.db.selectFrom('nodes').selectAll().orderBy('store_id').orderBy('id').execute();
  }

  /** Inserts or updates a node's registration facts (and, when given, its health and token). */
  async upsertNode(n: {
    id: string;
    storeId: string;
    nodePool: string | null;
    labels: Record<string, string>;
    tokenId?: string | null;
    health?: string;
    at: string;
  }): Promise<void> {
    const update = {
      store_id: n.storeId,
      node_pool: n.nodePool,
      labels: JSON.stringify(n.labels),
      updated_at: n.at,
      ...(n.tokenId !== undefined ? { token_id: n.tokenId } : {}),
      ...(n.health !== undefined ? { health: n.health, health_at: n.at } : {}),
    };
    await this.db
      .insertInto('nodes')
      .values({
        id: n.id,
        store_id: n.storeId,
        node_pool: n.nodePool,
        labels: JSON.stringify(n.labels),
        token_id: n.tokenId ?? null,
        health: n.health ?? null,
        health_at: n.health !== undefined ? n.at : null,
        created_at: n.at,
        updated_at: n.at,
      })
      .onConflict((oc) => oc.column('id').doUpdateSet(update))
      .execute();
  }

  async desiredModels(nodeId: string): Promise<NodeModelRow[]> {
    return this.db
      .selectFrom('node_models')
      .selectAll()
      .where('node_id', '=', nodeId)
      .orderBy('model')
      .execute();
  }

  async getDesired(nodeId: string, model: string): Promise<NodeModelRow | undefined> {
    return this.db
      .selectFrom('node_models')
      .selectAll()
      .where('node_id', '=', nodeId)
      .where('model', '=', model)
      .executeTakeFirst();
  }

  async setDesired(nodeId: string, model: string, version: string, rolloutId: string | null, at: string) {
    await this.db
      .insertInto('node_models')
      .values({ node_id: nodeId, model, version, rollout_id: rolloutId, updated_at: at })
      .onConflict((oc) =>
        oc.columns(['node_id', 'model']).doUpdateSet({ version, rollout_id: rolloutId, updated_at: at }),
      )
      .execute();
  }

  async clearDesired(nodeId: string, model: string): Promise<void> {
    await this.db
      .deleteFrom('node_models')
      .where('node_id', '=', nodeId)
      .where('model', '=', model)
      .execute();
  }

  // ---- enrolment tokens ----

  async insertEnrolmentToken(t: EnrolmentTokensTable): Promise<void> {
    await this.db.insertInto('enrolment_tokens').values(t).execute();
  }

  /**
   * Takes one use of an enrolment token, atomically (two nodes racing for the last use: one wins).
   * Returns the token row as it was, `wrong-store` (no use taken) for a node of another store, or
   * undefined when unknown, expired or used up.
   */
  async useEnrolmentToken(
    hash: string,
    now: string,
    storeId: string,
  ): Promise<EnrolmentTokensTable | 'wrong-store' | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('enrolment_tokens')
        .selectAll()
        .where('token_hash', '=', hash)
        .executeTakeFirst();
      if (!row || row.expires_at <= now || Number(row.uses_left) <= 0) return undefined;
      if (row.store_id && row.store_id !== storeId) return 'wrong-store';
      const res = await trx
        .updateTable('enrolment_tokens')
        .set({ uses_left: Number(row.uses_left) - 1 })
        .where('id', '=', row.id)
        .where('uses_left', '=', row.uses_left)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1 ? row : undefined;
    });
  }

  // ---- rollouts ----

  async insertRollout(r: RolloutRow, nodes: RolloutNodeRow[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('rollouts').values(r).execute();
      for (const n of nodes) await trx.insertInto('rollout_nodes').values(n).execute();
    });
  }

  async getRollout(id: string): Promise<RolloutRow | undefined> {
    return this.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listRollouts(): Promise<RolloutRow[]> {
    return this.db.selectFrom('rollouts').selectAll().orderBy('created_at', 'desc').limit(200).execute();
  }

  async activeRollouts(model?: string): Promise<RolloutRow[]> {
    let q = this.db.selectFrom('rollouts').selectAll().where('state', 'in', ['running', 'paused']);
    if (model) q = q.where('model', '=', model);
    return q.execute();
  }

  async updateRollout(id: string, set: Partial<RolloutRow>): Promise<void> {
    await this.db.updateTable('rollouts').set(set).where('id', '=', id).execute();
  }

  async rolloutNodes(id: string): Promise<RolloutNodeRow[]> {
    return this.db
      .selectFrom('rollout_nodes')
      .selectAll()
      .where('rollout_id', '=', id)
      .orderBy('wave')
      .orderBy('store_id')
      .orderBy('node_id')
      .execute();
  }

  async updateRolloutNode(rolloutId: string, nodeId: string, set: Partial<RolloutNodeRow>): Promise<void> {
    await this.db
      .updateTable('rollout_nodes')
      .set(set)
      .where('rollout_id', '=', rolloutId)
      .where('node_id', '=', nodeId)
      .execute();
  }
}
