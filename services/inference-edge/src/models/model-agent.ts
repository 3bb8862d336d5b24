import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type DesiredModel,
  type DesiredState,
  desiredStateSchema,
  enrolResultSchema,
  type ModelHealth,
  type NodeHealthReport,
  verifyModelSignature,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { EdgeError, isEdgeError } from '../errors.ts';
import type { LoadedModel } from '../inference/messages.ts';
import { downloadBlob } from './blob-download.ts';
import type { ModelCache } from './model-cache.ts';
import type { ModelHealthTracker } from './model-health.ts';

/** What the agent needs of the inference pool: the live models and a hot swap. */
export interface SwappablePool {
  readonly models: readonly LoadedModel[];
  readonly modelDirs: Readonly<Record<string, string>>;
  swapModel(name: string, dir: string): Promise<{ previous: string | undefined; current: LoadedModel }>;
}

export interface ModelAgentOptions {
  hubUrl: string;
  nodeId: string;
  storeId: string;
  nodePool?: string | undefined;
  labels?: Record<string, string> | undefined;
  /** A node token; else the one kept in `tokenFile`; else one enrolled with `enrolmentToken`. */
  token?: string | undefined;
  enrolmentToken?: string | undefined;
  /** Where an enrolled node token is kept (mode 0600). */
  tokenFile: string;
  /** The pinned hub public key (PEM): nothing it has not signed is downloaded into the cache or loaded. */
  publicKeyPem: string;
  cache: ModelCache;
  pool: SwappablePool;
  /** The models this node runs; desired versions of other models are ignored. */
  models: readonly string[];
  health: ModelHealthTracker;
  logger: Logger;
  /** Long-poll wait of `GET /v1/nodes/{id}/models`. @defaultValue 30 s */
  waitSeconds?: number;
  /** Health report period. @defaultValue 10 s */
  healthIntervalMs?: number;
  /** Longest wait between tries while the hub is unreachable. @defaultValue 30 s */
  maxBackoffMs?: number;
  /** Swap outcomes, for metrics. */
  onSwap?: (model: string, outcome: 'switched' | 'failed') => void;
  fetch?: typeof fetch;
}

interface Failure {
  version: string;
  code: string;
  message: string;
}

/**
 * The edge's model agent: keeps the models this node runs at the versions the hub wants.
 *
 * It long-polls its desired state (`GET /v1/nodes/{id}/models`, `If-None-Match` + `?wait=`, so a
 * change arrives at once and an idle node costs one request per `waitSeconds`), and for every
 * model whose desired version is not live: checks the hub's ed25519 signature with the pinned key,
 * downloads the file with resume (unless cached), checks its sha256, installs it in the cache
 * atomically, then has the inference pool load and warm it up on every thread and switch (frames
 * in flight finish on the old version). A version that fails any step is not switched in: the
 * previous one keeps serving, and the failure goes into the next health report (which the hub's
 * rollout reads to stop and roll back). It does not retry a failed version until the desired
 * version changes. Health (per-version runs, error rate, p50/p99) is reported after every change
 * and every `healthIntervalMs`.
 */
export class ModelAgent {
  readonly #o: ModelAgentOptions;
  readonly #log: Logger;
  readonly #fetch: typeof fetch;
  readonly #failures = new Map<string, Failure>();
  /** Package folders of versions this node has run (bundled, cached), for switches without a download. */
  readonly #knownDirs = new Map<string, string>();
  #loading = new Set<string>();
  #token: string | undefined;
  #etag: string | undefined;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #reconciling: Promise<void> = Promise.resolve();

  constructor(opts: ModelAgentOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'model-agent' });
    this.#fetch = opts.fetch ?? fetch;
    this.#token = opts.token;
  }

  /** Starts syncing and reporting; returns at once. */
  start(): void {
    if (this.#loop || this.#closed) return;
    this.#remember();
    this.#loop = this.#run();
    this.#timer = setInterval(
      () => void this.reportHealth().catch((err) => this.#log.debug({ err }, 'health report failed')),
      this.#o.healthIntervalMs ?? 10_000,
    );
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#abort.abort();
    await this.#loop?.catch(() => {});
    await this.#reconciling.catch(() => {});
  }

  /** Failures by model (the version that failed and why). */
  get failures(): ReadonlyMap<string, Failure> {
    return this.#failures;
  }

  async #run(): Promise<void> {
    let backoff = 500;
    await this.reportHealth().catch((err) => this.#log.debug({ err }, 'first health report failed'));
    while (!this.#closed) {
      try {
        const changed = await this.syncOnce(this.#o.waitSeconds ?? 30);
        if (changed)
          await this.reportHealth().catch((err) => this.#log.debug({ err }, 'health report failed'));
        backoff = 500;
      } catch (err) {
        if (this.#closed) return;
        this.#log.warn({ err }, 'model sync failed; keeping the models this node has');
        await sleep(backoff + Math.random() * backoff, this.#abort.signal);
        backoff = Math.min(backoff * 2, this.#o.maxBackoffMs ?? 30_000);
      }
    }
  }

  /**
   * One desired-state request (long-polled for `waitSeconds`) and, when it changed, one
   * reconciliation. Returns whether anything changed.
   */
  async syncOnce(waitSeconds = 0): Promise<boolean> {
    const res = await this.#request(
      'GET',
      `/v1/nodes/${encodeURIComponent(this.#o.nodeId)}/models${waitSeconds > 0 ? `?wait=${waitSeconds}` : ''}`,
      undefined,
      this.#etag ? { 'if-none-match': this.#etag } : {},
    );
    if (res.status === 304) return false;
    const desired = desiredStateSchema.parse(await res.json());
    await this.reconcile(desired);
    this.#etag = res.headers.get('etag') ?? desired.etag;
    return true;
  }

  /** Brings the live models to `desired` (one reconciliation at a time). */
  reconcile(desired: DesiredState): Promise<void> {
    const run = this.#reconciling.then(() => this.#reconcile(desired));
    this.#reconciling = run.catch(() => {});
    return run;
  }

  async #reconcile(desired: DesiredState): Promise<void> {
    for (const d of desired.models) {
      if (!this.#o.models.includes(d.name)) {
        this.#log.debug({ model: d.name }, 'desired model not run by this node; ignored');
        continue;
      }
      const live = this.#o.pool.models.find((m) => m.name === d.name)?.version;
      if (live === d.version) {
        this.#failures.delete(d.name);
        continue;
      }
      if (this.#failures.get(d.name)?.version === d.version) continue;
      try {
        this.#loading.add(d.name);
        await this.#switch(d);
        this.#failures.delete(d.name);
        this.#o.onSwap?.(d.name, 'switched');
      } catch (err) {
        const code = isEdgeError(err) ? err.code : 'EDGE_ERR_INTERNAL';
        const message = (err as Error).message;
        this.#failures.set(d.name, { version: d.version, code, message });
        this.#o.onSwap?.(d.name, 'failed');
        this.#log.error(
          { model: d.name, version: d.version, code, err },
          'model version refused; previous kept',
        );
      } finally {
        this.#loading.delete(d.name);
      }
    }
    await this.#evict(desired).catch((err) => this.#log.warn({ err }, 'cache eviction failed'));
  }

  async #switch(d: DesiredModel): Promise<void> {
    const key = `${d.name}@${d.version}`;
    // The signature covers name, version, digest and manifest: check it before any byte is fetched.
    if (!verifyModelSignature(this.#o.publicKeyPem, d))
      throw new EdgeError('EDGE_ERR_MODEL_SIGNATURE_INVALID', key);
    let dir = this.#knownDirs.get(key);
    if (!dir || !(await this.#o.cache.has(d.name, d.version))) {
      dir = (await this.#o.cache.has(d.name, d.version))
        ? this.#o.cache.entryDir(d.name, d.version)
        : await this.#download(d);
    }
    const t0 = performance.now();
    const { previous, current } = await this.#o.pool.swapModel(d.name, dir);
    this.#knownDirs.set(key, dir);
    if (dir.startsWith(this.#o.cache.dir)) await this.#o.cache.setActive(d.name, d.version);
    this.#o.health.retain(d.name, [current.version, ...(previous ? [previous] : [])]);
    this.#log.info(
      { model: d.name, from: previous, to: current.version, switchMs: Math.round(performance.now() - t0) },
      'model version live',
    );
  }

  async #download(d: DesiredModel): Promise<string> {
    const partial = this.#o.cache.partialPath(d.digest);
    await mkdir(path.dirname(partial), { recursive: true });
    const r = await downloadBlob({
      url: `${this.#o.hubUrl}/v1/blobs/${d.digest}`,
      headers: await this.#auth(),
      digest: d.digest,
      sizeBytes: d.sizeBytes,
      partialFile: partial,
      signal: this.#abort.signal,
      fetch: this.#fetch,
    });
    this.#log.info({ model: d.name, version: d.version, ...r }, 'model version downloaded');
    return this.#o.cache.install(d, partial);
  }

  /** Keeps the live, previous and desired versions; evicts the least recently used others over the limit. */
  async #evict(desired: DesiredState): Promise<void> {
    const keep = new Set<string>();
    const s = this.#o.cache.state;
    for (const m of this.#o.pool.models) keep.add(`${m.name}@${m.version}`);
    for (const [n, v] of Object.entries(s.previous)) keep.add(`${n}@${v}`);
    for (const [n, v] of Object.entries(s.active)) keep.add(`${n}@${v}`);
    for (const d of desired.models) keep.add(`${d.name}@${d.version}`);
    await this.#o.cache.evict(keep);
  }

  /** The per-model health this node reports to the hub. */
  healthReport(): NodeHealthReport {
    const models: ModelHealth[] = this.#o.pool.models
      .filter((m) => this.#o.models.includes(m.name))
      .map((m) => {
        const h = this.#o.health.get(m.name, m.version);
        const failure = this.#failures.get(m.name);
        return {
          name: m.name,
          version: m.version,
          state: this.#loading.has(m.name) ? 'loading' : failure ? 'failed' : 'ready',
          ...h,
          ...(failure
            ? {
                failedVersion: failure.version,
                error: { code: failure.code, message: failure.message.slice(0, 500) },
              }
            : {}),
        };
      });
    return {
      storeId: this.#o.storeId,
      ...(this.#o.nodePool ? { nodePool: this.#o.nodePool } : {}),
      ...(this.#o.labels ? { labels: this.#o.labels } : {}),
      models,
    };
  }

  async reportHealth(): Promise<void> {
    if (this.#o.pool.models.length === 0) return;
    await this.#request('PUT', `/v1/nodes/${encodeURIComponent(this.#o.nodeId)}/health`, this.healthReport());
  }

  #remember(): void {
    for (const m of this.#o.pool.models) {
      const dir = this.#o.pool.modelDirs[m.name];
      if (dir) this.#knownDirs.set(`${m.name}@${m.version}`, dir);
    }
  }

  async #auth(): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await this.#ensureToken()}` };
  }

  /** The node token: configured, kept from an earlier enrolment, or enrolled now. */
  async #ensureToken(): Promise<string> {
    if (this.#token) return this.#token;
    const kept = await readFile(this.#o.tokenFile, 'utf8').then(
      (t) => t.trim() || undefined,
      () => undefined,
    );
    if (kept) {
      this.#token = kept;
      return kept;
    }
    if (!this.#o.enrolmentToken)
      throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', 'no hub token: set hubToken or hubEnrolmentToken');
    const res = await this.#send('POST', '/v1/nodes/enrol', {
      enrolmentToken: this.#o.enrolmentToken,
      nodeId: this.#o.nodeId,
      storeId: this.#o.storeId,
      ...(this.#o.nodePool ? { nodePool: this.#o.nodePool } : {}),
      ...(this.#o.labels ? { labels: this.#o.labels } : {}),
    });
    const { token } = enrolResultSchema.parse(await res.json());
    await mkdir(path.dirname(this.#o.tokenFile), { recursive: true });
    const tmp = `${this.#o.tokenFile}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, `${token}\n`, { mode: 0o600 });
    await rename(tmp, this.#o.tokenFile);
    this.#log.info({ hub: this.#o.hubUrl }, 'enrolled with the hub');
    this.#token = token;
    return token;
  }

  async #request(
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return this.#send(method, route, body, { ...headers, ...(await this.#auth()) });
  }

  async #send(
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.#o.hubUrl}${route}`, {
        method,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: this.#abort.signal,
      });
    } catch (err) {
      throw new EdgeError('EDGE_ERR_HUB_UNREACHABLE', `${method} ${route}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (res.status >= 400) {
      const text = await res.text().catch(() => '');
      // A revoked or unknown token: forget it, so an enrolment token (if any) can enrol again.
      if (res.status === 401 && !this.#o.token) this.#token = undefined;
      throw new EdgeError(
        'EDGE_ERR_HUB_UNREACHABLE',
        `${method} ${route}: HTTP ${res.status} ${text.slice(0, 300)}`,
      );
    }
    return res;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
