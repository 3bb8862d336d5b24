import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { EdgeError, type EdgeErrorCode } from '../errors.ts';
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

interface Slot {
  index: number;
  worker: Worker;
  /** `reserved`: held by a lease that has not given it a task yet. */
  state: 'starting' | 'idle' | 'reserved' | 'busy' | 'dead';
  current?: { id: number; pending: Pending; timer: NodeJS.Timeout } | undefined;
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
  #started = false;
  #closed = false;
  #restarts = 0;

  constructor(opts: InferencePoolOptions) {
    this.#opts = opts;
  }

  /** Starts every thread; resolves once all have loaded and warmed up their models. */
  async start(): Promise<LoadedModel[]> {
    const first = await Promise.all(Array.from({ length: this.#opts.threads }, (_, i) => this.#spawn(i)));
    this.#models = first[0] ?? [];
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
        s.state = 'dead';
        await s.worker.terminate();
      }),
    );
  }

  /** Starts thread `index` (first start or replacement) and resolves when its models are ready. */
  #spawn(index: number): Promise<LoadedModel[]> {
    const init: ThreadInit = {
      models: this.#opts.models,
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
    const slot: Slot = { index, worker, state: 'starting' };
    this.#slots[index] = slot;
    const log = this.#opts.logger.child({ module: 'inference-pool', thread: index });
    return new Promise<LoadedModel[]>((resolve, reject) => {
      worker.on('message', (msg: FromThread) => {
        if (slot.state === 'dead') return;
        switch (msg.type) {
          case 'ready':
            slot.state = 'idle';
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
          case 'done':
          case 'failed': {
            const cur = slot.current;
            if (!cur || cur.id !== msg.id) return;
            clearTimeout(cur.timer);
            slot.current = undefined;
            slot.state = 'idle';
            if (msg.type === 'done') cur.pending.resolve(msg.result);
            else cur.pending.reject(toError(msg.error, 'EDGE_ERR_INTERNAL'));
            this.#dispatch();
            return;
          }
        }
      });
      worker.on('error', (err) => log.error({ err }, 'inference thread error'));
      worker.on('exit', (code) => {
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
    if (cur) {
      clearTimeout(cur.timer);
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
    slot.current = { id, pending, timer };
    const task = pending.task;
    if (task.kind === 'detect') {
      // Cloning a view copies its whole backing ArrayBuffer, and a frame from ioredis can be a
      // slice of the parser's larger pool buffer: one exact copy, transferred, is all it costs.
      // (The caller's buffer is never transferred: the HTTP body stays usable.)
      const image = new Uint8Array(task.image);
      slot.worker.postMessage({ type: 'task', id, task: { ...task, image } } satisfies ToThread, [
        image.buffer,
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
    default:
      return new EdgeError(fallback, e.message);
  }
}
