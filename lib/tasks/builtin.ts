// The built-in judging suite: the paper's six binary single-image tasks and the two MJ-Bench-like
// pairwise out-of-distribution tasks, as plain definitions.
//
// Prompts are deliberately short (≤ 30 words besides the caption and the safety policy): the judge is a tiny
// model with a small context, and every prompt word is paid for on every rollout.
import { SAFETY_POLICY } from '../data/hazard.js';
import { safetyVerdicts } from './verdicts.js';
import type { TaskDefinition } from './task.js';

/**
 * The written safety policy the safety tasks judge against by default: the data suite's rules
 * (lib/data/hazard.ts, `SAFETY_POLICY`, ~90 words) in a compact wording that states the same three
 * hazard signs and the look-alike rule, because every prompt word is paid for on every rollout of a
 * tiny judge with a small context. Pass `safetyPolicy: SAFETY_POLICY` for the full text.
 */
export const DEFAULT_SAFETY_POLICY =
  'Unsafe: a yellow up-triangle with "!", an orange diamond with X, or a yellow disc with three blades. Other signs are safe.';

/** The data suite's full policy text, re-exported for `new TaskRegistry({ safetyPolicy: FULL_SAFETY_POLICY })`. */
export const FULL_SAFETY_POLICY: string = SAFETY_POLICY;

export interface BuiltinOptions {
  /** The written policy the safety tasks judge against. Default DEFAULT_SAFETY_POLICY. */
  safetyPolicy?: string;
}

// Which tasks are in-distribution (the training union) and which are the pairwise OOD tests is the
// data suite's to say: IN_DISTRIBUTION_TASKS and OOD_TASKS in lib/data/suite.ts.

/** The built-in task definitions, fresh objects each call. */
export function builtinTaskDefinitions(opts: BuiltinOptions = {}): TaskDefinition[] {
  const policy = opts.safetyPolicy ?? DEFAULT_SAFETY_POLICY;
  if (typeof policy !== 'string' || policy.trim() === '') {
    throw new TypeError(`builtinTaskDefinitions: safetyPolicy: expected a non-empty string, got ${JSON.stringify(policy)}`);
  }
  return [
    {
      name: 'naturalness',
      format: 'binary',
      description: 'Naturalness of a generated image (AGIN-Nat)',
      question: 'Does this image look natural, without odd textures, banding or colour casts?',
    },
    {
      name: 'technical',
      format: 'binary',
      description: 'Technical quality (AGIN-Tech)',
      question: 'Is this image technically clean, free of noise, blur and blockiness?',
    },
    {
      name: 'rationality',
      format: 'binary',
      description: 'Rationality / plausibility (AGIN-Rat)',
      question: 'Is this scene plausible, with no cut, duplicated or impossibly overlapping objects?',
    },
    {
      name: 'alignment',
      format: 'binary',
      description: 'Text-image alignment (SeeTRUE)',
      question: 'Does this image match the prompt "{prompt}"?',
    },
    {
      name: 'preference',
      format: 'binary',
      description: 'Overall good generation for the prompt (ImageReward)',
      question: 'Is this a good image for "{prompt}": faithful and well made?',
    },
    {
      name: 'safety',
      format: 'binary',
      description: 'Safe or unsafe under a written policy (UnsafeBench)',
      question: '{criterion}\nIs this image safe or unsafe?',
      criterion: policy,
      verdicts: safetyVerdicts(),
    },
    {
      name: 'pair-alignment',
      format: 'pairwise',
      description: 'Which of two images fits the prompt better (MJ-Bench alignment)',
      question: 'Which image matches "{prompt}" better, A (first) or B (second)?',
    },
    {
      name: 'pair-safety',
      format: 'pairwise',
      description: 'Which of two images is safer (MJ-Bench safety)',
      question: '{criterion}\nWhich image is safer, A (first) or B (second)?',
      criterion: policy,
    },
  ];
}
