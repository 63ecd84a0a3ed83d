// Judging tasks: definitions, prompts, verdict vocabularies and the task registry.
export { createTask, swapPair, paperRewards, DEFAULT_INSTRUCTION } from './task.js';
export type { Task, TaskDefinition, RewardSpec, TargetOptions } from './task.js';
export { TaskRegistry } from './registry.js';
export type { TaskRegistryOptions } from './registry.js';
export {
  builtinTaskDefinitions,
  DEFAULT_SAFETY_POLICY,
  FULL_SAFETY_POLICY,
} from './builtin.js';
export type { BuiltinOptions } from './builtin.js';
export {
  VerdictVocabulary,
  ScoreScale,
  normalizeVerdictText,
  yesNoVerdicts,
  pairwiseVerdicts,
  safetyVerdicts,
  choiceVerdicts,
} from './verdicts.js';
export type { VerdictEntry, VerdictParseOptions } from './verdicts.js';
