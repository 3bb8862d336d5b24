import { Worker } from 'node:worker_threads';
import type { ModelManifest } from '@storevision/contracts';
import type { GraphIo } from '@storevision/detector';
import { HubError } from '../errors.ts';
import type { ValidateRequest, ValidateResult } from './messages.ts';

const ENTRY = new URL('./validate-thread-entry.mjs', import.meta.url);

export interface ValidatedModel {
  manifest: ModelManifest;
  graph: GraphIo;
  /** True when the manifest was built from Ultralytics metadata. */
  imported: boolean;
  /** onnxruntime session creation time. */
  loadMs: number;
}

/** Validates a staged model file; the hub's only way to decide a file is a model it can serve. */
export interface ModelValidator {
  validate(req: ValidateRequest): Promise<ValidatedModel>;
}

/**
 * Runs each validation in a fresh worker thread. onnxruntime-node creates sessions synchronously
 * inside its native binding, so loading a large model on the HTTP thread would stall every other
 * request (blob downloads of 200 edges included) for the whole load; the protobuf parse reads the
 * whole file. A thread per publish costs ~0.5 s of start-up, which is nothing next to an upload,
 * and gives each validation a clean heap that is freed when it ends. A watchdog terminates a
 * validation that runs past `timeoutMs`.
 */
export class WorkerModelValidator implements ModelValidator {
  constructor(private readonly opts: { timeoutMs: number }) {}

  validate(req: ValidateRequest): Promise<ValidatedModel> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(ENTRY, { workerData: req });
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        fn();
        void worker.terminate();
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new HubError('HUB_ERR_VALIDATION_TIMEOUT', `no verdict within ${this.opts.timeoutMs} ms`)),
          ),
        this.opts.timeoutMs,
      );
      worker.once('message', (r: ValidateResult) =>
        finish(() =>
          r.ok
            ? resolve({ manifest: r.manifest, graph: r.graph, imported: r.imported, loadMs: r.loadMs })
            : reject(new HubError(r.code, r.message)),
        ),
      );
      worker.once('error', (err) =>
        finish(() => reject(new HubError('HUB_ERR_INTERNAL', `validation thread failed: ${err.message}`))),
      );
      worker.once('exit', (code) =>
        finish(() => reject(new HubError('HUB_ERR_INTERNAL', `validation thread exited with ${code}`))),
      );
    });
  }
}
