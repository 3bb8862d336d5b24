export { Camera } from './camera.ts';
export { type Conditions, chooseConditions, RESOLUTIONS } from './conditions.ts';
export {
  type DatasetExportOptions,
  type DatasetExportStats,
  exportYoloDataset,
  yoloLabelLines,
} from './dataset-export.ts';
export { Rng } from './rng.ts';
export { sceneNames, scenes } from './scenes/index.ts';
export {
  DEFAULT_START_EPOCH_MS,
  MAX_SIZE,
  MIN_SIZE,
  type RenderedFrame,
  type SequenceOptions,
  SequenceRenderer,
  SimulationInputError,
  validateSequenceOptions,
} from './sequence.ts';
export { streamSequence, writeSequence } from './sequence-writer.ts';
