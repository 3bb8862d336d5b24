import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The JPEG of each camera's latest snapshot, on the local filesystem beside the model blobs:
 * `<root>/<2 hex>/<hex of sha256(store, camera)>/<hex of the JPEG's sha256>.jpg`. Store and camera
 * ids never become path parts themselves (`..` is a valid camera id), and the file name is the
 * content's digest, so the database row and the file it names always agree: a new snapshot is
 * written beside the old one, the row is switched to it, then the old file goes (`keepOnly`). A
 * reader that read the old row just before may find its file gone; it reads the row again.
 *
 * Like `FsBlobStore`, a small class so an S3-compatible store can replace it; nothing here is
 * fsynced, since a snapshot lost in a crash is replaced by the next one within seconds.
 */
export class SnapshotStore {
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<SnapshotStore> {
    await mkdir(root, { recursive: true });
    return new SnapshotStore(root);
  }

  private dirOf(storeId: string, cameraId: string): string {
    const key = createHash('sha256').update(`${storeId}\u0000${cameraId}`).digest('hex');
    return path.join(this.root, key.slice(0, 2), key);
  }

  private fileOf(storeId: string, cameraId: string, digest: string): string {
    const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
    if (!m) throw new TypeError(`not a snapshot digest: ${digest}`);
    return path.join(this.dirOf(storeId, cameraId), `${m[1]}.jpg`);
  }

  /** Writes the bytes (atomically: a temp file renamed) and returns their digest. */
  async write(storeId: string, cameraId: string, bytes: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const file = this.fileOf(storeId, cameraId, digest);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await writeFile(tmp, bytes, { flag: 'wx', mode: 0o644 });
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return digest;
  }

  /** The bytes of a snapshot, or undefined when that file is gone (replaced meanwhile). */
  async read(storeId: string, cameraId: string, digest: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.fileOf(storeId, cameraId, digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Removes every file of the camera but `digest`'s (older snapshots, leftovers of a crash). */
  async keepOnly(storeId: string, cameraId: string, digest: string): Promise<void> {
    const dir = this.dirOf(storeId, cameraId);
    const keep = path.basename(this.fileOf(storeId, cameraId, digest));
    const names = await readdir(dir).catch(() => [] as string[]);
    // A `.partial` is another upload still being written: it renames itself or cleans up.
    await Promise.all(
      names
        .filter((n) => n !== keep && n.endsWith('.jpg'))
        .map((n) => rm(path.join(dir, n), { force: true })),
    );
  }

  /** Removes the camera's snapshot files. */
  async remove(storeId: string, cameraId: string): Promise<void> {
    await rm(this.dirOf(storeId, cameraId), { recursive: true, force: true });
  }

  /** Snapshot files on disk (tests assert only the latest is kept). */
  async files(storeId: string, cameraId: string): Promise<string[]> {
    return (await readdir(this.dirOf(storeId, cameraId)).catch(() => [] as string[])).sort();
  }
}
