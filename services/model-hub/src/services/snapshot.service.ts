import { EventEmitter } from 'node:events';
import {
  CAMERA_ID_PATTERN,
  type CameraSnapshot,
  cameraSnapshotMetaSchema,
  readJpegSize,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { HubError } from '../errors.ts';
import type { HubMetrics } from '../metrics.ts';
import type { SnapshotRecord, SnapshotRepository } from '../repositories/snapshot.repository.ts';
import type { StoreRepository } from '../repositories/store.repository.ts';
import type { SnapshotStore } from '../storage/snapshot-store.ts';
import { inScope } from './token.service.ts';

const STORE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** What live views (SSE) hear when a camera's snapshot changes. */
export interface SnapshotNotice {
  storeId: string;
  cameraId: string;
  capturedAt: string;
  digest: string;
}

export interface SnapshotServiceOptions {
  repository: SnapshotRepository;
  files: SnapshotStore;
  stores: StoreRepository;
  metrics: HubMetrics;
  logger: Logger;
  now?: () => Date;
}

/**
 * The latest snapshot of each camera: a small JPEG from the edge that runs the camera, with the
 * boxes of that frame and the camera's zones and lines (`CameraSnapshotMeta`). Edges write their
 * own store's cameras (node tokens are store-scoped like event uploads); viewers read the cameras
 * of the stores their token covers, and another store's camera reads as an unknown store (404).
 */
export class SnapshotService {
  readonly #o: SnapshotServiceOptions;
  readonly #log: Logger;
  readonly #bus = new EventEmitter();
  readonly #now: () => Date;

  constructor(opts: SnapshotServiceOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'snapshots' });
    this.#now = opts.now ?? (() => new Date());
    this.#bus.setMaxListeners(0);
  }

  /**
   * Checks, before the body is read, that `scope` may write this camera's snapshot: ids well
   * formed (400), the store in scope (403, as for event uploads) and known to the hub (404).
   */
  async assertWritable(storeId: string, cameraId: string, scope?: readonly string[]): Promise<void> {
    checkIds(storeId, cameraId);
    if (!inScope(scope, storeId)) throw new HubError('HUB_ERR_STORE_OUT_OF_SCOPE', `store ${storeId}`);
    if (!(await this.#o.stores.get(storeId))) throw new HubError('HUB_ERR_STORE_NOT_FOUND', storeId);
  }

  /**
   * Stores an uploaded snapshot: `meta` (JSON text) must match `cameraSnapshotMetaSchema` and state
   * the JPEG's real size. Replaces the camera's snapshot unless that one is of a newer frame.
   */
  async put(
    storeId: string,
    cameraId: string,
    upload: { meta: string | undefined; image: Buffer | undefined },
    scope?: readonly string[],
  ): Promise<CameraSnapshot> {
    await this.assertWritable(storeId, cameraId, scope);
    const count = (result: string) => this.#o.metrics.snapshotsReceived.inc({ result });
    try {
      if (upload.meta === undefined) throw new HubError('HUB_ERR_BAD_SNAPSHOT', 'no `meta` field');
      if (upload.image === undefined || upload.image.length === 0)
        throw new HubError('HUB_ERR_BAD_SNAPSHOT', 'no `image` file');
      let json: unknown;
      try {
        json = JSON.parse(upload.meta);
      } catch {
        throw new HubError('HUB_ERR_BAD_SNAPSHOT', '`meta` is not JSON');
      }
      const parsed = cameraSnapshotMetaSchema.safeParse(json);
      if (!parsed.success)
        throw new HubError(
          'HUB_ERR_BAD_SNAPSHOT',
          parsed.error.issues
            .slice(0, 5)
            .map((i) => `meta.${i.path.join('.')}: ${i.message}`)
            .join('; '),
        );
      const meta = parsed.data;
      const size = readJpegSize(upload.image);
      if (!size) throw new HubError('HUB_ERR_SNAPSHOT_NOT_JPEG');
      if (size.width !== meta.width || size.height !== meta.height)
        throw new HubError(
          'HUB_ERR_BAD_SNAPSHOT',
          `the JPEG is ${size.width}x${size.height}, the meta says ${meta.width}x${meta.height}`,
        );
      const capturedAt = new Date(meta.capturedAt).toISOString();
      const { files, repository } = this.#o;
      const digest = await files.write(storeId, cameraId, upload.image);
      const record: SnapshotRecord = {
        storeId,
        cameraId,
        nodeId: meta.nodeId,
        digest,
        sizeBytes: upload.image.length,
        width: size.width,
        height: size.height,
        capturedAt,
        receivedAt: this.#now().toISOString(),
        meta: JSON.stringify({ ...meta, capturedAt }),
      };
      const stored = await repository.put(record);
      // Whichever row won, only its file stays (this upload's, or a newer one's).
      const current = stored ? record : await repository.get(storeId, cameraId);
      if (current) await files.keepOnly(storeId, cameraId, current.digest);
      count(stored ? 'stored' : 'stale');
      if (stored) this.#bus.emit('snapshot', { storeId, cameraId, capturedAt, digest } as SnapshotNotice);
      return toSnapshot(current ?? record);
    } catch (err) {
      count(err instanceof HubError ? err.code : 'error');
      throw err;
    }
  }

  /** The overlay and facts of a camera's snapshot. */
  async meta(storeId: string, cameraId: string, scope?: readonly string[]): Promise<CameraSnapshot> {
    return toSnapshot(await this.#record(storeId, cameraId, scope));
  }

  /** The JPEG of a camera's snapshot, with its row (they always agree: the file is named by digest). */
  async image(
    storeId: string,
    cameraId: string,
    scope?: readonly string[],
  ): Promise<{ record: SnapshotRecord; bytes: Buffer }> {
    // A new upload may replace the file between reading the row and the file: read the row again.
    for (let attempt = 0; ; attempt++) {
      const record = await this.#record(storeId, cameraId, scope);
      const bytes = await this.#o.files.read(storeId, cameraId, record.digest);
      if (bytes) return { record, bytes };
      if (attempt >= 2) throw new HubError('HUB_ERR_SNAPSHOT_NOT_FOUND', `${storeId}/${cameraId}`);
    }
  }

  /** Calls `fn` after every stored snapshot until the returned function is called. */
  subscribe(fn: (n: SnapshotNotice) => void): () => void {
    this.#bus.on('snapshot', fn);
    return () => this.#bus.off('snapshot', fn);
  }

  /** Deletes snapshots (rows and files) received more than `keepMs` ago: cameras gone quiet. */
  async prune(keepMs: number): Promise<number> {
    const before = new Date(this.#now().getTime() - keepMs).toISOString();
    let n = 0;
    for (const s of await this.#o.repository.receivedBefore(before)) {
      if (await this.#o.repository.delete(s.storeId, s.cameraId, s.digest)) {
        await this.#o.files.remove(s.storeId, s.cameraId);
        n++;
      }
    }
    if (n > 0) this.#log.info({ snapshots: n }, 'pruned snapshots of cameras gone quiet');
    return n;
  }

  async #record(storeId: string, cameraId: string, scope?: readonly string[]): Promise<SnapshotRecord> {
    checkIds(storeId, cameraId);
    // Another tenant's store is as unknown as a store that does not exist.
    if (!inScope(scope, storeId) || !(await this.#o.stores.get(storeId)))
      throw new HubError('HUB_ERR_STORE_NOT_FOUND', storeId);
    const record = await this.#o.repository.get(storeId, cameraId);
    if (!record) throw new HubError('HUB_ERR_SNAPSHOT_NOT_FOUND', `${storeId}/${cameraId}`);
    return record;
  }
}

function checkIds(storeId: string, cameraId: string): void {
  if (!STORE_ID.test(storeId)) throw new HubError('HUB_ERR_BAD_STORE_ID', storeId.slice(0, 80));
  if (!CAMERA_ID_PATTERN.test(cameraId)) throw new HubError('HUB_ERR_BAD_CAMERA_ID', cameraId.slice(0, 80));
}

export function snapshotPath(storeId: string, cameraId: string): string {
  return `/v1/stores/${encodeURIComponent(storeId)}/cameras/${encodeURIComponent(cameraId)}/snapshot`;
}

function toSnapshot(r: SnapshotRecord): CameraSnapshot {
  const meta = JSON.parse(r.meta) as Omit<CameraSnapshot, 'storeId' | 'cameraId'>;
  return {
    ...meta,
    storeId: r.storeId,
    cameraId: r.cameraId,
    nodeId: r.nodeId,
    capturedAt: r.capturedAt,
    width: r.width,
    height: r.height,
    receivedAt: r.receivedAt,
    sizeBytes: r.sizeBytes,
    digest: r.digest,
    imageUrl: `${snapshotPath(r.storeId, r.cameraId)}?v=${r.digest.slice('sha256:'.length, 'sha256:'.length + 16)}`,
  };
}
