// Public API of the judging data: the generated suite (tasks, presets, generation, oracle, raters,
// corpus), the JSONL format with its exporter and loader, and image I/O. Re-exported by lib/index.ts.
export type { JudgeExample, JudgeFormat, RgbImage, Split } from './types.js';
export {
  IN_DISTRIBUTION_TASKS,
  OOD_TASKS,
  SUITE_TASKS,
  SPLITS,
  TASK_INFO,
  TASK_FAMILY,
  PRESETS,
  generateSuite,
  generateExample,
  generateExamples,
  resolveSuiteOptions,
  exampleId,
  isSuiteTask,
  byTask,
} from './suite.js';
export type {
  SuiteTask,
  InDistributionTask,
  OodTask,
  TaskInfo,
  SplitSizes,
  SuiteSizes,
  SizesSpec,
  PresetName,
  SuiteOptions,
  ResolvedSuiteOptions,
  Suite,
  ExampleMeta,
  ImageMeta,
} from './suite.js';
export { generateCorpusItem, captionOf } from './corpus.js';
export type { CorpusItem, CorpusKind } from './corpus.js';
export { oracleLabel, oracleReport, alignmentPenalty, failsFamily, breaksPolicy } from './oracle.js';
export type { TaskReport } from './oracle.js';
export { DEFAULT_RATERS, resolveRaterConfig, makeRaterPool, rateItem, ratePair, rateOnce } from './raters.js';
export type { RaterConfig, Rater, RatingInput, ItemRating, PairRating } from './raters.js';
export { SAFETY_POLICY, HAZARD_SYMBOLS, LOOKALIKE_SYMBOLS, SYMBOL_KINDS, SYMBOL_FEATURES, isHazard, violatesPolicy, describeSymbol } from './hazard.js';
export type { SymbolKind, HazardSymbol, LookalikeSymbol, SymbolFeatures } from './hazard.js';
export { DEFECT_FAMILIES, DEFECT_KINDS, SEVERITY_THRESHOLD, sampleDefect, applyPixelDefects } from './degrade.js';
export type { Defect, DefectFamily, DefectKind } from './degrade.js';
export { GENERATOR_ERRORS, ERROR_QUALITY, promptFromScene, applyGeneratorError, sampleGeneratorError, sceneMatches } from './prompts.js';
export type { GeneratorError } from './prompts.js';
export { SHAPES, COLOURS, BACKGROUNDS, SIZES, REGIONS, sampleScene } from './scene.js';
export type { Scene, SceneObject, Shape, ColourName, BackgroundName, SizeName, Region } from './scene.js';
export { renderScene } from './compose.js';
export { upscaleNearest } from './render.js';
export { Rng, checkSeed } from '../rng.js';
export type { Seed } from '../rng.js';
export { DatasetError, parseRecord, recordToLine, readLines, FORMATS } from './jsonl.js';
export type { JsonlRecord, DatasetErrorCode } from './jsonl.js';
export { exportSuite, writeDataset, exampleToRecord, MANIFEST_FORMAT, MANIFEST_VERSION } from './export.js';
export type { ExportSummary, WriteOptions } from './export.js';
export { loadDataset, streamDataset, loadCorpus, loadImageFile, locateDataset } from './load.js';
export type { LoadOptions, DatasetLocation } from './load.js';
export { ImageCache, defaultImageCache, decodeImage, resizeImage, encodePng } from './images.js';
export type { ImageSize, ResizeFit, ImageCacheStats } from './images.js';
