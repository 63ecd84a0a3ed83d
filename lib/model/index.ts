// Public surface of the judge model: configuration, batches, the model, generation, the optimizer
// and checkpoints.
export {
  makeConfig,
  validateConfig,
  configFor,
  countParameters,
  numImageTokens,
  patchDim,
  headDim,
  TINY_CONFIG,
  SMALL_CONFIG,
  PRESETS,
} from './config.js';
export type { JudgeModelConfig, PresetName } from './config.js';
export { packBatch, disposeBatch, seqValues, textValues, resizeImage } from './batch.js';
export type { JudgeInput, ModelBatch } from './batch.js';
export { JudgeModel } from './judge-model.js';
export { widenPatchWindow } from './widen-patch-window.js';
export { addDecoderLayers } from './add-decoder-layers.js';
export { addVisionLayers } from './add-vision-layers.js';
export type { JudgeModelOptions, ForwardOptions, NllResult, DecodeState } from './judge-model.js';
export { generate } from './generate.js';
export type { GenerateOptions, GenerateResult } from './generate.js';
export { AdamW, learningRate } from './optimizer.js';
export type { AdamWOptions, LrSchedule, ScheduleKind, StepInfo } from './optimizer.js';
export { Param } from './layers/param.js';
export { saveCheckpoint, loadCheckpoint } from './checkpoint.js';
export type { CheckpointContents, LoadedCheckpoint, SaveCheckpointOptions } from './checkpoint.js';
