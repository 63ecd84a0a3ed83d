// RewardModel: scores a batch of completions with weighted reward components (built-in or custom,
// sync or async) and reports the total and every component separately.
//
// total = (Σ over additive components that are not null of weight·value) × Π over gates that are not
// null of value. A completion whose additive components are all null has total null ("not
// applicable"): the advantage computation leaves it out of its group's statistics. In a multi-task
// batch each input uses its own task's reward specs unless the model was given `components`.
import type { RewardSpec, Task } from '../tasks/task.js';
import {
  componentFromSpec,
  makeRewardContext,
  type RewardComponent,
  type RewardContext,
  type RewardFn,
  type RewardInput,
  type RewardValue,
} from './components.js';

export type ComponentLike = RewardComponent | RewardSpec;

export interface RewardModelOptions {
  /** Components for every input. Default: each input's `task.rewards`. */
  components?: readonly ComponentLike[];
  /** Added to every input's components (e.g. a length-limit gate, a custom bonus). */
  extra?: readonly ComponentLike[];
  /** Functions for custom names used in specs (`{ name: 'mine', weight: 0.2 }` → custom.mine). */
  custom?: Readonly<Record<string, RewardFn>>;
  /** At most this many component calls in flight in `score` (async rewards). Default 64. */
  concurrency?: number;
}

/** Per-component summary over the inputs where it applied (non-null). */
export interface ComponentSummary {
  mean: number;
  count: number;
}

export interface RewardBatch {
  /** Per input: the combined reward, or null when no additive component applied. */
  totals: RewardValue[];
  /** Per component name: one value per input (null where it did not apply or was not used). */
  components: Record<string, RewardValue[]>;
  /** Component names in first-seen order. */
  names: string[];
  /** Per component: mean and count over non-null values (mean NaN when count is 0). */
  summary: Record<string, ComponentSummary>;
  /** Mean and count of the non-null totals. */
  totalSummary: ComponentSummary;
  /** The same summaries per task name (for "reward per task and per component" logs). */
  byTask: Record<string, { total: ComponentSummary; components: Record<string, ComponentSummary> }>;
}

function isComponent(c: ComponentLike): c is RewardComponent {
  return typeof (c as RewardComponent).fn === 'function';
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** Mean and count of the values that are not null ("not applicable"). */
export function summarize(values: readonly RewardValue[]): ComponentSummary {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (v === null) continue;
    s += v;
    n++;
  }
  return { mean: n > 0 ? s / n : NaN, count: n };
}

/** A RewardBatch from per-row totals and component values: summaries over all rows and per task (`taskOf(row)`). */
export function rewardBatch(totals: RewardValue[], components: Record<string, RewardValue[]>, names: string[], taskOf: (row: number) => string): RewardBatch {
  const summary: Record<string, ComponentSummary> = {};
  for (const n of names) summary[n] = summarize(components[n]!);
  const byTask: RewardBatch['byTask'] = {};
  const rowsOf = new Map<string, number[]>();
  totals.forEach((_, i) => {
    const rows = rowsOf.get(taskOf(i)) ?? [];
    rows.push(i);
    rowsOf.set(taskOf(i), rows);
  });
  for (const [task, rows] of rowsOf) {
    const comps: Record<string, ComponentSummary> = {};
    for (const n of names) {
      const s = summarize(rows.map((i) => components[n]![i]!));
      if (s.count > 0) comps[n] = s;
    }
    byTask[task] = { total: summarize(rows.map((i) => totals[i]!)), components: comps };
  }
  return { totals, components, names, summary, totalSummary: summarize(totals), byTask };
}

export class RewardModel {
  private readonly fixed: RewardComponent[] | null;
  private readonly extra: RewardComponent[];
  private readonly custom: Readonly<Record<string, RewardFn>>;
  private readonly perTask = new Map<Task, RewardComponent[]>();
  private readonly concurrency: number;

  constructor(opts: RewardModelOptions = {}) {
    this.custom = opts.custom ?? {};
    for (const [k, f] of Object.entries(this.custom)) {
      if (typeof f !== 'function') throw new TypeError(`RewardModel: custom.${k}: expected a function, got ${typeof f}`);
    }
    this.fixed = opts.components !== undefined ? this.resolve(opts.components, 'components') : null;
    this.extra = this.resolve(opts.extra ?? [], 'extra');
    this.concurrency = opts.concurrency ?? 64;
    if (!(Number.isInteger(this.concurrency) && this.concurrency >= 1)) {
      throw new RangeError(`RewardModel: concurrency: expected an integer ≥ 1, got ${String(opts.concurrency)}`);
    }
    if (this.fixed !== null) this.checkUnique([...this.fixed, ...this.extra], 'components + extra');
  }

  private resolve(list: readonly ComponentLike[], where: string): RewardComponent[] {
    if (!Array.isArray(list)) throw new TypeError(`RewardModel: ${where}: expected an array of components or specs`);
    return list.map((c, i) => {
      const comp = isComponent(c) ? { ...c } : componentFromSpec(c, this.custom);
      if (typeof comp.name !== 'string' || comp.name === '') throw new TypeError(`RewardModel: ${where}[${i}].name: expected a non-empty string`);
      const w = comp.weight ?? 1;
      if (!Number.isFinite(w)) throw new RangeError(`RewardModel: ${where}[${i}] ("${comp.name}").weight: expected a finite number, got ${String(comp.weight)}`);
      return { name: comp.name, fn: comp.fn, weight: w, gate: comp.gate ?? false };
    });
  }

  private checkUnique(list: RewardComponent[], where: string): void {
    const seen = new Set<string>();
    for (const c of list) {
      if (seen.has(c.name)) throw new TypeError(`RewardModel: ${where}: component name "${c.name}" is used twice; names are log columns and must be unique`);
      seen.add(c.name);
    }
  }

  /** The components applied to an input of `task`. */
  componentsFor(task: Task): readonly RewardComponent[] {
    if (this.fixed !== null) return [...this.fixed, ...this.extra];
    let list = this.perTask.get(task);
    if (list === undefined) {
      list = [...this.resolve(task.rewards, `task "${task.name}".rewards`), ...this.extra];
      this.checkUnique(list, `task "${task.name}".rewards + extra`);
      this.perTask.set(task, list);
    }
    return list;
  }

  private checkInput(input: RewardInput, i: number): void {
    if (input === null || typeof input !== 'object') throw new TypeError(`RewardModel.score: inputs[${i}]: expected { completion, example, task }`);
    if (typeof input.completion !== 'string') throw new TypeError(`RewardModel.score: inputs[${i}].completion: expected a string, got ${typeof input.completion}`);
    if (input.example === null || typeof input.example !== 'object') throw new TypeError(`RewardModel.score: inputs[${i}].example: expected a JudgeExample`);
    if (input.task === null || typeof input.task !== 'object' || typeof input.task.parseVerdict !== 'function') {
      throw new TypeError(`RewardModel.score: inputs[${i}].task: expected a Task (from TaskRegistry or createTask)`);
    }
  }

  private checkValue(v: unknown, comp: RewardComponent, i: number): RewardValue {
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new TypeError(`RewardModel: component "${comp.name}" returned ${typeof v === 'number' ? String(v) : typeof v} for input ${i}; expected a finite number or null`);
    }
    if (comp.gate && (v < 0 || v > 1)) throw new RangeError(`RewardModel: gate "${comp.name}" returned ${v} for input ${i}; a gate must lie in [0, 1]`);
    return v;
  }

  private call(comp: RewardComponent, ctx: RewardContext, i: number): RewardValue | Promise<RewardValue> {
    const wrap = (e: unknown): never => {
      const msg = e instanceof Error ? e.message : String(e);
      const Ctor = e instanceof RangeError ? RangeError : TypeError;
      throw new Ctor(`RewardModel: component "${comp.name}" failed on input ${i}: ${msg}`, { cause: e });
    };
    try {
      const v = comp.fn(ctx);
      if (isThenable(v)) return Promise.resolve(v).then((x) => this.checkValue(x, comp, i), wrap);
      return this.checkValue(v, comp, i);
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('RewardModel:')) throw e;
      return wrap(e);
    }
  }

  private assemble(inputs: readonly RewardInput[], values: RewardValue[][], lists: (readonly RewardComponent[])[]): RewardBatch {
    const names: string[] = [];
    const components: Record<string, RewardValue[]> = {};
    for (const list of lists) {
      for (const c of list) {
        if (components[c.name] === undefined) {
          names.push(c.name);
          components[c.name] = new Array<RewardValue>(inputs.length).fill(null);
        }
      }
    }
    const totals: RewardValue[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const list = lists[i]!;
      let sum = 0;
      let any = false;
      let gate = 1;
      list.forEach((c, j) => {
        const v = values[i]![j]!;
        components[c.name]![i] = v;
        if (v === null) return;
        if (c.gate) gate *= v;
        else {
          sum += (c.weight ?? 1) * v;
          any = true;
        }
      });
      totals.push(any ? sum * gate : null);
    }
    return rewardBatch(totals, components, names, (i) => inputs[i]!.task.name);
  }

  /** Scores a batch; components may be async. */
  async score(inputs: readonly RewardInput[]): Promise<RewardBatch> {
    if (!Array.isArray(inputs)) throw new TypeError('RewardModel.score: inputs: expected an array of { completion, example, task }');
    inputs.forEach((x, i) => this.checkInput(x, i));
    const lists = inputs.map((x) => this.componentsFor(x.task));
    const ctxs = inputs.map((x) => makeRewardContext(x));
    const values: RewardValue[][] = lists.map((l) => new Array<RewardValue>(l.length).fill(null));
    const jobs: Array<[number, number]> = [];
    lists.forEach((l, i) => l.forEach((_, j) => jobs.push([i, j])));
    // A fixed pool of workers, so an async verifier sees at most `concurrency` calls at once.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < jobs.length) {
        const [i, j] = jobs[next++]!;
        const r = this.call(lists[i]![j]!, ctxs[i]!, i);
        values[i]![j] = isThenable(r) ? await r : r;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, Math.max(1, jobs.length)) }, worker));
    return this.assemble(inputs, values, lists);
  }

  /** Scores a batch synchronously. @throws TypeError when a component returns a promise. */
  scoreSync(inputs: readonly RewardInput[]): RewardBatch {
    if (!Array.isArray(inputs)) throw new TypeError('RewardModel.scoreSync: inputs: expected an array of { completion, example, task }');
    inputs.forEach((x, i) => this.checkInput(x, i));
    const lists = inputs.map((x) => this.componentsFor(x.task));
    const values = inputs.map((x, i) => {
      const ctx = makeRewardContext(x);
      return lists[i]!.map((c) => {
        const r = this.call(c, ctx, i);
        if (isThenable(r)) {
          r.then(undefined, () => undefined); // the error is reported below, not as an unhandled rejection
          throw new TypeError(`RewardModel.scoreSync: component "${c.name}" is async; use score() instead`);
        }
        return r;
      });
    });
    return this.assemble(inputs, values, lists);
  }
}

/** One-shot helper: scores `inputs` with `components` (default: each task's own rewards). */
export function combineRewards(inputs: readonly RewardInput[], components?: readonly ComponentLike[], opts: Omit<RewardModelOptions, 'components'> = {}): Promise<RewardBatch> {
  return new RewardModel(components !== undefined ? { ...opts, components } : opts).score(inputs);
}
