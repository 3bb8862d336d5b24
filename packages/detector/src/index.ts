export {
  type DecodeOptions,
  decodeOutput,
  decodeYolov5,
  decodeYolov8,
  resolveThresholds,
  type ThresholdOverrides,
} from './decode.ts';
export {
  type CreateDetectorFromPackageOptions,
  createDetectorFromPackage,
  Detector,
  type DetectorLogger,
  type DetectorOptions,
  type DetectorSessionOptions,
  type DetectResult,
  type DetectTimings,
  type RawOutput,
} from './detector.ts';
export { DetectorError, type DetectorErrorCode, detectorErrors, isDetectorError } from './errors.ts';
export {
  averagePrecision,
  type ClassEvaluation,
  DetectionEvaluator,
  type EvaluatedGtObject,
  type EvaluationOptions,
  type EvaluationResult,
} from './evaluation.ts';
export {
  type AvailabilityProbe,
  availableExecutionProviders,
  type BackendInfo,
  DEFAULT_EP_PREFERENCE,
  type ExecutionProviderName,
  selectExecutionProviders,
} from './execution-providers.ts';
export {
  assertManifestMatchesGraph,
  checkManifestAgainstGraph,
  type GraphIo,
  type GraphIssue,
  type GraphTensor,
  graphIoFromSession,
} from './graph-check.ts';
export {
  computeLetterbox,
  inputToSourceX,
  inputToSourceY,
  type LetterboxGeometry,
  type ResizeMode,
  roundHalfEven,
} from './letterbox.ts';
export {
  chooseVariant,
  type LoadModelPackageOptions,
  loadModelPackage,
  type ModelPackage,
  parseManifest,
} from './model-package.ts';
export { iou, type NmsCandidates, type NmsOptions, nms } from './nms.ts';
export {
  type OnnxModelInfo,
  type OnnxValueInfo,
  readOnnxModelInfo,
  readOnnxModelInfoFromFile,
  readOnnxModelInfoFromFileSync,
} from './onnx-reader.ts';
export {
  createInputBuffer,
  DEFAULT_MAX_PIXELS,
  DEFAULT_RESIZE_KERNEL,
  decodeImage,
  type InputSpec,
  type InputTensorData,
  type PreprocessOptions,
  type PreprocessResult,
  preprocess,
  type RawRgbImage,
  readImageSize,
  resolveInputSpec,
  writeTensor,
} from './preprocess.ts';
export {
  type ManifestFromUltralyticsOptions,
  manifestFromUltralytics,
  manifestFromUltralyticsInfo,
  parsePythonNames,
  parseUltralyticsMetadata,
  type UltralyticsMetadata,
  ultralyticsInput,
} from './ultralytics.ts';
