import { CatalogueError } from '@storevision/contracts';
/**
 * The orchestrator's error catalogue. Every JSON error it answers is `{code, message}` with one of
 * these codes and its HTTP status; clients branch on `code`, never on `message`. `errors.test.ts`
 * keeps the catalogue honest.
 */
export const orchErrors = {
  ORCH_ERR_BAD_REQUEST: { statusCode: 400, message: 'request is invalid' },
  ORCH_ERR_BAD_ID: { statusCode: 400, message: 'ids are 1–64 of A-Z a-z 0-9 _ . -' },
  ORCH_ERR_BAD_CAPABILITIES: {
    statusCode: 400,
    message: 'node report (capabilities, labels, load) is malformed',
  },
  ORCH_ERR_BAD_CAMERA: { statusCode: 400, message: 'camera spec is invalid' },
  ORCH_ERR_NO_PIPELINES: { statusCode: 400, message: 'a camera needs at least one pipeline' },
  ORCH_ERR_BAD_REQUIREMENTS: { statusCode: 400, message: 'model requirements are invalid' },
  ORCH_ERR_UNKNOWN_STORE: {
    statusCode: 404,
    message: 'no node of this store has registered (register a node with labels.store first)',
  },
  ORCH_ERR_NODE_NOT_FOUND: { statusCode: 404, message: 'no such node' },
  ORCH_ERR_CAMERA_NOT_FOUND: { statusCode: 404, message: 'no such camera in this store' },
  ORCH_ERR_NOT_FOUND: { statusCode: 404, message: 'no such route' },
  ORCH_ERR_LABEL_CONFLICT: { statusCode: 409, message: 'node labels conflict with the inventory' },
  ORCH_ERR_UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, message: 'content type must be application/json' },
  ORCH_ERR_BODY_TOO_LARGE: { statusCode: 413, message: 'request body is too large' },
  ORCH_ERR_SHUTTING_DOWN: { statusCode: 503, message: 'the orchestrator is shutting down' },
  ORCH_ERR_INTERNAL: { statusCode: 500, message: 'internal error' },
} as const satisfies Record<string, { statusCode: number; message: string }>;

export type OrchErrorCode = keyof typeof orchErrors;

export class OrchError extends CatalogueError<OrchErrorCode> {
  override readonly name = 'OrchError';

  constructor(code: OrchErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(orchErrors, code, detail, options);
  }
}

export function isOrchError(err: unknown, code?: OrchErrorCode): err is OrchError {
  return err instanceof OrchError && (code === undefined || err.code === code);
}
