import type { ModelManifest } from '@storevision/contracts';
import type { GraphIo } from '@storevision/detector';
import type { HubErrorCode } from '../errors.ts';

/** What the validator hands a validation thread (`workerData`). */
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
