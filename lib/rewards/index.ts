// Reward logic for judges: output parsing, built-in reward components, and the RewardModel that
// combines them with weights and reports each component.
export { parseJudgeOutput, formatJudgeOutput } from './parse.js';
export type { ParseMode, JudgeParseOptions, ParsedOutput } from './parse.js';
export {
  formatReward,
  accuracyReward,
  compositeReward,
  pairwiseReward,
  scoreClosenessReward,
  positionConsistencyReward,
  lengthLimitReward,
  componentFromSpec,
  makeRewardContext,
  BUILTIN_REWARDS,
} from './components.js';
export type { RewardInput, RewardContext, RewardFn, RewardValue, RewardComponent } from './components.js';
export { RewardModel, combineRewards } from './model.js';
export type { RewardModelOptions, RewardBatch, ComponentSummary, ComponentLike } from './model.js';
