import { CatalogueError } from '@storevision/contracts';
/**
 * The hub's error catalogue. Every JSON error the hub answers is `{code, message}` with one of these
 * codes and its HTTP status; clients (the CLI, edges) branch on `code`, never on `message`.
 * `errors.test.ts` keeps the catalogue honest (codes are unique, prefixed, statuses are 4xx/5xx, and
 * every code is documented in the README).
 */
export const hubErrors = {
  HUB_ERR_BAD_REQUEST: { statusCode: 400, message: 'request is invalid' },
  HUB_ERR_BAD_MODEL_NAME: {
    statusCode: 400,
    message: 'model names are lower-case kebab-case: a-z 0-9 -, at most 63 characters',
  },
  HUB_ERR_BAD_VERSION: { statusCode: 400, message: 'version is not a semantic version (e.g. 1.3.0)' },
  HUB_ERR_BAD_ALIAS: { statusCode: 400, message: 'aliases are 1–32 of a-z 0-9 -, starting with a letter' },
  HUB_ERR_BAD_DIGEST: { statusCode: 400, message: 'digest must be sha256:<64 hex digits>' },
  HUB_ERR_BAD_EVENT_BATCH: {
    statusCode: 400,
    message: 'the event batch is not a valid batch (schemaVersion, nodeId, storeId, events)',
  },
  HUB_ERR_BAD_STORE_ID: { statusCode: 400, message: 'store ids are 1–64 of A-Z a-z 0-9 _ . -' },
  HUB_ERR_BAD_METRIC_QUERY: {
    statusCode: 400,
    message:
      'unknown metric or bucket (metric: footfall_in|footfall_out|occupancy|dwell|queue_length|queue_wait|alerts; bucket: 1m|5m|1h|1d)',
  },
  HUB_ERR_BAD_TIME_RANGE: {
    statusCode: 400,
    message: 'from/to must be ISO 8601 times with from before to, and at most 10 000 buckets apart',
  },
  HUB_ERR_BAD_CAMERA_ID: { statusCode: 400, message: 'camera ids are 1–64 of A-Z a-z 0-9 _ . -' },
  HUB_ERR_BAD_SNAPSHOT: {
    statusCode: 400,
    message:
      'the snapshot upload is invalid: multipart/form-data with a `meta` JSON field and an `image` JPEG file whose size the meta states',
  },
  HUB_ERR_SNAPSHOT_NOT_JPEG: { statusCode: 415, message: 'the snapshot image is not a complete JPEG' },
  HUB_ERR_MODEL_FILE_MISSING: { statusCode: 400, message: 'the multipart body has no `model` file part' },
  HUB_ERR_NOT_ONNX: { statusCode: 422, message: 'the uploaded file is not a readable ONNX model' },
  HUB_ERR_ONNX_REJECTED: { statusCode: 422, message: 'onnxruntime cannot load the uploaded model' },
  HUB_ERR_MANIFEST_INVALID: { statusCode: 422, message: 'the manifest is invalid' },
  HUB_ERR_MANIFEST_REQUIRED: {
    statusCode: 422,
    message: 'no manifest given and the model has no Ultralytics metadata to build one from',
  },
  HUB_ERR_MANIFEST_MISMATCH: { statusCode: 422, message: 'the manifest does not match the ONNX graph' },
  HUB_ERR_UNAUTHORIZED: { statusCode: 401, message: 'missing, unknown or expired API token' },
  HUB_ERR_FORBIDDEN: { statusCode: 403, message: 'this token’s role may not do that' },
  HUB_ERR_MODEL_NOT_FOUND: { statusCode: 404, message: 'no such model' },
  HUB_ERR_VERSION_NOT_FOUND: { statusCode: 404, message: 'no such model version or alias' },
  HUB_ERR_BLOB_NOT_FOUND: { statusCode: 404, message: 'no such blob' },
  HUB_ERR_TOKEN_NOT_FOUND: { statusCode: 404, message: 'no such token' },
  HUB_ERR_STORE_NOT_FOUND: { statusCode: 404, message: 'no such store' },
  HUB_ERR_SNAPSHOT_NOT_FOUND: { statusCode: 404, message: 'this camera has no snapshot (yet)' },
  HUB_ERR_NOT_FOUND: { statusCode: 404, message: 'no such route' },
  HUB_ERR_NODE_NOT_FOUND: { statusCode: 404, message: 'no such node' },
  HUB_ERR_ROLLOUT_NOT_FOUND: { statusCode: 404, message: 'no such rollout' },
  HUB_ERR_BAD_NODE_ID: { statusCode: 400, message: 'node ids are 1–64 of A-Z a-z 0-9 _ . -' },
  HUB_ERR_BAD_HEALTH_REPORT: { statusCode: 400, message: 'the health report is invalid' },
  HUB_ERR_BAD_ROLLOUT: { statusCode: 400, message: 'the rollout request is invalid' },
  HUB_ERR_BAD_WAVES: {
    statusCode: 400,
    message: 'waves must grow (percent strictly increasing, the last 100) and cover every target store once',
  },
  HUB_ERR_NO_TARGET_NODES: { statusCode: 422, message: 'no known node matches the rollout target' },
  HUB_ERR_ROLLOUT_CONFLICT: {
    statusCode: 409,
    message: 'this model already has a running or paused rollout',
  },
  HUB_ERR_ROLLOUT_STATE: { statusCode: 409, message: 'the rollout cannot do that in its current state' },
  HUB_ERR_STORE_OUT_OF_SCOPE: {
    statusCode: 403,
    message: 'this token is scoped to other stores and may not write this one',
  },
  HUB_ERR_NODE_TOKEN_MISMATCH: { statusCode: 403, message: 'this node token belongs to another node' },
  HUB_ERR_ENROLMENT_REFUSED: {
    statusCode: 401,
    message: 'unknown, expired or used-up enrolment token, or one issued for another store',
  },
  HUB_ERR_VERSION_EXISTS: {
    statusCode: 409,
    message: 'this version is already published with other content; versions are immutable',
  },
  HUB_ERR_UPLOAD_TOO_LARGE: { statusCode: 413, message: 'the upload is larger than the configured limit' },
  HUB_ERR_UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, message: 'content type is not accepted here' },
  HUB_ERR_RANGE_NOT_SATISFIABLE: { statusCode: 416, message: 'the requested range is outside the blob' },
  HUB_ERR_VALIDATION_TIMEOUT: { statusCode: 503, message: 'validating the model took too long' },
  HUB_ERR_DATABASE_UNAVAILABLE: { statusCode: 503, message: 'the metadata database is unreachable' },
  HUB_ERR_INTERNAL: { statusCode: 500, message: 'internal error' },
} as const satisfies Record<string, { statusCode: number; message: string }>;

export type HubErrorCode = keyof typeof hubErrors;

export class HubError extends CatalogueError<HubErrorCode> {
  override readonly name = 'HubError';

  constructor(code: HubErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(hubErrors, code, detail, options);
  }
}

export function isHubError(err: unknown, code?: HubErrorCode): err is HubError {
  return err instanceof HubError && (code === undefined || err.code === code);
}
