// Saving and loading a JudgeModel checkpoint folder: model weights (model.safetensors), config.json,
// the tokenizer (tokenizer.json), the AdamW state (optimizer.safetensors: moments per parameter, step
// count and hyper-parameters in the metadata) and any trainer state (trainer_state.json). The folder
// is written atomically as a whole by checkpoint-files.ts (a crash mid-save leaves the previous
// checkpoint loadable). Weights round-trip bit-exactly, so training resumed from a checkpoint
// continues exactly as uninterrupted training would.
import type { Device } from '../device.js';
import { Tensor } from '../tensor.js';
import {
  loadCheckpointFolder,
  saveCheckpointFolder,
  type CheckpointEntry,
  type CheckpointManifest,
  type SaveCheckpointOptions as FolderSaveOptions,
} from './checkpoint-files.js';
import { countParameters, validateConfig, type JudgeModelConfig } from './config.js';
import { JudgeModel } from './judge-model.js';
import { AdamW, type AdamWOptions, type LrSchedule } from './optimizer.js';
import { checkTensorSpecs, type SafeTensorInput, type SafetensorsFile, type TensorSpec } from './safetensors.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizer.js';

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';
export const TOKENIZER_FILE = 'tokenizer.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';

export interface CheckpointContents {
  model: JudgeModel;
  tokenizer?: Tokenizer;
  optimizer?: AdamW;
  /** Anything JSON-serialisable the trainer needs to resume (step, data order, scheduler state, RNG seeds...). */
  trainerState?: unknown;
}

export type SaveCheckpointOptions = FolderSaveOptions;

/** Hyper-parameters of a saved AdamW (the `decay` predicate is not saved: the default rule is restored). */
interface SavedAdamW {
  schedule: LrSchedule;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

function f32Entry(t: Tensor): SafeTensorInput {
  if (t.dtype !== 'f32') throw new TypeError(`saveCheckpoint: only f32 tensors are saved, got ${t.dtype}`);
  return { dtype: 'f32', shape: t.shape, data: t.toArray() as Float32Array };
}

/** Writes the checkpoint folder `dir` atomically. Returns the manifest (file sizes and sha256). */
export function saveCheckpoint(dir: string, contents: CheckpointContents, opts: SaveCheckpointOptions = {}): CheckpointManifest {
  const fn = 'saveCheckpoint';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${fn}: dir must be a non-empty path`);
  if (!contents || !(contents.model instanceof JudgeModel)) throw new TypeError(`${fn}: contents.model must be a JudgeModel`);
  const { model, tokenizer, optimizer } = contents;
  const weights: Record<string, SafeTensorInput> = {};
  for (const p of model.parameters()) weights[p.name] = f32Entry(p.value);
  const files: Record<string, CheckpointEntry> = {
    [MODEL_FILE]: { tensors: weights, metadata: { format: 'mtrl-judge', parameters: String(model.numParameters()) } },
    [CONFIG_FILE]: model.config,
  };
  if (tokenizer) {
    if (tokenizer.vocabSize > model.config.vocabSize)
      throw new RangeError(`${fn}: the tokenizer has ${tokenizer.vocabSize} ids but the model's vocabSize is ${model.config.vocabSize}`);
    files[TOKENIZER_FILE] = tokenizer.toJSON();
  }
  if (optimizer) {
    if (optimizer.params.length !== model.parameters().length || optimizer.params.some((p, i) => p !== model.parameters()[i]))
      throw new RangeError(`${fn}: contents.optimizer was not built over this model's parameters()`);
    const state: Record<string, SafeTensorInput> = {};
    for (const [name, t] of optimizer.stateTensors()) state[name] = f32Entry(t);
    const hyper: SavedAdamW = {
      schedule: optimizer.schedule,
      beta1: optimizer.beta1,
      beta2: optimizer.beta2,
      eps: optimizer.eps,
      weightDecay: optimizer.weightDecay,
      maxGradNorm: optimizer.maxGradNorm,
    };
    files[OPTIMIZER_FILE] = { tensors: state, metadata: { steps: String(optimizer.steps), adamw: JSON.stringify(hyper) } };
  }
  if (contents.trainerState !== undefined) files[TRAINER_STATE_FILE] = contents.trainerState;
  return saveCheckpointFolder(dir, files, opts);
}

export interface LoadCheckpointOptions {
  /** Device for the model (default 'cpu'). */
  device?: Device | 'cuda';
  /** Skip optimizer.safetensors even when present (inference). Default false. */
  skipOptimizer?: boolean;
  /** Verify every file's sha256 against the manifest (default true). */
  verifyChecksums?: boolean;
}

export interface LoadedCheckpoint {
  /** Where it was read from (the previous checkpoint's folder when a save was interrupted). */
  path: string;
  config: JudgeModelConfig;
  model: JudgeModel;
  tokenizer?: Tokenizer;
  trainerState?: unknown;
  /** Steps of the saved optimizer (undefined without optimizer state). */
  optimizerSteps?: number;
  /**
   * Builds an AdamW over `model` with the saved hyper-parameters (overridable) and state.
   * Throws when the checkpoint has no optimizer state.
   */
  optimizer(overrides?: Omit<AdamWOptions, 'decay'>): AdamW;
  /** Restores the saved moments and step count into an existing AdamW over `model.parameters()`. */
  restoreOptimizer(opt: AdamW): void;
}

function specs(model: JudgeModel): Record<string, TensorSpec> {
  const out: Record<string, TensorSpec> = {};
  for (const p of model.parameters()) out[p.name] = { dtype: 'f32', shape: p.shape };
  return out;
}

/**
 * Loads a checkpoint folder: validates config.json, builds the model and copies the weights (every
 * tensor the config needs must be present with its exact shape; extra tensors are an error too),
 * reads the tokenizer and the trainer state when present, and keeps the optimizer state for
 * `optimizer()` / `restoreOptimizer()`.
 */
export function loadCheckpoint(dir: string, opts: LoadCheckpointOptions = {}): LoadedCheckpoint {
  const fn = 'loadCheckpoint';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${fn}: dir must be a non-empty path`);
  const folder = loadCheckpointFolder(dir, { require: [MODEL_FILE, CONFIG_FILE], verifyChecksums: opts.verifyChecksums });
  const config = validateConfig(folder.json(CONFIG_FILE), `${fn}('${folder.path}/${CONFIG_FILE}')`);
  const weights = folder.safetensors(MODEL_FILE);
  // Check the config against the weights before allocating anything: a config.json that needs far
  // more parameters than the file holds (nLayers: 1e6 beside a 1M-parameter file) fails here,
  // cheaply. Within that bound the model is built and checkTensorSpecs lists every mismatch.
  const where = `${folder.path}/${MODEL_FILE}`;
  let fileElements = 0;
  for (const t of Object.values(weights.tensors)) fileElements += t.shape.reduce((a, b) => a * b, 1);
  const want = countParameters(config);
  if (want > 2 * fileElements + 65536)
    throw new RangeError(
      `${fn}: ${folder.path}/${CONFIG_FILE} describes a model of ${want} parameters but ${where} holds only ${fileElements} weights: the config does not belong to these weights`,
    );
  const tokenizer = folder.has(TOKENIZER_FILE)
    ? tokenizerFromJSON(folder.json(TOKENIZER_FILE), { source: `${folder.path}/${TOKENIZER_FILE}` })
    : undefined;
  if (tokenizer && tokenizer.vocabSize > config.vocabSize)
    throw new RangeError(`${fn}: ${folder.path}/${TOKENIZER_FILE} has ${tokenizer.vocabSize} ids but ${CONFIG_FILE} says vocabSize is ${config.vocabSize}`);
  const model = new JudgeModel(config, { device: 'cpu' });
  try {
    checkTensorSpecs(weights, specs(model), `${folder.path}/${MODEL_FILE}`);
    for (const p of model.parameters()) {
      const t = weights.tensors[p.name]!;
      const src = Tensor.fromArray(t.data as Float32Array, p.shape, { dtype: 'f32' });
      p.value.copyFrom(src);
      src.dispose();
    }
    if (opts.device !== undefined) model.to(opts.device);
  } catch (err) {
    model.dispose();
    throw err;
  }
  const trainerState = folder.has(TRAINER_STATE_FILE) ? folder.json(TRAINER_STATE_FILE) : undefined;
  const optFile: SafetensorsFile | undefined = !opts.skipOptimizer && folder.has(OPTIMIZER_FILE) ? folder.safetensors(OPTIMIZER_FILE) : undefined;
  let optimizerSteps: number | undefined;
  let hyper: SavedAdamW | undefined;
  if (optFile) {
    const where = `${folder.path}/${OPTIMIZER_FILE}`;
    optimizerSteps = Number(optFile.metadata.steps);
    if (!Number.isInteger(optimizerSteps) || optimizerSteps < 0)
      throw new RangeError(`${fn}: ${where} metadata.steps must be a non-negative integer, got ${JSON.stringify(optFile.metadata.steps)}`);
    try {
      hyper = JSON.parse(optFile.metadata.adamw ?? '') as SavedAdamW;
    } catch {
      throw new RangeError(`${fn}: ${where} metadata.adamw is not valid JSON`);
    }
    const expected: Record<string, TensorSpec> = {};
    for (const p of model.parameters()) {
      expected[`${p.name}.exp_avg`] = { dtype: 'f32', shape: p.shape };
      expected[`${p.name}.exp_avg_sq`] = { dtype: 'f32', shape: p.shape };
    }
    checkTensorSpecs(optFile, expected, where);
  }
  const restore = (opt: AdamW) => {
    if (!optFile) throw new Error(`${fn}: ${folder.path} has no optimizer state (${OPTIMIZER_FILE})`);
    const tensors = new Map<string, Tensor>();
    for (const [name, t] of Object.entries(optFile.tensors))
      tensors.set(name, Tensor.fromArray(t.data as Float32Array, t.shape, { dtype: 'f32', device: model.device }));
    try {
      opt.loadState(tensors, optimizerSteps!);
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  };
  return {
    path: folder.path,
    config,
    model,
    tokenizer,
    trainerState,
    optimizerSteps,
    optimizer(overrides = {}) {
      if (!hyper) throw new Error(`${fn}: ${folder.path} has no optimizer state (${OPTIMIZER_FILE})`);
      const opt = new AdamW(model.parameters(), {
        lr: hyper.schedule,
        beta1: hyper.beta1,
        beta2: hyper.beta2,
        eps: hyper.eps,
        weightDecay: hyper.weightDecay,
        maxGradNorm: hyper.maxGradNorm,
        ...overrides,
      });
      restore(opt);
      return opt;
    },
    restoreOptimizer: restore,
  };
}
