import type { Detection, ModelManifest } from '@storevision/contracts';
import type { ThresholdOverrides } from '@storevision/detector';
import type { MotionOptions, MotionThumbnail } from './motion.ts';

/**
 * Messages between the pool (main thread) and an inference thread. Structured-clone only:
 * typed arrays and plain objects.
 */

export interface ThreadInit {
  /** Absolute model package folders, by model name. */
  models: Record<string, string>;
  intraOpThreads: number;
  sharpConcurrency: number;
  maxPixels: number;
  logLevel: string;
  threadIndex: number;
}

/**
 * Fault injection for the watchdog and retry tests only (never set from config or the CLI): the
 * thread crashes with an uncaught error, or spins forever, instead of running the task.
 */
export type InjectedFault = 'crash' | 'hang';

export type TaskRequest =
  | {
      kind: 'detect';
      /** Encoded JPEG/PNG, decoded once for all models. */
      image: Uint8Array;
      /**
       * The caller gives `image` up: when it spans its whole ArrayBuffer, that buffer is moved to
       * the thread rather than copied (it is detached here afterwards). Default: copied.
       */
      transferImage?: boolean;
      models: string[];
      overrides?: ThresholdOverrides;
      fault?: InjectedFault;
      /**
       * The version of each model to run, set by the pool when it sends the task: a task keeps the
       * versions live when it started, so a frame in flight finishes on the model it began with.
       */
      versions?: Record<string, string>;
      /**
       * Motion gating (see `motion.ts`): the thread returns the frame's thumbnail, and skips the
       * models when the frame barely differs from `reference` (the camera's last detected frame):
       * only if it has the same size in pixels and the models would run the versions its
       * detections came from. Without `reference` the models always run.
       */
      motion?: MotionOptions & { reference?: MotionReferenceFrame };
    }
  | { kind: 'infer'; model: string; tensor: Float32Array; version?: string };

/** What motion gating compares a frame with: the camera's last detected frame. */
export interface MotionReferenceFrame {
  thumbnail: MotionThumbnail;
  /** Its size in pixels (boxes are in these). */
  width: number;
  height: number;
  /** The version of each model its detections came from. */
  versions: Record<string, string>;
}

export interface ModelRun {
  version: string;
  detections: Detection[];
  inferMs: number;
}

export interface DetectTaskResult {
  kind: 'detect';
  width: number;
  height: number;
  decodeMs: number;
  /** Empty when motion gating skipped the models. */
  models: Record<string, ModelRun>;
  /**
   * With `motion` in the task: the fraction of the thumbnail that moved (1 when there was no
   * reference to compare with), and whether the models were skipped.
   */
  motion?: { moved: number; skipped: boolean; thumbnail: MotionThumbnail };
}

export interface InferTaskResult {
  kind: 'infer';
  outputName: string;
  dims: number[];
  data: Float32Array;
  inferMs: number;
}

export type TaskResult = DetectTaskResult | InferTaskResult;

export interface LoadedModel {
  name: string;
  version: string;
  manifest: ModelManifest;
  executionProviders: string[];
}

export type ToThread =
  | { type: 'task'; id: number; task: TaskRequest }
  /** Load and warm up another model package (a new version) next to the live ones. */
  | { type: 'load-model'; id: number; name: string; dir: string }
  /** Release a version once no task uses it any more. */
  | { type: 'unload-model'; name: string; version: string };

export type FromThread =
  | { type: 'ready'; models: LoadedModel[]; loadMs: number }
  | { type: 'load-failed'; error: SerializedError }
  | { type: 'done'; id: number; result: TaskResult }
  | { type: 'failed'; id: number; error: SerializedError }
  | { type: 'model-loaded'; id: number; model: LoadedModel; loadMs: number }
  | { type: 'model-load-failed'; id: number; error: SerializedError };

/** An error crossing the thread boundary: the code (DETECTOR_ERR_* or EDGE_ERR_*) survives. */
export interface SerializedError {
  code?: string;
  message: string;
}
