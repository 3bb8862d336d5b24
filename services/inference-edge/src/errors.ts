import { CatalogueError } from '@storevision/contracts';
/**
 * The edge's error catalogue. Every JSON error the service answers is `{code, message}` with one of
 * these codes and its HTTP status; clients branch on `code`, never on `message`. `errors.test.ts`
 * keeps the catalogue honest (codes are unique, prefixed, statuses are 4xx/5xx).
 */
export const edgeErrors = {
  EDGE_ERR_BAD_CAMERA_ID: { statusCode: 400, message: 'camera id must be 1–64 of A-Z a-z 0-9 _ . -' },
  EDGE_ERR_BAD_IMAGE: {
    statusCode: 400,
    message: 'body is not a complete JPEG or PNG image',
  },
  EDGE_ERR_IMAGE_TOO_LARGE: {
    statusCode: 413,
    message: 'image has more pixels than the configured limit',
  },
  EDGE_ERR_BODY_TOO_LARGE: { statusCode: 413, message: 'request body is larger than the configured limit' },
  EDGE_ERR_UNSUPPORTED_MEDIA_TYPE: {
    statusCode: 415,
    message: 'content type must be image/jpeg or image/png',
  },
  EDGE_ERR_BAD_REQUEST: { statusCode: 400, message: 'request is invalid' },
  EDGE_ERR_BAD_TENSOR: { statusCode: 400, message: 'input tensor does not fit the model' },
  EDGE_ERR_MODEL_NOT_FOUND: { statusCode: 404, message: 'no such model on this node' },
  EDGE_ERR_NO_RESULT: { statusCode: 404, message: 'no result for this camera yet' },
  EDGE_ERR_BAD_ANALYTICS_CONFIG: { statusCode: 400, message: 'analytics config is invalid' },
  EDGE_ERR_NO_ANALYTICS_CONFIG: { statusCode: 404, message: 'this camera has no analytics config' },
  EDGE_ERR_NOT_FOUND: { statusCode: 404, message: 'no such route' },
  /** The orchestrator placed the camera on another node; `Location` names that node's frames URL. */
  EDGE_ERR_CAMERA_NOT_ASSIGNED: { statusCode: 421, message: 'this node does not run this camera' },
  /** The last plan places the camera on no node of the store (or on none that is up); `Retry-After`. */
  EDGE_ERR_NO_CAMERA_OWNER: {
    statusCode: 503,
    message: 'no node of the store runs this camera now; retry shortly',
  },
  EDGE_ERR_REDIS_UNAVAILABLE: { statusCode: 503, message: 'Redis is unreachable; retry shortly' },
  EDGE_ERR_NOT_READY: { statusCode: 503, message: 'models are still loading' },
  EDGE_ERR_BUSY: { statusCode: 503, message: 'inference workers are saturated; retry shortly' },
  EDGE_ERR_INFERENCE_TIMEOUT: { statusCode: 503, message: 'inference took longer than the watchdog allows' },
  EDGE_ERR_WORKER_CRASHED: { statusCode: 503, message: 'inference worker died while running this request' },
  EDGE_ERR_SHUTTING_DOWN: { statusCode: 503, message: 'the node is shutting down' },
  /** Model agent (hub → edge delivery); reported to the hub in the node's health, and logged. */
  EDGE_ERR_MODEL_SIGNATURE_INVALID: {
    statusCode: 502,
    message: 'the model version is unsigned or its signature does not verify with the pinned hub key',
  },
  EDGE_ERR_MODEL_DIGEST_MISMATCH: {
    statusCode: 502,
    message: 'the downloaded model file does not have the signed sha256 digest',
  },
  EDGE_ERR_MODEL_DOWNLOAD_FAILED: {
    statusCode: 502,
    message: 'downloading the model version from the hub failed',
  },
  EDGE_ERR_MODEL_LOAD_FAILED: {
    statusCode: 500,
    message: 'the model version failed to load or warm up; the previous version keeps running',
  },
  EDGE_ERR_HUB_UNREACHABLE: {
    statusCode: 502,
    message: 'the model hub is unreachable or refused the request',
  },
  EDGE_ERR_INTERNAL: { statusCode: 500, message: 'internal error' },
} as const satisfies Record<string, { statusCode: number; message: string }>;

export type EdgeErrorCode = keyof typeof edgeErrors;

export class EdgeError extends CatalogueError<EdgeErrorCode> {
  override readonly name = 'EdgeError';
  /** Seconds for a `Retry-After` header, on 503s that clear by themselves. */
  readonly retryAfterSeconds: number | undefined;
  /** A `Location` header: where to send the request instead (421 to the camera's owner node). */
  readonly location: string | undefined;

  constructor(
    code: EdgeErrorCode,
    detail?: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; location?: string },
  ) {
    super(edgeErrors, code, detail, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.location = options?.location;
  }
}

export function isEdgeError(err: unknown, code?: EdgeErrorCode): err is EdgeError {
  return err instanceof EdgeError && (code === undefined || err.code === code);
}
