// Group-relative advantages for GRPO: each completion's reward compared with the other completions
// of the same prompt, with TRL's `scaleRewards` semantics, plus what dynamic sampling and logging need
// (zero-variance groups, null rewards, optional outlier filtering).
//
// Rewards arrive flat, group after group: [g0 c0, g0 c1, …, g0 c(G−1), g1 c0, …].
//   A_i = r_i − mean_g                                  scaleRewards "none"
//   A_i = (r_i − mean_g) / (std_g + ε)                  scaleRewards "group" (GRPO; TRL default)
//   A_i = (r_i − mean_g) / (std_batch + ε)              scaleRewards "batch" (group mean, batch std)
// std is the unbiased sample standard deviation (torch.std, as TRL uses); ε = 1e-4 as in TRL.
// A null reward ("not applicable") is left out of every statistic and gets advantage 0, mask false.
// A group whose valid rewards are all equal (or that has fewer than two) carries no learning signal:
// its advantages are exactly 0 and it is reported, so a trainer can re-sample it (DAPO dynamic sampling)
// or at least log the zero-variance fraction.
import type { TaskStepStats } from '../scheduler/strategies.js';

export type ScaleRewards = 'group' | 'batch' | 'none';

export interface AdvantageOptions {
  /** Completions per prompt (TRL `numGenerations`); rewards.length must be a multiple of it. */
  groupSize: number;
  /** How advantages are scaled; default "group". */
  scaleRewards?: ScaleRewards;
  /** Added to the std before dividing; default 1e-4 (TRL). */
  epsilon?: number;
  /**
   * Advantage filtering (R1-Reward's StableReinforce): after scaling, advantages farther than
   * `filterStd` standard deviations from their batch mean (over valid, non-zero-variance entries)
   * are zeroed and masked out. Default: off.
   */
  filterStd?: number;
  /** Two rewards closer than this count as equal when detecting zero variance; default 1e-6. */
  zeroVarianceTol?: number;
}

export interface AdvantageResult {
  /** One advantage per completion (0 for null rewards, zero-variance groups and filtered entries). */
  advantages: Float64Array;
  /** Whether each completion should enter the policy loss: reward not null and not filtered. */
  mask: boolean[];
  /** Per group: mean of its valid rewards (NaN when none). */
  groupMean: Float64Array;
  /** Per group: unbiased std of its valid rewards (NaN with fewer than two). */
  groupStd: Float64Array;
  /** Per group: how many rewards were not null. */
  groupValid: Int32Array;
  /** Indices of groups with no reward variance (all valid rewards equal, or fewer than two valid). */
  zeroVarianceGroups: number[];
  /** zeroVarianceGroups.length / number of groups. */
  zeroVarianceFraction: number;
  /** The std used for "batch" scaling (unbiased, over all valid rewards); NaN otherwise. */
  batchStd: number;
  /** Completions with a null reward. */
  numNull: number;
  /** Completions zeroed by `filterStd`. */
  numFiltered: number;
  /** Mean and unbiased std of all valid rewards (for logs). */
  rewardMean: number;
  rewardStd: number;
}

function meanStd(values: number[]): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN };
  let s = 0;
  for (const v of values) s += v;
  const mean = s / n;
  if (n < 2) return { mean, std: NaN };
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/**
 * Computes group-relative advantages. See the file comment for the exact definitions.
 * @throws TypeError/RangeError on a bad reward (NaN, ±Inf, not a number) or bad options.
 */
export function computeAdvantages(rewards: ArrayLike<number | null>, opts: AdvantageOptions): AdvantageResult {
  if (rewards === null || typeof rewards !== 'object' || typeof rewards.length !== 'number') {
    throw new TypeError('computeAdvantages: rewards: expected an array of numbers or nulls');
  }
  const G = opts?.groupSize;
  if (!(Number.isInteger(G) && G >= 1)) throw new RangeError(`computeAdvantages: opts.groupSize: expected an integer ≥ 1, got ${String(G)}`);
  const N = rewards.length;
  if (N % G !== 0) throw new RangeError(`computeAdvantages: rewards.length (${N}) is not a multiple of groupSize (${G})`);
  const scale = opts.scaleRewards ?? 'group';
  if (scale !== 'group' && scale !== 'batch' && scale !== 'none') {
    throw new RangeError(`computeAdvantages: opts.scaleRewards: expected "group", "batch" or "none", got ${JSON.stringify(scale)}`);
  }
  const eps = opts.epsilon ?? 1e-4;
  if (!(eps >= 0 && Number.isFinite(eps))) throw new RangeError(`computeAdvantages: opts.epsilon: expected a finite number ≥ 0, got ${eps}`);
  const tol = opts.zeroVarianceTol ?? 1e-6;
  if (!(tol >= 0)) throw new RangeError(`computeAdvantages: opts.zeroVarianceTol: expected a number ≥ 0, got ${tol}`);
  if (opts.filterStd !== undefined && !(opts.filterStd > 0)) {
    throw new RangeError(`computeAdvantages: opts.filterStd: expected a number > 0, got ${opts.filterStd}`);
  }
  for (let i = 0; i < N; i++) {
    const r = rewards[i];
    if (r === null) continue;
    if (typeof r !== 'number' || !Number.isFinite(r)) {
      throw new TypeError(`computeAdvantages: rewards[${i}]: expected a finite number or null, got ${String(r)}`);
    }
  }

  const numGroups = N / G;
  const advantages = new Float64Array(N);
  const mask = new Array<boolean>(N).fill(false);
  const groupMean = new Float64Array(numGroups);
  const groupStd = new Float64Array(numGroups);
  const groupValid = new Int32Array(numGroups);
  const zeroVarianceGroups: number[] = [];
  const allValid: number[] = [];
  const zeroVar = new Array<boolean>(numGroups).fill(false);
  let numNull = 0;

  for (let g = 0; g < numGroups; g++) {
    const vals: number[] = [];
    for (let j = 0; j < G; j++) {
      const r = rewards[g * G + j];
      if (r === null || r === undefined) numNull++;
      else {
        vals.push(r);
        allValid.push(r);
      }
    }
    const { mean, std } = meanStd(vals);
    groupMean[g] = mean;
    groupStd[g] = std;
    groupValid[g] = vals.length;
    // Range, not std, decides "all equal": robust to rounding and independent of the scaling mode.
    const range = vals.length > 0 ? Math.max(...vals) - Math.min(...vals) : 0;
    if (vals.length < 2 || range <= tol) {
      zeroVar[g] = true;
      zeroVarianceGroups.push(g);
    }
  }
  const batch = meanStd(allValid);
  const batchStd = scale === 'batch' ? batch.std : NaN;

  for (let g = 0; g < numGroups; g++) {
    for (let j = 0; j < G; j++) {
      const i = g * G + j;
      const r = rewards[i];
      if (r === null || r === undefined) continue;
      mask[i] = true;
      if (zeroVar[g]) continue; // exactly 0: no signal, and no ε-sized noise from rounding
      const centred = r - groupMean[g]!;
      const denom = scale === 'group' ? groupStd[g]! + eps : scale === 'batch' ? batch.std + eps : 1;
      advantages[i] = centred / denom;
    }
  }

  let numFiltered = 0;
  if (opts.filterStd !== undefined) {
    const live: number[] = [];
    for (let g = 0; g < numGroups; g++) {
      if (zeroVar[g]) continue;
      for (let j = 0; j < G; j++) if (mask[g * G + j]) live.push(advantages[g * G + j]!);
    }
    const { mean, std } = meanStd(live);
    if (Number.isFinite(std) && std > 0) {
      const k = opts.filterStd;
      for (let g = 0; g < numGroups; g++) {
        if (zeroVar[g]) continue;
        for (let j = 0; j < G; j++) {
          const i = g * G + j;
          if (mask[i] && Math.abs(advantages[i]! - mean) > k * std) {
            advantages[i] = 0;
            mask[i] = false;
            numFiltered++;
          }
        }
      }
    }
  }

  return {
    advantages,
    mask,
    groupMean,
    groupStd,
    groupValid,
    zeroVarianceGroups,
    zeroVarianceFraction: numGroups > 0 ? zeroVarianceGroups.length / numGroups : 0,
    batchStd,
    numNull,
    numFiltered,
    rewardMean: batch.mean,
    rewardStd: batch.std,
  };
}

/**
 * Per-task statistics of one step for `MultiTaskScheduler.update` and logs: for each task, how many
 * groups it had, the mean reward over its valid completions and the fraction of its groups with zero
 * variance. `groupTasks[g]` names the task of group g.
 */
export function taskStepStats(result: AdvantageResult, groupTasks: readonly string[]): TaskStepStats[] {
  const numGroups = result.groupMean.length;
  if (!Array.isArray(groupTasks) || groupTasks.length !== numGroups) {
    throw new RangeError(`taskStepStats: groupTasks: expected one task name per group (${numGroups}), got ${Array.isArray(groupTasks) ? groupTasks.length : typeof groupTasks}`);
  }
  const zero = new Set(result.zeroVarianceGroups);
  const acc = new Map<string, { groups: number; zero: number; sum: number; n: number }>();
  for (let g = 0; g < numGroups; g++) {
    const name = groupTasks[g]!;
    const a = acc.get(name) ?? { groups: 0, zero: 0, sum: 0, n: 0 };
    a.groups++;
    if (zero.has(g)) a.zero++;
    const nv = result.groupValid[g]!;
    if (nv > 0) {
      a.sum += result.groupMean[g]! * nv;
      a.n += nv;
    }
    acc.set(name, a);
  }
  return [...acc.entries()].map(([task, a]) => ({
    task,
    numGroups: a.groups,
    zeroVarianceFraction: a.zero / a.groups,
    ...(a.n > 0 ? { rewardMean: a.sum / a.n } : {}),
  }));
}
