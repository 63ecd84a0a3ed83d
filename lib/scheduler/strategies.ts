// Task-mixing strategies: the target probability of each task in a rollout batch.
//
//   proportional  p_k = n_k / Σ n_j                 the paper's shuffled union of the task datasets
//   uniform       p_k = 1 / K
//   temperature   p_k ∝ n_k^(1/τ)                   τ = 1 proportional, τ → ∞ uniform (multilingual-MT style)
//   custom        p_k ∝ the user's weights
//   adaptive      p_k = m + (1 − K·m) · b_k s_k / Σ_j b_j s_j
//                 b = a base strategy's probabilities; m = minWeight, the floor no task goes below;
//                 s_k = informative_k + λ · progress_k, where
//                   informative_k = EMA of the fraction of task k's groups that had reward variance
//                                   (only those groups carry a GRPO gradient), and
//                   progress_k    = |fast EMA − slow EMA| of task k's mean reward (learning progress:
//                                   the reward is still moving, up or down).
//                 A task with no statistics yet has s_k = 1 (optimistic). If every s_k is 0, p = base
//                 mixed with the floor.
// Pure functions over plain data, so the scheduler's state stays JSON.

export type StrategyName = 'proportional' | 'uniform' | 'temperature' | 'custom' | 'adaptive';
export type BaseStrategyName = Exclude<StrategyName, 'adaptive'>;

/** One task's statistics from one training step (see `taskStepStats` in lib/rl/advantages.ts). */
export interface TaskStepStats {
  task: string;
  /** Fraction of this task's groups in the step whose rewards were all equal, in [0, 1]. */
  zeroVarianceFraction?: number;
  /** Mean reward over this task's completions in the step. */
  rewardMean?: number;
  /** Groups of this task in the step (weights the evidence; 0 → ignored). Default 1. */
  numGroups?: number;
}

export interface AdaptiveOptions {
  /** The prior the adaptive scores multiply. Default "proportional" (the paper's mixing). */
  base?: BaseStrategyName;
  /** Floor: every task keeps at least this probability. Default 0.25 / K (a quarter of a uniform share). */
  minWeight?: number;
  /** EMA decay of the informative fraction per update (weight of the old value). Default 0.8. */
  decay?: number;
  /** Decay of the fast reward EMA. Default 0.5. */
  fastDecay?: number;
  /** Decay of the slow reward EMA. Default 0.9. */
  slowDecay?: number;
  /** λ: weight of learning progress against the informative fraction. Default 2. */
  progressWeight?: number;
}

export type ResolvedAdaptiveOptions = Required<AdaptiveOptions>;

/** Per-task adaptive memory (JSON). null = no observation yet. */
export interface AdaptiveTaskState {
  informative: number | null;
  fast: number | null;
  slow: number | null;
  updates: number;
}

export function resolveAdaptive(opts: AdaptiveOptions | undefined, K: number, owner: string): ResolvedAdaptiveOptions {
  const o = opts ?? {};
  const r: ResolvedAdaptiveOptions = {
    base: o.base ?? 'proportional',
    minWeight: o.minWeight ?? 0.25 / K,
    decay: o.decay ?? 0.8,
    fastDecay: o.fastDecay ?? 0.5,
    slowDecay: o.slowDecay ?? 0.9,
    progressWeight: o.progressWeight ?? 2,
  };
  if (!['proportional', 'uniform', 'temperature', 'custom'].includes(r.base)) {
    throw new RangeError(`${owner}: adaptive.base: expected "proportional", "uniform", "temperature" or "custom", got ${JSON.stringify(r.base)}`);
  }
  if (!(r.minWeight >= 0 && r.minWeight * K <= 1 + 1e-12)) {
    throw new RangeError(`${owner}: adaptive.minWeight: expected 0 ≤ minWeight ≤ 1/K = ${1 / K}, got ${r.minWeight}`);
  }
  for (const k of ['decay', 'fastDecay', 'slowDecay'] as const) {
    if (!(r[k] >= 0 && r[k] < 1)) throw new RangeError(`${owner}: adaptive.${k}: expected a number in [0, 1), got ${r[k]}`);
  }
  if (!(r.progressWeight >= 0 && Number.isFinite(r.progressWeight))) {
    throw new RangeError(`${owner}: adaptive.progressWeight: expected a finite number ≥ 0, got ${r.progressWeight}`);
  }
  return r;
}

function normalise(w: number[], owner: string): number[] {
  const s = w.reduce((a, b) => a + b, 0);
  if (!(s > 0) || !Number.isFinite(s)) throw new RangeError(`${owner}: the task weights sum to ${s}; at least one must be positive`);
  return w.map((x) => x / s);
}

/** Probabilities of a non-adaptive strategy. */
export function baseProbabilities(
  strategy: BaseStrategyName,
  sizes: readonly number[],
  opts: { temperature?: number; weights?: readonly number[] },
  owner: string,
): number[] {
  const K = sizes.length;
  switch (strategy) {
    case 'proportional':
      return normalise([...sizes], owner);
    case 'uniform':
      return new Array<number>(K).fill(1 / K);
    case 'temperature': {
      const tau = opts.temperature;
      if (!(typeof tau === 'number' && tau > 0 && Number.isFinite(tau))) {
        throw new RangeError(`${owner}: temperature: expected a finite number > 0 for the "temperature" strategy, got ${String(tau)}`);
      }
      // In log space: n^(1/τ) overflows for small τ.
      const logs = sizes.map((n) => Math.log(n) / tau);
      const mx = Math.max(...logs);
      return normalise(logs.map((l) => Math.exp(l - mx)), owner);
    }
    case 'custom': {
      const w = opts.weights;
      if (w === undefined || w.length !== K) throw new TypeError(`${owner}: weights: the "custom" strategy needs one weight per task`);
      return normalise([...w], owner);
    }
  }
}

/** Folds one step's statistics into a task's adaptive memory (returns a new object). */
export function updateAdaptive(state: AdaptiveTaskState, stats: TaskStepStats, o: ResolvedAdaptiveOptions): AdaptiveTaskState {
  const next = { ...state };
  if ((stats.numGroups ?? 1) <= 0) return next;
  if (stats.zeroVarianceFraction !== undefined) {
    const info = 1 - stats.zeroVarianceFraction;
    next.informative = state.informative === null ? info : o.decay * state.informative + (1 - o.decay) * info;
  }
  if (stats.rewardMean !== undefined) {
    const r = stats.rewardMean;
    next.fast = state.fast === null ? r : o.fastDecay * state.fast + (1 - o.fastDecay) * r;
    next.slow = state.slow === null ? r : o.slowDecay * state.slow + (1 - o.slowDecay) * r;
  }
  next.updates = state.updates + 1;
  return next;
}

/** The adaptive score s_k of one task (1 before any statistics). */
export function adaptiveScore(state: AdaptiveTaskState, o: ResolvedAdaptiveOptions): number {
  if (state.informative === null && state.fast === null) return 1;
  const info = state.informative ?? 1;
  const progress = state.fast !== null && state.slow !== null ? Math.abs(state.fast - state.slow) : 0;
  return info + o.progressWeight * progress;
}

/** Adaptive probabilities from base probabilities and per-task memories. */
export function adaptiveProbabilities(base: readonly number[], states: readonly AdaptiveTaskState[], o: ResolvedAdaptiveOptions): number[] {
  const K = base.length;
  const raw = base.map((b, k) => b * adaptiveScore(states[k]!, o));
  const s = raw.reduce((a, b) => a + b, 0);
  const w = s > 0 ? raw.map((x) => x / s) : [...base];
  const m = o.minWeight;
  return w.map((x) => m + (1 - K * m) * x);
}
