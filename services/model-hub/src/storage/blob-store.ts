import { createHash, type Hash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Where model bytes live, addressed by their sha256. A small interface so an S3-compatible store
 * can replace the local filesystem later; the hub never names a blob by anything but its digest,
 * so no model name or version ever becomes a path.
 */
export interface BlobStore {
  /**
   * Streams `source` into a private staging area while hashing it. Nothing is visible under a
   * digest until `commit()`; `discard()` (or a failed stream) leaves nothing behind.
   */
  stage(source: Readable): Promise<StagedBlob>;
  /** Size of a committed blob, or undefined. */
  stat(digest: string): Promise<{ sizeBytes: number } | undefined>;
  /** Reads a committed blob, optionally the inclusive byte range `[start, end]`. */
  read(digest: string, range?: { start: number; end: number }): Readable;
  /** Removes a committed blob (used to undo a commit whose metadata write failed). */
  delete(digest: string): Promise<void>;
  /** Digests of every committed blob (tests, garbage collection). */
  list(): Promise<string[]>;
}

export interface StagedBlob {
  /** `sha256:<hex>` */
  readonly digest: string;
  readonly sizeBytes: number;
  /** Local path of the staged bytes, for validation before commit. */
  readonly path: string;
  /** Makes the blob visible under its digest. Resolves `created: false` when it was already there. */
  commit(): Promise<{ created: boolean }>;
  discard(): Promise<void>;
}

const HEX = /^sha256:([a-f0-9]{64})$/;

/**
 * Blobs under `<root>/sha256/<2 hex>/<hex>`, staged under `<root>/tmp`. Staging writes to a file
 * of a random name while hashing (one pass, see `writeHashed`), fsyncs it, and commit renames it into place (atomic on one
 * filesystem) and fsyncs the folder, so a crash leaves either the whole blob or none of it; at
 * worst an orphan in `tmp/`, which `open()` sweeps at start.
 */
export class FsBlobStore implements BlobStore {
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<FsBlobStore> {
    await mkdir(path.join(root, 'sha256'), { recursive: true });
    // Staged files from a previous run that died mid-upload are never committed: sweep them.
    await rm(path.join(root, 'tmp'), { recursive: true, force: true });
    await mkdir(path.join(root, 'tmp'), { recursive: true });
    return new FsBlobStore(root);
  }

  private pathOf(digest: string): string {
    const m = HEX.exec(digest);
    if (!m) throw new TypeError(`not a blob digest: ${digest}`);
    const hex = m[1]!;
    return path.join(this.root, 'sha256', hex.slice(0, 2), hex);
  }

  async stage(source: Readable): Promise<StagedBlob> {
    const tmp = path.join(this.root, 'tmp', `${randomBytes(12).toString('hex')}.partial`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      size = await writeHashed(source, fh, hash);
      await fh.sync();
      await fh.close();
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    const final = this.pathOf(digest);
    let settled = false;
    return {
      digest,
      sizeBytes: size,
      path: tmp,
      commit: async () => {
        if (settled) throw new Error('staged blob already committed or discarded');
        settled = true;
        const exists = await stat(final).then(
          (s) => s.size === size,
          () => false,
        );
        if (exists) {
          // Content-addressed: identical bytes are already there; keep one copy.
          await rm(tmp, { force: true });
          return { created: false };
        }
        await mkdir(path.dirname(final), { recursive: true });
        await rename(tmp, final);
        await syncDir(path.dirname(final));
        return { created: true };
      },
      discard: async () => {
        settled = true;
        await rm(tmp, { force: true });
      },
    };
  }

  async stat(digest: string): Promise<{ sizeBytes: number } | undefined> {
    try {
      const s = await stat(this.pathOf(digest));
      return { sizeBytes: s.size };
    } catch {
      return undefined;
    }
  }

  read(digest: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.pathOf(digest), range ? { start: range.start, end: range.end } : {});
  }

  async delete(digest: string): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    const base = path.join(this.root, 'sha256');
    for (const prefix of await readdir(base)) {
      for (const hex of await readdir(path.join(base, prefix))) out.push(`sha256:${hex}`);
    }
    return out.sort();
  }

  /** Files still in staging (tests assert that a failed publish leaves none). */
  async staged(): Promise<string[]> {
    return readdir(path.join(this.root, 'tmp'));
  }
}

/** Bytes gathered from the upload's chunks before one `writev`. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Batches written concurrently (positioned writes, so their order does not matter). */
const WRITES_IN_FLIGHT = 4;
/** Written bytes after which a `fdatasync` starts in the background. */
const SYNC_EVERY_BYTES = 16 * 1024 * 1024;

/**
 * Streams `source` into `fh` and through `hash` in one pass; resolves the byte count once every
 * byte is written (the caller does the final fsync). Tuned with `storevision bench models` on a
 * 2-vCPU VM, where the upload and the hashing compete with the client for the cores:
 *   - chunks are hashed as they arrive and written as 1 MiB `writev` batches at explicit offsets,
 *     up to 4 at once on libuv's pool, so the disk writes overlap the hashing on this thread
 *     (a `pipe` into an `fs.WriteStream` writes one 64 KiB chunk at a time: ~0.6× the rate);
 *   - every 16 MiB an `fdatasync` runs in the background, so the page cache is flushed while the
 *     upload goes on and the fsync at the end only has the last few MiB to do — the single fsync
 *     after 100 MB alone took as long as writing them.
 * Memory is bounded by the batches in flight (~5 MiB), whatever the file's size; backpressure
 * reaches the socket because the next chunk is not pulled while the writes are full.
 */
async function writeHashed(source: Readable, fh: FileHandle, hash: Hash): Promise<number> {
  const inflight: Array<Promise<unknown>> = [];
  // Rejections are awaited later (or dropped after an earlier error); never left unhandled.
  const track = <T>(p: Promise<T>) => {
    p.catch(() => {});
    return p;
  };
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let written = 0;
  let unsynced = 0;
  let syncing: Promise<void> = Promise.resolve();
  const flush = async () => {
    const chunks = batch;
    const at = written;
    written += batchBytes;
    unsynced += batchBytes;
    batch = [];
    batchBytes = 0;
    inflight.push(track(fh.writev(chunks, at)));
    while (inflight.length > WRITES_IN_FLIGHT) await inflight.shift();
    if (unsynced >= SYNC_EVERY_BYTES) {
      unsynced = 0;
      await syncing;
      const before = [...inflight];
      syncing = track(Promise.all(before).then(() => fh.datasync()));
    }
  };
  try {
    for await (const chunk of source) {
      const c = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      hash.update(c);
      batch.push(c);
      batchBytes += c.length;
      // Also by count: a slow client's many small chunks stay well under the kernel's iovec limit.
      if (batchBytes >= WRITE_BATCH_BYTES || batch.length >= 256) await flush();
    }
    if (batchBytes > 0) await flush();
    await Promise.all(inflight);
    await syncing;
    return written;
  } catch (err) {
    // Let the writes still on the pool finish before the caller closes and removes the file.
    await Promise.allSettled([...inflight, syncing]);
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
