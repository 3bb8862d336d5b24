import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  canonicalJson,
  type SignedModelVersion,
  signedModelVersionSchema,
  verifyModelSignature,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { EdgeError } from '../errors.ts';

/**
 * The edge's local model cache: verified model versions on disk, so a node restarts on the models
 * it last ran with no hub (offline autonomy) and rolls back without a download.
 *
 * ```
 * <dir>/versions/<name>/<version>/  manifest.json, the ONNX file, signed.json (the hub's signed record)
 * <dir>/partial/<sha256>.part        downloads in progress (resumed with Range after a cut)
 * <dir>/staging/<random>/            an entry being assembled; renamed into versions/ when whole
 * <dir>/state.json                   live and previous version per model, last use per version
 * ```
 *
 * Installs are atomic: an entry is assembled in `staging/` and renamed into place in one step, so
 * a crash leaves either the whole entry or none (staging is emptied on open). Entries are
 * re-verified (signature with the pinned key, and the file's sha256) before a restart loads them.
 */

export interface CacheState {
  /** Live version per model. */
  active: Record<string, string>;
  /** The version live before it, kept for instant rollback. */
  previous: Record<string, string>;
  /** Last time each `name@version` was live (ms), for LRU eviction. */
  lastUsed: Record<string, number>;
}

export interface CacheEntry {
  name: string;
  version: string;
  dir: string;
  sizeBytes: number;
}

const EMPTY: CacheState = { active: {}, previous: {}, lastUsed: {} };

export class ModelCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #log: Logger | undefined;
  #state: CacheState = structuredClone(EMPTY);

  private constructor(dir: string, maxBytes: number, logger?: Logger) {
    this.dir = path.resolve(dir);
    this.maxBytes = maxBytes;
    this.#log = logger;
  }

  /** Opens (creating) the cache, drops leftovers of interrupted installs, reads the state. */
  static async open(dir: string, opts: { maxBytes: number; logger?: Logger }): Promise<ModelCache> {
    const cache = new ModelCache(dir, opts.maxBytes, opts.logger);
    await rm(path.join(cache.dir, 'staging'), { recursive: true, force: true });
    for (const d of ['versions', 'partial', 'staging'])
      await mkdir(path.join(cache.dir, d), { recursive: true });
    try {
      const parsed = JSON.parse(await readFile(cache.#stateFile, 'utf8')) as Partial<CacheState>;
      cache.#state = {
        active: parsed.active ?? {},
        previous: parsed.previous ?? {},
        lastUsed: parsed.lastUsed ?? {},
      };
    } catch {
      // No state yet (first start) or an unreadable one: start empty; entries are still on disk.
    }
    return cache;
  }

  get state(): Readonly<CacheState> {
    return this.#state;
  }

  get #stateFile(): string {
    return path.join(this.dir, 'state.json');
  }

  entryDir(name: string, version: string): string {
    return path.join(this.dir, 'versions', name, version);
  }

  /** Where a download of `digest` accumulates. */
  partialPath(digest: string): string {
    return path.join(this.dir, 'partial', `${digest.replace(/^sha256:/, '')}.part`);
  }

  async has(name: string, version: string): Promise<boolean> {
    return stat(path.join(this.entryDir(name, version), 'signed.json')).then(
      () => true,
      () => false,
    );
  }

  /**
   * Moves a verified download into the cache as `name/version` (atomically) and returns the entry
   * folder, a model package the inference threads load. The caller has checked the signature; the
   * digest is checked here once more against the file being installed.
   */
  async install(signed: SignedModelVersion, blobFile: string): Promise<string> {
    const variant = signed.manifest.variants[0];
    if (!variant || path.basename(variant.file) !== variant.file || variant.file.startsWith('.'))
      throw new EdgeError('EDGE_ERR_MODEL_SIGNATURE_INVALID', `unsafe variant file name in ${signed.name}`);
    const digest = await sha256File(blobFile);
    if (`sha256:${digest}` !== signed.digest)
      throw new EdgeError('EDGE_ERR_MODEL_DIGEST_MISMATCH', `${signed.name}@${signed.version}`);
    const target = this.entryDir(signed.name, signed.version);
    if (await this.has(signed.name, signed.version)) {
      await rm(blobFile, { force: true });
      return target;
    }
    const staging = path.join(this.dir, 'staging', randomBytes(8).toString('hex'));
    await mkdir(staging, { recursive: true });
    try {
      await rename(blobFile, path.join(staging, variant.file));
      await writeFile(path.join(staging, 'manifest.json'), JSON.stringify(signed.manifest, null, 2));
      await writeFile(path.join(staging, 'signed.json'), JSON.stringify(signed));
      await mkdir(path.dirname(target), { recursive: true });
      // A leftover without signed.json (never complete) would block the rename.
      await rm(target, { recursive: true, force: true });
      await rename(staging, target);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    this.#log?.info({ model: signed.name, version: signed.version }, 'model version cached');
    return target;
  }

  /**
   * The entry's folder if it is whole and still trustworthy: its signed record verifies with the
   * pinned key, its manifest is the signed one, its file has the signed digest. Undefined otherwise.
   */
  async verified(name: string, version: string, publicKeyPem: string): Promise<string | undefined> {
    const dir = this.entryDir(name, version);
    try {
      const signed = signedModelVersionSchema.parse(
        JSON.parse(await readFile(path.join(dir, 'signed.json'), 'utf8')),
      );
      if (signed.name !== name || signed.version !== version) return undefined;
      if (!verifyModelSignature(publicKeyPem, signed)) return undefined;
      const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
      if (canonicalJson(manifest) !== canonicalJson(signed.manifest)) return undefined;
      const file = path.join(dir, signed.manifest.variants[0]!.file);
      if (`sha256:${await sha256File(file)}` !== signed.digest) return undefined;
      return dir;
    } catch {
      return undefined;
    }
  }

  /** Records `version` as live for `name` (the one live before becomes `previous`). */
  async setActive(name: string, version: string): Promise<void> {
    const before = this.#state.active[name];
    if (before !== undefined && before !== version) this.#state.previous[name] = before;
    this.#state.active[name] = version;
    this.#state.lastUsed[`${name}@${version}`] = Date.now();
    await this.#save();
  }

  async entries(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    const root = path.join(this.dir, 'versions');
    for (const name of await readdir(root).catch(() => [] as string[])) {
      for (const version of await readdir(path.join(root, name)).catch(() => [] as string[])) {
        const dir = path.join(root, name, version);
        let sizeBytes = 0;
        for (const f of await readdir(dir).catch(() => [] as string[]))
          sizeBytes += await stat(path.join(dir, f)).then(
            (s) => s.size,
            () => 0,
          );
        out.push({ name, version, dir, sizeBytes });
      }
    }
    return out;
  }

  /**
   * Least-recently-used eviction down to `maxBytes`, never touching `keep` (`name@version`: the
   * live, previous and desired versions). Returns what it removed.
   */
  async evict(keep: ReadonlySet<string>): Promise<string[]> {
    const entries = await this.entries();
    let total = entries.reduce((n, e) => n + e.sizeBytes, 0);
    const removed: string[] = [];
    const candidates = entries
      .filter((e) => !keep.has(`${e.name}@${e.version}`))
      .sort(
        (a, b) =>
          (this.#state.lastUsed[`${a.name}@${a.version}`] ?? 0) -
          (this.#state.lastUsed[`${b.name}@${b.version}`] ?? 0),
      );
    for (const e of candidates) {
      if (total <= this.maxBytes) break;
      await rm(e.dir, { recursive: true, force: true });
      total -= e.sizeBytes;
      const key = `${e.name}@${e.version}`;
      delete this.#state.lastUsed[key];
      removed.push(key);
    }
    if (removed.length > 0) {
      await this.#save();
      this.#log?.info({ removed, totalBytes: total }, 'evicted cached model versions');
    }
    return removed;
  }

  async #save(): Promise<void> {
    const tmp = `${this.#stateFile}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(this.#state));
    await rename(tmp, this.#stateFile);
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
