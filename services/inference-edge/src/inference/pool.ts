import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { EdgeError, type EdgeErrorCode, isEdgeError } from '../errors.ts';
import type {
  FromThread,
  LoadedModel,
  SerializedError,
  TaskRequest,
  TaskResult,
  ThreadInit,
  ToThread,
} from './messages.ts';

/**
 * A fixed set of inference threads, each holding long-lived sessions for every assigned model.
 * onnxruntime's `run()` and libvips' decode never touch the HTTP thread.
 *
 * Watchdog: every task has a deadline. A thread that passes it (stuck in a model, a decoder, a
 * loop) or dies (uncaught error, native abort of the thread) is terminated and replaced by a fresh
 * thread that loads and warms its models again; the task in flight is rejected with
 * `EDGE_ERR_INFERENCE_TIMEOUT` / `EDGE_ERR_WORKER_CRASHED`, so the caller decides: a frame job is
 * retried by BullMQ (and counted as failed after its last attempt), an HTTP request gets a 503.
 */

export interface InferencePoolOptions {
  /** Model package folders by model name; every thread loads all of them. */
  models: Record<string, string>;
  threads: number;
  intraOpThreads: number;
  sharpConcurrency: number;
  maxPixels: number;
  /** Deadline of one task. */
  timeoutMs: number;
  /** Tasks allowed to wait for a thread (those passing `bypassQueueLimit` do not count). */
  maxQueued: number;
  logger: Logger;
  logLevel?: string;
  /** Called when a thread is replaced. */
  onThreadRestart?: (reason: 'timeout' | 'crash') => void;
  /** Seconds to wait before retrying a replacement thread whose models failed to load. @defaultValue 2 */
  reloadDelayMs?: number;
  /**
   * Called after every model run of a task: its inference time, or `undefined` when the task
   * failed for a reason that is the model's (not a bad image). Feeds per-version health.
   */
  onModelRun?: (model: string, version: string, inferMs: number | undefined) => void;
}

/** An answer to a control message (`load-model`) from one thread. */
interface Control {
  resolve: (m: LoadedModel) => void;
  reject: (e: Error) => void;
}

interface Pending {
  task: TaskRequest;
  resolve: (r: TaskResult) => void;
  reject: (e: Error) => void;
  bypassQueueLimit: boolean;
}

/** Someone waiting for a thread of their own (`acquire`), not for a task to run. */
interface LeaseRequest {
  lease: true;
  resolve: (l: ThreadLease) => void;
  reject: (e: Error) => void;
  bypassQueueLimit: true;
}

/** How long `close()` waits for a thread still loading its models. */
const CLOSE_WAIT_FOR_START_MS = 30_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

interface Slot {
  index: number;
  worker: Worker;
  /** `reserved`: held by a lease that has not given it a task yet. */
  state: 'starting' | 'idle' | 'reserved' | 'busy' | 'dead';
  current?:
    | { id: number; pending: Pending; timer: NodeJS.Timeout; versions: Record<string, string> }
    | undefined;
  /** `name@version` loaded on this thread. */
  loaded: Set<string>;
  /** Model loads sent to this thread and not answered yet. */
  controls: Map<number, Control>;
  /** Settles when the thread has finished starting (ready, failed or exited). */
  settled: Promise<void>;
}

/**
 * One idle inference thread, held for its owner until `run` or `release` (exactly one of them
 * should be called; a second call is a no-op or runs on the next free thread).
 */
export interface ThreadLease {
  run(task: TaskRequest): Promise<TaskResult>;
  release(): void;
}

export class InferencePool {
  readonly #opts: InferencePoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Array<Pending | LeaseRequest> = [];
  #nextId = 1;
  #models: LoadedModel[] = [];
  /** Package folder of the live version of each model (what a replacement thread loads). */
  readonly #dirs: Record<string, string>;
  /** The live version of each model: every task sent from now on runs it. */
  readonly #active = new Map<string, string>();
  /** Serializes swaps (one model switch at a time). */
  #swapping: Promise<unknown> = Promise.resolve();
  #started = false;
  #closed = false;
  #restarts = 0;

  constructor(opts: InferencePoolOptions) {
    this.#opts = opts;
    this.#dirs = { ...opts.models };
  }

  /** Starts every thread; resolves once all have loaded and warmed up their models. */
  async start(): Promise<LoadedModel[]> {
    const first = await Promise.all(Array.from({ length: this.#opts.threads }, (_, i) => this.#spawn(i)));
    this.#models = first[0] ?? [];
    for (const m of this.#models) this.#active.set(m.name, m.version);
    this.#started = true;
    this.#dispatch();
    return this.#models;
  }

  /** Models as loaded by the threads (manifest, execution providers). */
  get models(): readonly LoadedModel[] {
    return this.#models;
  }

  /** Started, and at least one thread is ready to take work. */
  get ready(): boolean {
    return (
      this.#started &&
      !this.#closed &&
      this.#slots.some((s) => s.state === 'idle' || s.state === 'busy' || s.state === 'reserved')
    );
  }

  get stats() {
    return {
      threads: this.#slots.length,
      busy: this.#slots.filter((s) => s.state === 'busy' || s.state === 'reserved').length,
      starting: this.#slots.filter((s) => s.state === 'starting').length,
      queued: this.#queue.length,
      restarts: this.#restarts,
    };
  }

  /** Runs a task on the next free thread. */
  run(task: TaskRequest, opts: { bypassQueueLimit?: boolean } = {}): Promise<TaskResult> {
    if (this.#closed) return Promise.reject(new EdgeError('EDGE_ERR_SHUTTING_DOWN'));
    const bypassQueueLimit = opts.bypassQueueLimit ?? false;
    if (!bypassQueueLimit) {
      const waiting = this.#queue.filter((p) => !p.bypassQueueLimit).length;
      const free = this.#slots.some((s) => s.state === 'idle');
      if (!free && waiting >= this.#opts.maxQueued) {
        return Promise.reject(new EdgeError('EDGE_ERR_BUSY', `${waiting} requests already waiting`));
      }
    }
    return new Promise<TaskResult>((resolve, reject) => {
      this.#queue.push({ task, resolve, reject, bypassQueueLimit });
      this.#dispatch();
    });
  }

  /**
   * Waits for a free thread and holds it, so the caller can fetch its input first and still start
   * the moment the thread is free: the frame worker takes BullMQ jobs ahead of the threads (their
   * Redis round trips overlap inference) but claims a frame only once a thread is its own, so the
   * frame it claims is the camera's newest at that moment, not one that then waits behind another.
   * Not limited by `maxQueued` (the frame worker's concurrency bounds its own requests).
   */
  acquire(): Promise<ThreadLease> {
    if (this.#closed) return Promise.reject(new EdgeError('EDGE_ERR_SHUTTING_DOWN'));
    return new Promise<ThreadLease>((resolve, reject) => {
      this.#queue.push({ lease: true, resolve, reject, bypassQueueLimit: true });
      this.#dispatch();
    });
  }

  /** The package folder each model's live version was loaded from. */
  get modelDirs(): Readonly<Record<string, string>> {
    return { ...this.#dirs };
  }

  /**
   * Hot swap: loads and warms up the package in `dir` on every thread next to the live version,
   * then switches `name` to it. Tasks already sent finish on the version they started with (the
   * thread releases the old version after its last one); tasks sent after the switch run the new
   * one, so no frame is dropped or run half on each. If any thread fails to load or warm it up,
   * nothing switches: the new version is released where it did load, and this throws
   * `EDGE_ERR_MODEL_LOAD_FAILED` with the thread's reason.
   */
  swapModel(name: string, dir: string): Promise<{ previous: string | undefined; current: LoadedModel }> {
    const run = this.#swapping.then(() => this.#swap(name, dir));
    this.#swapping = run.catch(() => {});
    return run;
  }

  async #swap(name: string, dir: string): Promise<{ previous: string | undefined; current: LoadedModel }> {
    if (this.#closed) throw new EdgeError('EDGE_ERR_SHUTTING_DOWN');
    if (!this.#started) throw new EdgeError('EDGE_ERR_NOT_READY', 'the pool has not started');
    const live = this.#slots.filter((s) => s.state !== 'dead' && s.state !== 'starting');
    if (live.length === 0) throw new EdgeError('EDGE_ERR_NOT_READY', 'no inference thread is running');
    const results = await Promise.allSettled(live.map((s) => this.#load(s, name, dir)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const loaded = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const versions = new Set(loaded.map((m) => m.version));
    const previous = this.#active.get(name);
    if (failed || versions.size !== 1) {
      // Release what did load, unless it is the live version (a swap to the version already live).
      for (const m of loaded)
        if (m.version !== previous)
          for (const s of live) this.#post(s, { type: 'unload-model', name, version: m.version });
      const reason = failed ? (failed.reason as Error).message : 'threads loaded different versions';
      throw new EdgeError('EDGE_ERR_MODEL_LOAD_FAILED', `${name} from ${dir}: ${reason}`, {
        cause: failed?.reason,
      });
    }
    const current = loaded[0]!;
    this.#active.set(name, current.version);
    this.#dirs[name] = dir;
    this.#models = [...this.#models.filter((m) => m.name !== name), current];
    // A thread started while the new version was loading has only the old one: replace it (rare).
    for (const s of this.#slots)
      if (s && s.state !== 'dead' && s.state !== 'starting' && !s.loaded.has(`${name}@${current.version}`)) {
        s.state = 'dead';
        void s.worker.terminate();
        this.#fail(
          s,
          'crash',
          new EdgeError('EDGE_ERR_WORKER_CRASHED', 'replaced to load a new model version'),
        );
      }
    if (previous !== undefined && previous !== current.version)
      for (const s of live) {
        this.#post(s, { type: 'unload-model', name, version: previous });
        s.loaded.delete(`${name}@${previous}`);
      }
    this.#opts.logger.info(
      { module: 'inference-pool', model: name, from: previous, to: current.version },
      'model switched',
    );
    return { previous, current };
  }

  #load(slot: Slot, name: string, dir: string): Promise<LoadedModel> {
    const id = this.#nextId++;
    return new Promise<LoadedModel>((resolve, reject) => {
      slot.controls.set(id, { resolve, reject });
      this.#post(slot, { type: 'load-model', id, name, dir });
    });
  }

  #post(slot: Slot, msg: ToThread): void {
    if (slot.state === 'dead') return;
    slot.worker.postMessage(msg);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#queue.splice(0)) p.reject(new EdgeError('EDGE_ERR_SHUTTING_DOWN'));
    await Promise.all(
      this.#slots.map(async (s) => {
        if (s.current) {
          clearTimeout(s.current.timer);
          s.current.pending.reject(new EdgeError('EDGE_ERR_SHUTTING_DOWN'));
          s.current = undefined;
        }
        // A thread still creating its onnxruntime sessions is left to finish first: terminating it
        // inside native session creation can abort the whole process.
        if (s.state === 'starting') await Promise.race([s.settled, sleep(CLOSE_WAIT_FOR_START_MS)]);
        s.state = 'dead';
        await s.worker.terminate();
      }),
    );
  }

  /** Starts thread `index` (first start or replacement) and resolves when its models are ready. */
  #spawn(index: number): Promise<LoadedModel[]> {
    const init: ThreadInit = {
      models: { ...this.#dirs },
      intraOpThreads: this.#opts.intraOpThreads,
      sharpConcurrency: this.#opts.sharpConcurrency,
      maxPixels: this.#opts.maxPixels,
      logLevel: this.#opts.logLevel ?? 'info',
      threadIndex: index,
    };
    // A JS entry that loads inference-thread.ts through tsx (see inference-thread-entry.mjs).
    const worker = new Worker(new URL('./inference-thread-entry.mjs', import.meta.url), {
      workerData: init,
      name: `inference-${index}`,
    });
    let markSettled: () => void = () => {};
    const settled = new Promise<void>((r) => {
      markSettled = r;
    });
    const slot: Slot = { index, worker, state: 'starting', loaded: new Set(), controls: new Map(), settled };
    worker.once('message', () => markSettled());
    worker.once('exit', () => markSettled());
    const failControls = (err: Error) => {
      for (const c of slot.controls.values()) c.reject(err);
      slot.controls.clear();
    };
    this.#slots[index] = slot;
    const log = this.#opts.logger.child({ module: 'inference-pool', thread: index });
    return new Promise<LoadedModel[]>((resolve, reject) => {
      worker.on('message', (msg: FromThread) => {
        if (slot.state === 'dead') return;
        switch (msg.type) {
          case 'ready':
            slot.state = 'idle';
            for (const m of msg.models) slot.loaded.add(`${m.name}@${m.version}`);
            // A replacement that started before a switch loaded the old version: start it again.
            if (this.#started && [...this.#active].some(([n, v]) => !slot.loaded.has(`${n}@${v}`))) {
              slot.state = 'dead';
              void worker.terminate();
              resolve(msg.models);
              if (!this.#closed) this.#replace(index);
              return;
            }
            log.info(
              { loadMs: Math.round(msg.loadMs), models: msg.models.map((m) => m.name) },
              'inference thread ready',
            );
            resolve(msg.models);
            this.#dispatch();
            return;
          case 'load-failed':
            slot.state = 'dead';
            void worker.terminate();
            reject(toError(msg.error, 'EDGE_ERR_INTERNAL'));
            return;
          case 'model-loaded': {
            slot.loaded.add(`${msg.model.name}@${msg.model.version}`);
            const c = slot.controls.get(msg.id);
            slot.controls.delete(msg.id);
            log.info(
              { model: msg.model.name, version: msg.model.version, loadMs: Math.round(msg.loadMs) },
              'model version loaded',
            );
            c?.resolve(msg.model);
            return;
          }
          case 'model-load-failed': {
            const c = slot.controls.get(msg.id);
            slot.controls.delete(msg.id);
            c?.reject(toError(msg.error, 'EDGE_ERR_MODEL_LOAD_FAILED'));
            return;
          }
          case 'done':
          case 'failed': {
            const cur = slot.current;
            if (!cur || cur.id !== msg.id) return;
            clearTimeout(cur.timer);
            slot.current = undefined;
            slot.state = 'idle';
            if (msg.type === 'done') {
              if (msg.result.kind === 'detect')
                for (const [model, run] of Object.entries(msg.result.models))
                  this.#opts.onModelRun?.(model, run.version, run.inferMs);
              else
                for (const [model, version] of Object.entries(cur.versions))
                  this.#opts.onModelRun?.(model, version, msg.result.inferMs);
              cur.pending.resolve(msg.result);
            } else {
              const err = toError(msg.error, 'EDGE_ERR_INTERNAL');
              this.#modelFailed(cur.pending.task, cur.versions, err);
              cur.pending.reject(err);
            }
            this.#dispatch();
            return;
          }
        }
      });
      worker.on('error', (err) => log.error({ err }, 'inference thread error'));
      worker.on('exit', (code) => {
        failControls(new EdgeError('EDGE_ERR_WORKER_CRASHED', `thread ${index} exited with ${code}`));
        if (slot.state === 'dead') return;
        const wasStarting = slot.state === 'starting';
        slot.state = 'dead';
        log.error({ code }, 'inference thread exited');
        if (wasStarting && !this.#started) {
          reject(
            new EdgeError('EDGE_ERR_WORKER_CRASHED', `thread ${index} exited with ${code} while loading`),
          );
          return;
        }
        this.#fail(
          slot,
          'crash',
          new EdgeError('EDGE_ERR_WORKER_CRASHED', `thread exited with code ${code}`),
        );
      });
    });
  }

  /** Rejects the slot's task and starts a replacement thread in its place. */
  #fail(slot: Slot, reason: 'timeout' | 'crash', err: EdgeError): void {
    const cur = slot.current;
    slot.current = undefined;
    for (const c of slot.controls.values()) c.reject(err);
    slot.controls.clear();
    if (cur) {
      clearTimeout(cur.timer);
      this.#modelFailed(cur.pending.task, cur.versions, err);
      cur.pending.reject(err);
    }
    if (this.#closed) return;
    this.#restarts++;
    this.#opts.onThreadRestart?.(reason);
    this.#opts.logger.warn(
      { module: 'inference-pool', thread: slot.index, reason },
      'replacing inference thread',
    );
    this.#replace(slot.index);
  }

  #replace(index: number): void {
    this.#spawn(index).catch((err) => {
      if (this.#closed) return;
      this.#opts.logger.error({ err, thread: index }, 'replacement thread failed to load; retrying');
      setTimeout(() => !this.#closed && this.#replace(index), this.#opts.reloadDelayMs ?? 2000).unref();
    });
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot?.state !== 'idle') continue;
      const next = this.#queue.shift()!;
      if ('lease' in next) {
        slot.state = 'reserved';
        next.resolve(this.#lease(slot));
        continue;
      }
      this.#start(slot, next);
    }
  }

  /** The task with the live version of each of its models pinned (see `swapModel`). */
  #withVersions(task: TaskRequest): TaskRequest {
    if (task.kind === 'infer') {
      const version = this.#active.get(task.model);
      return version === undefined ? task : { ...task, version };
    }
    const versions: Record<string, string> = {};
    for (const m of task.models) {
      const v = this.#active.get(m);
      if (v !== undefined) versions[m] = v;
    }
    return { ...task, versions };
  }

  /** A failed task counts against its models' health unless the image was at fault. */
  #modelFailed(task: TaskRequest, versions: Record<string, string>, err: Error): void {
    if (!this.#opts.onModelRun) return;
    if (isEdgeError(err, 'EDGE_ERR_BAD_IMAGE') || isEdgeError(err, 'EDGE_ERR_IMAGE_TOO_LARGE')) return;
    if (isEdgeError(err, 'EDGE_ERR_SHUTTING_DOWN') || isEdgeError(err, 'EDGE_ERR_BAD_TENSOR')) return;
    const models = task.kind === 'detect' ? task.models : [task.model];
    for (const m of models) this.#opts.onModelRun(m, versions[m] ?? '', undefined);
  }

  #lease(slot: Slot): ThreadLease {
    let used = false;
    // The thread the lease holds, as long as it is still reserved for it (it may have died since).
    const held = () => {
      const mine = !used && slot.state === 'reserved' && this.#slots[slot.index] === slot;
      used = true;
      return mine;
    };
    return {
      run: (task) => {
        if (!held()) return this.run(task, { bypassQueueLimit: true });
        if (this.#closed) return Promise.reject(new EdgeError('EDGE_ERR_SHUTTING_DOWN'));
        return new Promise<TaskResult>((resolve, reject) =>
          this.#start(slot, { task, resolve, reject, bypassQueueLimit: true }),
        );
      },
      release: () => {
        if (!held()) return;
        slot.state = 'idle';
        this.#dispatch();
      },
    };
  }

  /** Sends a task to an idle or reserved thread, under the watchdog. */
  #start(slot: Slot, pending: Pending): void {
    const id = this.#nextId++;
    const timer = setTimeout(() => {
      if (slot.current?.id !== id) return;
      slot.state = 'dead';
      // terminate() stops JS at once; a thread inside native code stops when it returns to JS.
      // The replacement does not wait for it.
      void slot.worker.terminate();
      this.#fail(
        slot,
        'timeout',
        new EdgeError('EDGE_ERR_INFERENCE_TIMEOUT', `no answer within ${this.#opts.timeoutMs} ms`),
      );
    }, this.#opts.timeoutMs);
    slot.state = 'busy';
    const task = this.#withVersions(pending.task);
    const versions = task.kind === 'detect' ? (task.versions ?? {}) : { [task.model]: task.version ?? '' };
    slot.current = { id, pending, timer, versions };
    if (task.kind === 'detect') {
      // Cloning a view copies its whole backing ArrayBuffer, and a frame from ioredis can be a
      // slice of the parser's larger pool buffer: one exact copy, transferred, is all it costs. A
      // buffer the caller gives up (`transferImage`: the HTTP body of a frame, once claimed) that
      // spans its whole ArrayBuffer moves to the thread without a copy; anything else is copied, so
      // a caller's buffer is never detached unless it asked for it.
      const src = task.image;
      const whole = src.byteOffset === 0 && src.byteLength === src.buffer.byteLength;
      const image =
        task.transferImage && whole && !(src.buffer instanceof SharedArrayBuffer)
          ? new Uint8Array(src.buffer)
          : new Uint8Array(src);
      const { transferImage: _given, ...rest } = task;
      slot.worker.postMessage({ type: 'task', id, task: { ...rest, image } } satisfies ToThread, [
        image.buffer as ArrayBuffer,
      ]);
    } else {
      slot.worker.postMessage({ type: 'task', id, task } satisfies ToThread);
    }
  }
}

/** Rebuilds an error from a thread: detector codes map to the edge's catalogue. */
function toError(e: SerializedError, fallback: EdgeErrorCode): Error {
  switch (e.code) {
    case 'DETECTOR_ERR_IMAGE_TOO_LARGE':
      return new EdgeError('EDGE_ERR_IMAGE_TOO_LARGE', e.message);
    case 'DETECTOR_ERR_UNSUPPORTED_IMAGE':
      return new EdgeError('EDGE_ERR_BAD_IMAGE', e.message);
    case 'DETECTOR_ERR_UNSUPPORTED_INPUT':
      return new EdgeError('EDGE_ERR_BAD_TENSOR', e.message);
    case 'EDGE_ERR_MODEL_NOT_FOUND':
      return new EdgeError('EDGE_ERR_MODEL_NOT_FOUND', e.message);
    case 'EDGE_ERR_MODEL_LOAD_FAILED':
      return new EdgeError('EDGE_ERR_MODEL_LOAD_FAILED', e.message);
    default:
      return new EdgeError(fallback, e.message);
  }
}
