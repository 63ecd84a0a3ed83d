// mtrl-judge: multimodal LLM-as-a-judge trained with multi-task reinforcement learning.
// Public API. Importing this module does not load the native addon; the first tensor op does.

// Tensors, devices, elementwise ops and the native loader.
export { Tensor, memoryStats } from './tensor.js';
export type { TensorOptions, TypedData, MemoryStats } from './tensor.js';
export { devices, cudaAvailable, defaultDevice, parseDevice, resolveDevice, buildInfo } from './device.js';
export type { DType, Device, DeviceInfo, CudaAvailability, ResolvedDevice } from './device.js';
export { add, sub, mul, scale, matmulReference, synchronize } from './ops.js';
export type { MatmulOptions } from './ops.js';
export { native, nativePath, packageRoot } from './native.js';

// Kernels: fused attention, token sampling, policy-gradient loss, GEMM and model ops.
export * from './kernels/attention.js';
export * from './kernels/sampling.js';
export * from './kernels/policy-loss.js';
export * from './kernels/gemm.js';
export * from './kernels/model-ops.js';

// The judge model, tokenizer and checkpoint files.
export * from './model/index.js';
export type { PresetName as ModelPresetName } from './model/config.js';
export { BpeTokenizer, loadTokenizer, tokenizerFromJSON, SPECIAL_ROLES, DEFAULT_SPECIAL_TOKENS } from './model/tokenizer.js';
export type { Tokenizer, TokenizerJSON, EncodeOptions, DecodeOptions, SpecialRole } from './model/tokenizer.js';
export { trainBpe } from './model/bpe-train.js';
export type { TrainBpeOptions } from './model/bpe-train.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError, checkTensorSpecs } from './model/safetensors.js';
export type { SafeTensor, SafeTensorInput, SafetensorsFile, TensorSpec } from './model/safetensors.js';
export { saveCheckpointFolder, loadCheckpointFolder, recoverCheckpointFolder, CheckpointError } from './model/checkpoint-files.js';
export type { CheckpointManifest } from './model/checkpoint-files.js';
export type { TokenizerLoadOptions } from './model/tokenizer.js';

// Judging data: the generated suite, JSONL files, image I/O.
export * from './data/index.js';
export type { PresetName as SuitePresetName } from './data/suite.js';
// Names both modules define: the model's keep the plain name, the data suite's get a prefix.
export { PRESETS, resizeImage } from './model/index.js';
export type { PresetName } from './model/config.js';
export { PRESETS as SUITE_PRESETS } from './data/suite.js';
export { resizeImage as resizeImageFit } from './data/images.js';

// Tasks, rewards, advantages, multi-task scheduling, metrics.
export * from './tasks/index.js';
export * from './rewards/index.js';
export * from './scheduler/index.js';
export * from './metrics/index.js';
export { computeAdvantages, taskStepStats } from './rl/advantages.js';
export type { AdvantageOptions, AdvantageResult, ScaleRewards } from './rl/advantages.js';

// Trainers, evaluation, the judging API, experiments and reports.
export { GrpoTrainer } from './rl/grpo-trainer.js';
export type { GrpoTrainerOptions, GrpoStepMetrics, GrpoTrainerState, GrpoRollout } from './rl/grpo-trainer.js';
export { EarlyStopping, MetricsLog } from './rl/training-log.js';
export type { EarlyStoppingSnapshot } from './rl/training-log.js';
export { Trainer, JudgeTrainer } from './rl/trainer.js';
export type { TrainerHooks, TrainerState, TrainingResult, JudgeTrainerOptions } from './rl/trainer.js';
export { GRPO_DEFAULTS, SFT_DEFAULTS, PRETRAIN_DEFAULTS, resolveGrpoConfig, resolveSftConfig, grpoSchema, sftSchema, pretrainSchema } from './rl/config.js';
export type { GrpoConfig, SftConfig, PretrainConfig } from './rl/config.js';
export { runTraining, trainMethod } from './rl/train-run.js';
export type { TrainRunOptions, TrainRunResult, TrainMethodOptions } from './rl/train-run.js';
export { SftTrainer } from './rl/sft-trainer.js';
export type { SftTrainerOptions, SftStepMetrics, SftTrainerState } from './rl/sft-trainer.js';
export { evaluateJudge } from './judging/evaluate.js';
export type { EvaluateOptions, TaskEvaluation, JudgedExample } from './judging/evaluate.js';
export { promptInput, supervisedInput, promptWithContinuation, completionText } from './judging/encode.js';
export { Judge } from './judge/judge.js';
export type { JudgeRequest, JudgeLoadOptions, ImageInput } from './judge/judge.js';
export { JudgeEngine } from './judge/engine.js';
export type { JudgeVerdict, EngineRequest, EngineOptions } from './judge/engine.js';
export { runExperiment, METHODS, METHOD_LABELS } from './experiment/methods.js';
export type { MethodName, ExperimentOptions, ExperimentResult } from './experiment/methods.js';
export { pretrainBase } from './experiment/pretrain.js';
export type { PretrainOptions, PretrainResult } from './experiment/pretrain.js';
export { writeReport, scoreTable } from './report/report.js';
export type { ExperimentReport, MethodReport, TaskScore } from './report/report.js';
export { lineChart, barChart } from './report/svg-chart.js';

// Serving and the bridge to distributed RL engines (docs/scale-out.md).
export { startServer } from './serve/server.js';
export type { ServeOptions, JudgeServer } from './serve/server.js';
export { exportForRl } from './serve/rl-export.js';
export type { RlExportOptions, RlExportSummary, RlFormat } from './serve/rl-export.js';
