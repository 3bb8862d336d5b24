import type { ModelManifest } from '@storevision/contracts';
import type { GraphIo } from '@storevision/detector';
import type { HubErrorCode } from '../errors.ts';

/** What the validator hands a validation process (the first IPC message). */
export interface ValidateRequest {
  /** The staged upload. */
  file: string;
  /** The uploaded file's name (becomes the variant's `file` for imported manifests). */
  fileName: string;
  name: string;
  version: string;
  /** `sha256` hex of the file, for imported manifests. */
  sha256: string;
  sizeBytes: number;
  /** Parsed manifest, or absent to import one from Ultralytics metadata. */
  manifest?: ModelManifest;
}

export type ValidateResult =
  | { ok: true; manifest: ModelManifest; graph: GraphIo; imported: boolean; loadMs: number }
  | { ok: false; code: HubErrorCode; message: string };

/**
 * What a validation process tells the hub: it is ready for the request; it is about to load the
 * model in onnxruntime (so a crash from here is the runtime refusing the model); its verdict.
 */
export type ValidateMessage =
  | { phase: 'ready' }
  | { phase: 'load' }
  | { phase: 'done'; result: ValidateResult };
