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
  HUB_ERR_NOT_FOUND: { statusCode: 404, message: 'no such route' },
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

export class HubError extends Error {
  override readonly name = 'HubError';
  readonly code: HubErrorCode;
  readonly statusCode: number;

  constructor(code: HubErrorCode, detail?: string, options?: { cause?: unknown }) {
    const base = hubErrors[code].message;
    super(detail ? `${base}: ${detail}` : base, options?.cause !== undefined ? { cause: options.cause } : {});
    this.code = code;
    this.statusCode = hubErrors[code].statusCode;
  }
}

export function isHubError(err: unknown, code?: HubErrorCode): err is HubError {
  return err instanceof HubError && (code === undefined || err.code === code);
}
