import type { Kysely } from 'kysely';
import type { HubDatabase } from '../db/schema.ts';

export interface SnapshotRecord {
  storeId: string;
  cameraId: string;
  nodeId: string;
  digest: string;
  sizeBytes: number;
  width: number;
  height: number;
  capturedAt: string;
  receivedAt: string;
  /** The overlay (boxes, zones, lines, …), JSON text. */
  meta: string;
}

/** The latest snapshot row of each camera (the JPEG is in `SnapshotStore`). */
export class SnapshotRepository {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  /**
   * Makes `s` the camera's snapshot unless the stored one is of a newer frame (uploads may cross:
   * a retried old one must not replace a newer one). Resolves whether it was stored.
   */
  async put(s: SnapshotRecord): Promise<boolean> {
    const row = {
      store_id: s.storeId,
      camera_id: s.cameraId,
      node_id: s.nodeId,
      digest: s.digest,
      size_bytes: s.sizeBytes,
      width: s.width,
      height: s.height,
      captured_at: s.capturedAt,
      received_at: s.receivedAt,
      meta: s.meta,
    };
    const { store_id: _s, camera_id: _c, ...update } = row;
    const res = await this.db
      .insertInto('camera_snapshots')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['store_id', 'camera_id'])
          .doUpdateSet(update)
          // ISO times of one format compare as text; equal times: the later upload wins.
          .where('camera_snapshots.captured_at', '<=', s.capturedAt),
      )
      .returning('digest')
      .executeTakeFirst();
    return res !== undefined;
  }

  async get(storeId: string, cameraId: string): Promise<SnapshotRecord | undefined> {
    const r = await this.db
      .selectFrom('camera_snapshots')
      .selectAll()
      .where('store_id', '=', storeId)
      .where('camera_id', '=', cameraId)
      .executeTakeFirst();
    return r && toRecord(r);
  }

  /** Snapshots received before `before` (retention), oldest first. */
  async receivedBefore(
    before: string,
  ): Promise<Array<{ storeId: string; cameraId: string; digest: string }>> {
    const rows = await this.db
      .selectFrom('camera_snapshots')
      .select(['store_id', 'camera_id', 'digest'])
      .where('received_at', '<', before)
      .orderBy('received_at')
      .execute();
    return rows.map((r) => ({ storeId: r.store_id, cameraId: r.camera_id, digest: r.digest }));
  }

  /** Deletes the row if it still names `digest` (a newer upload keeps its own). */
  async delete(storeId: string, cameraId: string, digest: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('camera_snapshots')
      .where('store_id', '=', storeId)
      .where('camera_id', '=', cameraId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}

function toRecord(r: {
  store_id: string;
  camera_id: string;
  node_id: string;
  digest: string;
  size_bytes: number | string;
  width: number;
  height: number;
  captured_at: string;
  received_at: string;
  meta: string;
}): SnapshotRecord {
  return {
    storeId: r.store_id,
    cameraId: r.camera_id,
    nodeId: r.node_id,
    digest: r.digest,
    sizeBytes: Number(r.size_bytes),
    width: Number(r.width),
    height: Number(r.height),
    capturedAt: r.captured_at,
    receivedAt: r.received_at,
    meta: r.meta,
  };
}
