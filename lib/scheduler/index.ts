// Multi-task scheduling: which tasks (and which of their examples) make up each rollout batch.
export { MultiTaskScheduler } from './scheduler.js';
export type {
  MultiTaskSchedulerOptions,
  SchedulerTaskInput,
  ScheduledItem,
  ScheduledBatch,
  SchedulerState,
} from './scheduler.js';
export { baseProbabilities, adaptiveProbabilities, adaptiveScore } from './strategies.js';
export type {
  StrategyName,
  BaseStrategyName,
  TaskStepStats,
  AdaptiveOptions,
  ResolvedAdaptiveOptions,
  AdaptiveTaskState,
} from './strategies.js';
