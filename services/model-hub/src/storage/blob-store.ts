import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

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
 * of a random name while hashing, fsyncs it, and commit renames it into place (atomic on one
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
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    try {
      await pipeline(source, meter, out);
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
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

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
