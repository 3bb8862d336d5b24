import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ModelManifest } from '@storevision/contracts';
import type { GraphIo } from '@storevision/detector';
import { HubError } from '../errors.ts';
import type { ValidateMessage, ValidateRequest } from './messages.ts';

const ENTRY = fileURLToPath(new URL('./validate-process-entry.mjs', import.meta.url));
/** How much of a validation process's stderr is kept for the error message when it dies. */
const STDERR_TAIL_BYTES = 2048;

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
 * Runs each validation in a fresh, short-lived child process (`validate-process.ts`).
 *
 * Why a process and not a worker thread (which this was): loading a model in onnxruntime puts the
 * whole model in native memory — the protobuf and every initializer, ~2× the file for the big
 * weights — and a worker thread shares the hub's address space, so a 100 MB publish raised the
 * hub's RSS by ~180 MB at peak and left ~80 MB of it behind after the session was released (the
 * allocator keeps freed pages; measured with `storevision bench models`). A child process takes that
 * memory with it when it exits, so the hub's own memory stays flat whatever the model's size; and
 * a crash inside onnxruntime's native code on a hostile file ends that process, not the hub. It
 * also keeps the synchronous session creation off the HTTP thread, as the thread did. The cost is
 * a process start (~0.5 s with the TypeScript loader), nothing next to an upload; publishes are rare.
 *
 * The ONNX parse reads the file at offsets and skips the weights, so the process's own heap stays
 * small too. A watchdog kills a validation that runs past `timeoutMs`.
 */
export class ProcessModelValidator implements ModelValidator {
  constructor(private readonly opts: { timeoutMs: number }) {}

  validate(req: ValidateRequest): Promise<ValidatedModel> {
    return new Promise((resolve, reject) => {
      // No inherited exec flags (an inspector port, a test runner's loader): the entry loads what it needs.
      const child = fork(ENTRY, [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => {
        stderr = (stderr + d).slice(-STDERR_TAIL_BYTES);
      });
      let phase: 'start' | 'parse' | 'load' = 'start';
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        fn();
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new HubError('HUB_ERR_VALIDATION_TIMEOUT', `no verdict within ${this.opts.timeoutMs} ms`)),
          ),
        this.opts.timeoutMs,
      );
      child.on('message', (m: ValidateMessage) => {
        if (m.phase === 'ready') {
          phase = 'parse';
          child.send(req, (err) => {
            if (err)
              finish(() =>
                reject(new HubError('HUB_ERR_INTERNAL', `validation process unreachable: ${err.message}`)),
              );
          });
        } else if (m.phase === 'load') phase = 'load';
        else if (m.phase === 'done') {
          const r = m.result;
          finish(() =>
            r.ok
              ? resolve({ manifest: r.manifest, graph: r.graph, imported: r.imported, loadMs: r.loadMs })
              : reject(new HubError(r.code, r.message)),
          );
        }
      });
      child.once('error', (err) =>
        finish(() => reject(new HubError('HUB_ERR_INTERNAL', `validation process failed: ${err.message}`))),
      );
      // `close`, not `exit`: it comes after the IPC channel is drained, so a verdict sent just before
      // the process ended is never mistaken for none.
      child.once('close', (code, signal) => {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        const detail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : '';
        finish(() =>
          reject(
            phase === 'load'
              ? // onnxruntime's native code died on this file: the runtime cannot load it.
                new HubError(
                  'HUB_ERR_ONNX_REJECTED',
                  `onnxruntime crashed loading the model (${how})${detail}`,
                )
              : new HubError(
                  'HUB_ERR_INTERNAL',
                  `validation process ended (${how}) without a verdict${detail}`,
                ),
          ),
        );
      });
    });
  }
}
