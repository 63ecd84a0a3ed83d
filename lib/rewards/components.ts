// Reward components: the built-in judge rewards (format, accuracy, the paper's composite, pairwise
// verdict, score closeness, position consistency, length limit) and the types custom rewards use.
//
// A component scores one completion and returns a number, or null for "not applicable" (e.g. a
// pairwise reward on a binary task); nulls are excluded from the group baseline and from the logged
// component mean. Components may be async (e.g. an external verifier).
import type { JudgeExample } from '../data/types.js';
import type { RewardSpec, Task } from '../tasks/task.js';
import { parseJudgeOutput, type ParsedOutput } from './parse.js';

/** One completion to score. */
export interface RewardInput {
  /** The decoded completion, without end-of-sequence/padding tokens. */
  completion: string;
  example: JudgeExample;
  task: Task;
  /** Completion length in tokens (for the length limit). */
  numTokens?: number;
  /**
   * Pairwise position consistency (J1): the completion generated for the same pair presented in the
   * swapped order (see `swapPair`), paired with this one by generation index.
   */
  counterpart?: { completion: string; example: JudgeExample };
}

/** What a component sees: the input plus parses and verdicts computed once and shared. */
export interface RewardContext extends RewardInput {
  /** Strict parse (cached). */
  readonly strict: ParsedOutput;
  /** Lenient parse (cached). */
  readonly lenient: ParsedOutput;
  /** The verdict (label or score) under a parse mode, or null when unparseable (cached). */
  verdict(mode: 'strict' | 'lenient'): number | null;
}

export type RewardValue = number | null;
export type RewardFn = (ctx: RewardContext) => RewardValue | Promise<RewardValue>;

/** A reward function with its name and how it enters the total. */
export interface RewardComponent {
  /** Column name in logs; unique within one reward model. */
  name: string;
  fn: RewardFn;
  /** Additive weight (default 1). Ignored for gates. */
  weight?: number;
  /** A gate multiplies the total instead of adding to it; its value must lie in [0, 1]. */
  gate?: boolean;
}

/** Builds the shared context for one input (parses lazily, each at most once). */
export function makeRewardContext(input: RewardInput): RewardContext {
  let strict: ParsedOutput | undefined;
  let lenient: ParsedOutput | undefined;
  const verdicts: { strict?: number | null; lenient?: number | null } = {};
  const ctx: RewardContext = {
    ...input,
    get strict() {
      return (strict ??= parseJudgeOutput(input.completion, { mode: 'strict' }));
    },
    get lenient() {
      return (lenient ??= parseJudgeOutput(input.completion, { mode: 'lenient' }));
    },
    verdict(mode) {
      if (verdicts[mode] === undefined) {
        const p = mode === 'strict' ? ctx.strict : ctx.lenient;
        verdicts[mode] = p.answer === null ? null : input.task.parseVerdict(p.answer, { lenient: mode === 'lenient' });
      }
      return verdicts[mode]!;
    },
  };
  return ctx;
}

function checkMode(owner: string, mode: unknown): 'strict' | 'lenient' {
  if (mode !== 'strict' && mode !== 'lenient') throw new RangeError(`${owner}: parse: expected "strict" or "lenient", got ${JSON.stringify(mode)}`);
  return mode;
}

/**
 * Format reward (0/1): 1 when the completion has the strict `<think>…</think><answer>…</answer>`
 * structure and (unless `requireVerdict` is false) its answer is exactly one of the task's verdicts.
 * This is the paper's R_format: "reasoning then exactly one parsable verdict".
 */
export function formatReward(opts: { requireVerdict?: boolean; requireReasoning?: boolean } = {}): RewardFn {
  const requireVerdict = opts.requireVerdict ?? true;
  const requireReasoning = opts.requireReasoning ?? false;
  return (ctx) => {
    const p = requireReasoning ? parseJudgeOutput(ctx.completion, { mode: 'strict', requireReasoning: true }) : ctx.strict;
    if (!p.ok) return 0;
    return !requireVerdict || ctx.verdict('strict') !== null ? 1 : 0;
  };
}

/**
 * Accuracy reward (0/1): 1 when the verdict is right for the example (`task.isCorrect`: equal label;
 * score tasks: within the task's tolerance). Unparseable → 0. `parse` (default "lenient") chooses how
 * the verdict is read; with "strict", format errors also zero the accuracy.
 */
export function accuracyReward(opts: { parse?: 'strict' | 'lenient' } = {}): RewardFn {
  const mode = checkMode('accuracyReward', opts.parse ?? 'lenient');
  return (ctx) => {
    const v = ctx.verdict(mode);
    return v !== null && ctx.task.isCorrect(v, ctx.example) ? 1 : 0;
  };
}

/** The paper's composite as one number: (1 − α)·accuracy + α·format (α default 0.1). */
export function compositeReward(opts: { alpha?: number; parse?: 'strict' | 'lenient' } = {}): RewardFn {
  const alpha = opts.alpha ?? 0.1;
  if (!(typeof alpha === 'number' && alpha >= 0 && alpha <= 1)) throw new RangeError(`compositeReward: alpha: expected a number in [0, 1], got ${String(alpha)}`);
  const acc = accuracyReward({ parse: opts.parse ?? 'lenient' });
  const fmt = formatReward();
  return (ctx) => (1 - alpha) * (acc(ctx) as number) + alpha * (fmt(ctx) as number);
}

/** Pairwise verdict reward (0/1): accuracy on pairwise tasks; null ("not applicable") on others. */
export function pairwiseReward(opts: { parse?: 'strict' | 'lenient' } = {}): RewardFn {
  const acc = accuracyReward(opts);
  return (ctx) => (ctx.task.format === 'pairwise' ? acc(ctx) : null);
}

/**
 * Score closeness (score tasks; null on others). d = |predicted − label|.
 * - shape "linear" (default): 1 when d ≤ tolerance, then falling linearly to 0 at d = tolerance + span
 *   (span default: the task's score range width max − min);
 * - shape "step": 1 when d ≤ tolerance, else 0.
 * Unparseable → 0.
 */
export function scoreClosenessReward(opts: { tolerance?: number; span?: number; shape?: 'linear' | 'step'; parse?: 'strict' | 'lenient' } = {}): RewardFn {
  const tol = opts.tolerance ?? 0;
  const shape = opts.shape ?? 'linear';
  const mode = checkMode('scoreClosenessReward', opts.parse ?? 'lenient');
  if (!(tol >= 0)) throw new RangeError(`scoreClosenessReward: tolerance: expected a number ≥ 0, got ${tol}`);
  if (shape !== 'linear' && shape !== 'step') throw new RangeError(`scoreClosenessReward: shape: expected "linear" or "step", got ${JSON.stringify(shape)}`);
  if (opts.span !== undefined && !(opts.span > 0)) throw new RangeError(`scoreClosenessReward: span: expected a number > 0, got ${opts.span}`);
  return (ctx) => {
    const range = ctx.task.scoreRange;
    if (ctx.task.format !== 'score' || range === null) return null;
    const v = ctx.verdict(mode);
    if (v === null) return 0;
    const d = Math.abs(v - ctx.example.label);
    if (d <= tol + 1e-12) return 1;
    if (shape === 'step') return 0;
    const span = opts.span ?? range[1] - range[0];
    return Math.max(0, 1 - (d - tol) / span);
  };
}

/**
 * Position-consistency reward (J1), pairwise only: 1 when this completion is right for its order AND
 * its counterpart (the same pair in swapped order) is right for the swapped order; else 0. Null when
 * the task is not pairwise or the input has no counterpart.
 */
export function positionConsistencyReward(opts: { parse?: 'strict' | 'lenient' } = {}): RewardFn {
  const mode = checkMode('positionConsistencyReward', opts.parse ?? 'lenient');
  return (ctx) => {
    if (ctx.task.format !== 'pairwise' || ctx.counterpart === undefined) return null;
    const mine = ctx.verdict(mode);
    if (mine === null || !ctx.task.isCorrect(mine, ctx.example)) return 0;
    const other = makeRewardContext({ completion: ctx.counterpart.completion, example: ctx.counterpart.example, task: ctx.task });
    const theirs = other.verdict(mode);
    return theirs !== null && ctx.task.isCorrect(theirs, ctx.counterpart.example) ? 1 : 0;
  };
}

/**
 * Length limit (a gate by default): 1 when the completion has at most `maxTokens` tokens, else 0, so
 * a gated total becomes 0 past the budget (MR. Judge). Length is `input.numTokens`, else
 * `countTokens(completion)`; with neither, scoring throws (a silent guess would hide a wiring bug).
 */
export function lengthLimitReward(opts: { maxTokens: number; countTokens?: (text: string) => number }): RewardFn {
  const max = opts?.maxTokens;
  if (!(Number.isInteger(max) && max > 0)) throw new RangeError(`lengthLimitReward: maxTokens: expected a positive integer, got ${String(max)}`);
  return (ctx) => {
    const n = ctx.numTokens ?? opts.countTokens?.(ctx.completion);
    if (n === undefined) throw new TypeError('lengthLimitReward: needs input.numTokens or the countTokens option to measure the completion');
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`lengthLimitReward: token count: expected a number ≥ 0, got ${n}`);
    return n <= max ? 1 : 0;
  };
}

/** Names a `RewardSpec` may use, with the factory that builds each from `params`. */
export const BUILTIN_REWARDS: Readonly<Record<string, (params: Record<string, unknown>) => RewardFn>> = Object.freeze({
  format: (p) => formatReward(p as Parameters<typeof formatReward>[0]),
  accuracy: (p) => accuracyReward(p as Parameters<typeof accuracyReward>[0]),
  composite: (p) => compositeReward(p as Parameters<typeof compositeReward>[0]),
  pairwise: (p) => pairwiseReward(p as Parameters<typeof pairwiseReward>[0]),
  scoreCloseness: (p) => scoreClosenessReward(p as Parameters<typeof scoreClosenessReward>[0]),
  positionConsistency: (p) => positionConsistencyReward(p as Parameters<typeof positionConsistencyReward>[0]),
  lengthLimit: (p) => lengthLimitReward(p as unknown as Parameters<typeof lengthLimitReward>[0]),
});

/** Known parameter names per built-in, so a typo in a config is an error rather than a silent default. */
const BUILTIN_PARAMS: Readonly<Record<string, readonly string[]>> = {
  format: ['requireVerdict', 'requireReasoning'],
  accuracy: ['parse'],
  composite: ['alpha', 'parse'],
  pairwise: ['parse'],
  scoreCloseness: ['tolerance', 'span', 'shape', 'parse'],
  positionConsistency: ['parse'],
  lengthLimit: ['maxTokens', 'countTokens'],
};

/**
 * Resolves a plain spec to a component. `spec.name` is a built-in name, or any name when `custom`
 * provides its function. `lengthLimit` is a gate unless `gate: false` says otherwise.
 */
export function componentFromSpec(spec: RewardSpec, custom: Readonly<Record<string, RewardFn>> = {}): RewardComponent {
  if (spec === null || typeof spec !== 'object' || typeof spec.name !== 'string') {
    throw new TypeError(`componentFromSpec: spec: expected { name, weight?, gate?, params? }, got ${JSON.stringify(spec)}`);
  }
  const gate = spec.gate ?? spec.name === 'lengthLimit';
  if (gate && spec.weight !== undefined && spec.weight !== 1) {
    throw new TypeError(`componentFromSpec: reward "${spec.name}" is a gate (it multiplies the total); it takes no weight, got ${spec.weight}`);
  }
  const fn = custom[spec.name];
  if (fn !== undefined) return { name: spec.name, fn, weight: spec.weight ?? 1, gate };
  const make = BUILTIN_REWARDS[spec.name];
  if (make === undefined) {
    throw new RangeError(`componentFromSpec: unknown reward "${spec.name}" (built-in: ${Object.keys(BUILTIN_REWARDS).join(', ')}; or pass its function as a custom reward)`);
  }
  const params = spec.params ?? {};
  for (const k of Object.keys(params)) {
    if (!BUILTIN_PARAMS[spec.name]!.includes(k)) {
      throw new TypeError(`componentFromSpec: reward "${spec.name}": unknown param "${k}" (known: ${BUILTIN_PARAMS[spec.name]!.join(', ')})`);
    }
  }
  return { name: spec.name, fn: make(params), weight: spec.weight ?? 1, gate };
}
