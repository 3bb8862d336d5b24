import { CatalogueError } from '@storevision/contracts';
/**
 * The detector's error catalogue. Callers (the edge's HTTP layer, the hub's validator, the
 * benchmark) branch on `code`, never on `message`; `statusCode` is the HTTP status a service
 * should answer with when the error reaches a request.
 */
export const detectorErrors = {
  DETECTOR_ERR_IMAGE_TOO_LARGE: {
    statusCode: 413,
    message: 'image has more pixels than the configured limit',
  },
  DETECTOR_ERR_UNSUPPORTED_IMAGE: {
    statusCode: 415,
    message: 'image could not be read as JPEG, PNG or raw RGB',
  },
  DETECTOR_ERR_UNSUPPORTED_INPUT: {
    statusCode: 422,
    message: 'model input is not supported by this runtime',
  },
  DETECTOR_ERR_MANIFEST_INVALID: { statusCode: 422, message: 'model manifest is invalid' },
  DETECTOR_ERR_GRAPH_MISMATCH: { statusCode: 422, message: 'model manifest does not match the ONNX graph' },
  DETECTOR_ERR_ONNX_PARSE: { statusCode: 422, message: 'file is not a readable ONNX model' },
  DETECTOR_ERR_NOT_ULTRALYTICS: {
    statusCode: 422,
    message: 'ONNX model is not an Ultralytics detection export',
  },
  DETECTOR_ERR_VARIANT_NOT_FOUND: { statusCode: 404, message: 'no variant of the model fits' },
  DETECTOR_ERR_DIGEST_MISMATCH: { statusCode: 422, message: 'model file does not match the manifest digest' },
  DETECTOR_ERR_OUTPUT_SHAPE: { statusCode: 500, message: 'model output has an unexpected shape' },
  DETECTOR_ERR_RELEASED: { statusCode: 503, message: 'detector has been released' },
} as const satisfies Record<string, { statusCode: number; message: string }>;

export type DetectorErrorCode = keyof typeof detectorErrors;

export class DetectorError extends CatalogueError<DetectorErrorCode> {
  override readonly name = 'DetectorError';

  constructor(code: DetectorErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detectorErrors, code, detail, options);
  }
}

export function isDetectorError(err: unknown, code?: DetectorErrorCode): err is DetectorError {
  return err instanceof DetectorError && (code === undefined || err.code === code);
}
