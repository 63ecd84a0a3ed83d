// MultiTaskScheduler: composes each rollout batch from several judging tasks.
//
// Per batch: (1) the strategy gives target probabilities p_k (see strategies.ts); (2) exact per-task
// quotas are apportioned by largest remainder WITH CARRY: each task's unrounded entitlement B·p_k is
// added to the fraction it was owed or over-served so far, and whole units go to the largest
// residuals. Carrying the residual is what makes long-run counts exact — plain per-batch rounding of
// B·p_k = 0.4 would give the task 0 every batch — so the count of task k after T batches stays within
// one example of Σ_t B·p_k(t); (3) each task's examples are drawn without replacement, epoch by
// epoch, in a seeded permutation per (task, epoch); (4) the batch is shuffled so tasks interleave
// (the paper's shuffled union). All randomness is keyed by (seed, step) or (seed, task, epoch), so
// `state()` is plain JSON and `restore(state)` resumes the identical sequence.
import {
  adaptiveProbabilities,
  baseProbabilities,
  resolveAdaptive,
  updateAdaptive,
  type AdaptiveOptions,
  type AdaptiveTaskState,
  type ResolvedAdaptiveOptions,
  type StrategyName,
  type TaskStepStats,
} from './strategies.js';
import { hashString, permutation, seedWords, streamFor } from '../rng.js';

export interface SchedulerTaskInput<T = unknown> {
  name: string;
  /** Number of examples; may be omitted when `examples` is given. */
  size?: number;
  /** The examples themselves: scheduled items then carry them. */
  examples?: readonly T[];
  /** Weight for the "custom" strategy (or an adaptive base of "custom"). */
  weight?: number;
}

export interface MultiTaskSchedulerOptions<T = unknown> {
  tasks: readonly SchedulerTaskInput<T>[];
  /** Prompts per rollout batch. */
  batchSize: number;
  /** Default "proportional" (the paper's shuffled union). */
  strategy?: StrategyName;
  /** τ for the "temperature" strategy (or an adaptive base of "temperature"). */
  temperature?: number;
  adaptive?: AdaptiveOptions;
  /** Seed for every random decision (a safe integer ≥ 0). Default 0. */
  seed?: number;
  /** Shuffle the items of a batch so tasks interleave (default true); false keeps them grouped by task. */
  shuffle?: boolean;
}

export interface ScheduledItem<T = unknown> {
  task: string;
  /** Index of the example in its task's dataset. */
  index: number;
  /** Which pass over the task's data this draw belongs to (0-based). */
  epoch: number;
  /** The example, when the scheduler was given `examples`. */
  example?: T;
}

export interface ScheduledBatch<T = unknown> {
  /** 0-based batch number. */
  step: number;
  items: ScheduledItem<T>[];
  /** Examples per task in this batch (sums to the batch size). */
  quotas: Record<string, number>;
  /** The target probabilities used for this batch. */
  probabilities: Record<string, number>;
}

/** Everything needed to resume: the configuration (checked on restore) and the counters. */
export interface SchedulerState {
  version: 1;
  config: {
    tasks: { name: string; size: number; weight?: number }[];
    batchSize: number;
    strategy: StrategyName;
    temperature?: number;
    adaptive?: ResolvedAdaptiveOptions;
    seed: number;
    shuffle: boolean;
  };
  step: number;
  /** Per task: current epoch and position in that epoch's permutation. */
  cursors: Record<string, { epoch: number; cursor: number }>;
  /** Per task: entitlement carried over (owed > 0, over-served < 0), always in (−1, K). */
  residuals: Record<string, number>;
  /** Per task: examples drawn so far. */
  drawn: Record<string, number>;
  adaptive: Record<string, AdaptiveTaskState>;
}

const OWNER = 'MultiTaskScheduler';
const STRATEGIES: readonly StrategyName[] = ['proportional', 'uniform', 'temperature', 'custom', 'adaptive'];

export class MultiTaskScheduler<T = unknown> {
  readonly taskNames: readonly string[];
  readonly batchSize: number;
  readonly strategy: StrategyName;
  private readonly sizes: number[];
  private readonly examples: (readonly T[] | undefined)[];
  private readonly config: SchedulerState['config'];
  private readonly adaptiveOpts: ResolvedAdaptiveOptions | null;
  private readonly baseProbs: number[];
  private readonly taskIds: number[];

  private step = 0;
  private epochs: number[];
  private cursors: number[];
  private residuals: number[];
  private drawn: number[];
  private adaptiveStates: AdaptiveTaskState[];
  // Cache of the current epoch's permutation per task (recomputable from (seed, task, epoch)).
  private perms: (Int32Array | null)[];
  private permEpochs: number[];

  constructor(opts: MultiTaskSchedulerOptions<T>) {
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${OWNER}: options: expected { tasks, batchSize, ... }`);
    const { tasks } = opts;
    if (!Array.isArray(tasks) || tasks.length === 0) throw new TypeError(`${OWNER}: tasks: expected a non-empty array of { name, size | examples }`);
    const names = new Set<string>();
    this.sizes = [];
    this.examples = [];
    tasks.forEach((t, i) => {
      if (t === null || typeof t !== 'object' || typeof t.name !== 'string' || t.name === '') {
        throw new TypeError(`${OWNER}: tasks[${i}].name: expected a non-empty string`);
      }
      if (names.has(t.name)) throw new TypeError(`${OWNER}: tasks[${i}].name: "${t.name}" appears twice`);
      names.add(t.name);
      let size = t.size;
      if (t.examples !== undefined) {
        if (!Array.isArray(t.examples)) throw new TypeError(`${OWNER}: tasks[${i}].examples ("${t.name}"): expected an array`);
        if (size !== undefined && size !== t.examples.length) {
          throw new RangeError(`${OWNER}: tasks[${i}] ("${t.name}"): size ${size} disagrees with examples.length ${t.examples.length}`);
        }
        size = t.examples.length;
      }
      if (!(Number.isInteger(size) && size! >= 1 && size! < 2 ** 31)) {
        throw new RangeError(`${OWNER}: tasks[${i}].size ("${t.name}"): expected an integer ≥ 1 (a task needs examples), got ${String(size)}`);
      }
      if (t.weight !== undefined && !(Number.isFinite(t.weight) && t.weight >= 0)) {
        throw new RangeError(`${OWNER}: tasks[${i}].weight ("${t.name}"): expected a finite number ≥ 0, got ${t.weight}`);
      }
      this.sizes.push(size!);
      this.examples.push(t.examples);
    });
    const K = tasks.length;
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) {
      throw new RangeError(`${OWNER}: batchSize: expected an integer ≥ 1, got ${String(opts.batchSize)}`);
    }
    const strategy = opts.strategy ?? 'proportional';
    if (!STRATEGIES.includes(strategy)) throw new RangeError(`${OWNER}: strategy: expected one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`);
    const seed = opts.seed ?? 0;
    try {
      seedWords(seed);
    } catch {
      throw new RangeError(`${OWNER}: seed: expected a safe integer ≥ 0, got ${String(seed)}`);
    }
    const adaptive = strategy === 'adaptive' ? resolveAdaptive(opts.adaptive, K, OWNER) : null;
    if (strategy !== 'adaptive' && opts.adaptive !== undefined) throw new TypeError(`${OWNER}: adaptive: only for strategy "adaptive" (strategy is "${strategy}")`);
    const base = adaptive !== null ? adaptive.base : strategy;
    const usesWeights = base === 'custom';
    if (usesWeights && tasks.some((t) => t.weight === undefined)) throw new TypeError(`${OWNER}: tasks[].weight: the "custom" strategy needs a weight on every task`);
    if (base !== 'temperature' && opts.temperature !== undefined) throw new TypeError(`${OWNER}: temperature: only for the "temperature" strategy`);

    this.taskNames = tasks.map((t) => t.name);
    this.batchSize = opts.batchSize;
    this.strategy = strategy;
    this.adaptiveOpts = adaptive;
    this.baseProbs = baseProbabilities(
      base as Exclude<StrategyName, 'adaptive'>,
      this.sizes,
      { temperature: opts.temperature, weights: usesWeights ? tasks.map((t) => t.weight!) : undefined },
      OWNER,
    );
    this.config = {
      tasks: tasks.map((t, i) => ({ name: t.name, size: this.sizes[i]!, ...(usesWeights ? { weight: t.weight! } : {}) })),
      batchSize: opts.batchSize,
      strategy,
      ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
      ...(adaptive !== null ? { adaptive } : {}),
      seed,
      shuffle: opts.shuffle ?? true,
    };
    this.taskIds = this.taskNames.map(hashString);
    this.epochs = new Array<number>(K).fill(0);
    this.cursors = new Array<number>(K).fill(0);
    this.residuals = new Array<number>(K).fill(0);
    this.drawn = new Array<number>(K).fill(0);
    this.adaptiveStates = this.taskNames.map(() => ({ informative: null, fast: null, slow: null, updates: 0 }));
    this.perms = new Array<Int32Array | null>(K).fill(null);
    this.permEpochs = new Array<number>(K).fill(-1);
  }

  /** Builds a scheduler from a saved state alone (examples re-attached by task name when given). */
  static fromState<T = unknown>(state: SchedulerState, examples?: Readonly<Record<string, readonly T[]>>): MultiTaskScheduler<T> {
    if (state === null || typeof state !== 'object' || state.version !== 1 || typeof state.config !== 'object') {
      throw new TypeError(`${OWNER}.fromState: state: expected an object from MultiTaskScheduler.state() (version 1)`);
    }
    const c = state.config;
    const s = new MultiTaskScheduler<T>({
      tasks: c.tasks.map((t) => ({ name: t.name, size: t.size, ...(t.weight !== undefined ? { weight: t.weight } : {}), ...(examples?.[t.name] ? { examples: examples[t.name] } : {}) })),
      batchSize: c.batchSize,
      strategy: c.strategy,
      ...(c.temperature !== undefined ? { temperature: c.temperature } : {}),
      ...(c.adaptive !== undefined ? { adaptive: c.adaptive } : {}),
      seed: c.seed,
      shuffle: c.shuffle,
    });
    s.restore(state);
    return s;
  }

  /** The target probabilities for the next batch. */
  probabilities(): Record<string, number> {
    const p = this.currentProbabilities();
    return Object.fromEntries(this.taskNames.map((n, k) => [n, p[k]!]));
  }

  private currentProbabilities(): number[] {
    if (this.adaptiveOpts === null) return this.baseProbs;
    return adaptiveProbabilities(this.baseProbs, this.adaptiveStates, this.adaptiveOpts);
  }

  /** Batches produced so far (the step of the next batch). */
  get currentStep(): number {
    return this.step;
  }

  /** Examples drawn so far per task. */
  drawnCounts(): Record<string, number> {
    return Object.fromEntries(this.taskNames.map((n, k) => [n, this.drawn[k]!]));
  }

  /** Current epoch per task (how many full passes over its data are complete). */
  epochCounts(): Record<string, number> {
    return Object.fromEntries(this.taskNames.map((n, k) => [n, this.epochs[k]!]));
  }

  /**
   * Apportions the batch: each task's entitlement is its residual plus B·p_k; units go one at a time
   * to the largest remaining entitlement (ties broken by a seeded random priority, so no task is
   * favoured by its position in the list). Returns the quotas and updates the residuals.
   */
  private apportion(p: readonly number[], tieBreak: readonly number[], B: number): number[] {
    const K = p.length;
    const ent = p.map((pk, k) => this.residuals[k]! + B * pk);
    const quotas = new Array<number>(K).fill(0);
    for (let u = 0; u < B; u++) {
      let best = -1;
      for (let k = 0; k < K; k++) {
        if (best < 0) {
          best = k;
          continue;
        }
        const d = ent[k]! - ent[best]!;
        if (d > 1e-9 || (d >= -1e-9 && tieBreak[k]! > tieBreak[best]!)) best = k;
      }
      quotas[best]!++;
      ent[best]! -= 1;
    }
    this.residuals = ent;
    return quotas;
  }

  private permFor(k: number): Int32Array {
    if (this.permEpochs[k] !== this.epochs[k]) {
      this.perms[k] = permutation(this.sizes[k]!, streamFor(this.config.seed, 'task-epoch', this.taskIds[k]!, this.epochs[k]!));
      this.permEpochs[k] = this.epochs[k]!;
    }
    return this.perms[k]!;
  }

  /**
   * Produces the next rollout batch: `size` items (default batchSize). A different size serves
   * top-ups, e.g. DAPO-style dynamic sampling that replaces zero-variance groups; the carried
   * residuals keep the long-run task proportions exact across batches of any size.
   */
  next(size: number = this.batchSize): ScheduledBatch<T> {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`${OWNER}.next: size: expected an integer ≥ 1, got ${String(size)}`);
    const K = this.taskNames.length;
    const p = this.currentProbabilities();
    const rng = streamFor(this.config.seed, 'batch', this.step);
    const tieBreak = Array.from({ length: K }, () => rng.next());
    const quotas = this.apportion(p, tieBreak, size);
    const items: ScheduledItem<T>[] = [];
    for (let k = 0; k < K; k++) {
      for (let q = 0; q < quotas[k]!; q++) {
        const perm = this.permFor(k);
        const index = perm[this.cursors[k]!]!;
        const item: ScheduledItem<T> = { task: this.taskNames[k]!, index, epoch: this.epochs[k]! };
        const ex = this.examples[k];
        if (ex !== undefined) item.example = ex[index];
        items.push(item);
        this.drawn[k]!++;
        if (++this.cursors[k]! === this.sizes[k]!) {
          this.cursors[k] = 0;
          this.epochs[k]!++;
        }
      }
    }
    if (this.config.shuffle) rng.shuffle(items);
    const batch: ScheduledBatch<T> = {
      step: this.step,
      items,
      quotas: Object.fromEntries(this.taskNames.map((n, k) => [n, quotas[k]!])),
      probabilities: Object.fromEntries(this.taskNames.map((n, k) => [n, p[k]!])),
    };
    this.step++;
    return batch;
  }

  /**
   * Feeds one step's per-task statistics (e.g. from `taskStepStats`). The adaptive strategy moves its
   * weights with them; other strategies ignore them. Unknown task names are an error (a typo would
   * otherwise silently starve the adaptive signal).
   */
  update(stats: readonly TaskStepStats[]): void {
    if (!Array.isArray(stats)) throw new TypeError(`${OWNER}.update: stats: expected an array of { task, zeroVarianceFraction?, rewardMean?, numGroups? }`);
    stats.forEach((s, i) => {
      const k = this.taskNames.indexOf(s?.task);
      if (k < 0) throw new RangeError(`${OWNER}.update: stats[${i}].task: unknown task ${JSON.stringify(s?.task)} (known: ${this.taskNames.join(', ')})`);
      if (s.zeroVarianceFraction !== undefined && !(s.zeroVarianceFraction >= 0 && s.zeroVarianceFraction <= 1)) {
        throw new RangeError(`${OWNER}.update: stats[${i}].zeroVarianceFraction: expected a number in [0, 1], got ${s.zeroVarianceFraction}`);
      }
      if (s.rewardMean !== undefined && !Number.isFinite(s.rewardMean)) {
        throw new RangeError(`${OWNER}.update: stats[${i}].rewardMean: expected a finite number, got ${s.rewardMean}`);
      }
      if (s.numGroups !== undefined && !(Number.isFinite(s.numGroups) && s.numGroups >= 0)) {
        throw new RangeError(`${OWNER}.update: stats[${i}].numGroups: expected a number ≥ 0, got ${s.numGroups}`);
      }
    });
    if (this.adaptiveOpts === null) return;
    for (const s of stats) {
      const k = this.taskNames.indexOf(s.task);
      this.adaptiveStates[k] = updateAdaptive(this.adaptiveStates[k]!, s, this.adaptiveOpts);
    }
  }

  /** A JSON-serialisable snapshot; `restore` (or `fromState`) resumes the identical sequence. */
  state(): SchedulerState {
    const byTask = <V>(f: (k: number) => V): Record<string, V> => Object.fromEntries(this.taskNames.map((n, k) => [n, f(k)]));
    return {
      version: 1,
      config: structuredClone(this.config),
      step: this.step,
      cursors: byTask((k) => ({ epoch: this.epochs[k]!, cursor: this.cursors[k]! })),
      residuals: byTask((k) => this.residuals[k]!),
      drawn: byTask((k) => this.drawn[k]!),
      adaptive: byTask((k) => ({ ...this.adaptiveStates[k]! })),
    };
  }

  /**
   * Resumes from `state()`. The configuration must match this scheduler's (same tasks, sizes, batch
   * size, strategy, seed); otherwise the sequence could not be the same and this throws.
   */
  restore(state: SchedulerState): void {
    if (state === null || typeof state !== 'object' || state.version !== 1) {
      throw new TypeError(`${OWNER}.restore: state: expected an object from MultiTaskScheduler.state() (version 1)`);
    }
    const a = JSON.stringify(state.config);
    const b = JSON.stringify(this.config);
    if (a !== b) throw new RangeError(`${OWNER}.restore: the saved configuration differs from this scheduler's:\n  saved: ${a}\n  this:  ${b}`);
    const K = this.taskNames.length;
    const epochs: number[] = [];
    const cursors: number[] = [];
    const residuals: number[] = [];
    const drawn: number[] = [];
    const adaptive: AdaptiveTaskState[] = [];
    for (let k = 0; k < K; k++) {
      const n = this.taskNames[k]!;
      const c = state.cursors?.[n];
      if (c === undefined || !Number.isInteger(c.epoch) || c.epoch < 0 || !Number.isInteger(c.cursor) || c.cursor < 0 || c.cursor >= this.sizes[k]!) {
        throw new RangeError(`${OWNER}.restore: state.cursors["${n}"]: expected { epoch ≥ 0, 0 ≤ cursor < ${this.sizes[k]} }, got ${JSON.stringify(c)}`);
      }
      const r = state.residuals?.[n];
      if (typeof r !== 'number' || !Number.isFinite(r)) throw new RangeError(`${OWNER}.restore: state.residuals["${n}"]: expected a finite number, got ${String(r)}`);
      const d = state.drawn?.[n];
      if (!Number.isInteger(d) || d! < 0) throw new RangeError(`${OWNER}.restore: state.drawn["${n}"]: expected an integer ≥ 0, got ${String(d)}`);
      const ad = state.adaptive?.[n];
      if (ad === undefined || typeof ad !== 'object') throw new RangeError(`${OWNER}.restore: state.adaptive["${n}"]: missing`);
      epochs.push(c.epoch);
      cursors.push(c.cursor);
      residuals.push(r);
      drawn.push(d!);
      adaptive.push({ informative: ad.informative ?? null, fast: ad.fast ?? null, slow: ad.slow ?? null, updates: ad.updates ?? 0 });
    }
    if (!Number.isInteger(state.step) || state.step < 0) throw new RangeError(`${OWNER}.restore: state.step: expected an integer ≥ 0, got ${String(state.step)}`);
    this.step = state.step;
    this.epochs = epochs;
    this.cursors = cursors;
    this.residuals = residuals;
    this.drawn = drawn;
    this.adaptiveStates = adaptive;
  }
}
