// Tests for MultiTaskScheduler: empirical task counts match each strategy's target (bound: after any
// number of batches, every task's count is within 1 example of Σ_t batchSize·p_k(t)), exact quotas,
// epochs without replacement, determinism, adaptive weights on a scripted reward stream, resume.
import { describe, expect, it } from 'vitest';
import { MultiTaskScheduler, type SchedulerState, type StrategyName, type TaskStepStats } from '../lib/scheduler/index.js';

const SIZES = [37, 300, 601, 5, 1000];
const tasks = SIZES.map((n, i) => ({ name: `t${i}`, size: n }));

/**
 * Runs `steps` batches, checking quotas per batch and the cumulative count bound at every step.
 * Per-step checks collect into `problems` (one expect per step would dominate the run time).
 */
function checkCounts(s: MultiTaskScheduler, steps: number, onStep?: (t: number) => void): { worst: number; counts: number[]; targets: number[] } {
  const K = s.taskNames.length;
  const counts = new Array<number>(K).fill(0);
  const targets = new Array<number>(K).fill(0);
  const problems: string[] = [];
  let worst = 0;
  for (let t = 0; t < steps; t++) {
    const p = s.probabilities();
    const b = s.next();
    if (b.items.length !== s.batchSize) problems.push(`step ${t}: ${b.items.length} items`);
    const fromItems = new Array<number>(K).fill(0);
    for (const it of b.items) fromItems[s.taskNames.indexOf(it.task)]!++;
    s.taskNames.forEach((n, k) => {
      if (b.quotas[n] !== fromItems[k]) problems.push(`step ${t}: quota ${n} = ${b.quotas[n]}, items ${fromItems[k]}`);
      if (b.probabilities[n] !== p[n]) problems.push(`step ${t}: probabilities differ for ${n}`);
      counts[k]! += fromItems[k]!;
      targets[k]! += s.batchSize * p[n]!;
      worst = Math.max(worst, Math.abs(counts[k]! - targets[k]!));
    });
    onStep?.(t);
  }
  expect(problems.slice(0, 5)).toEqual([]);
  return { worst, counts, targets };
}

describe('static strategies: counts track the target within one example', () => {
  const expected: Record<string, (n: number[]) => number[]> = {
    proportional: (n) => n.map((x) => x / n.reduce((a, b) => a + b, 0)),
    uniform: (n) => n.map(() => 1 / n.length),
    temperature: (n) => {
      const w = n.map((x) => Math.sqrt(x)); // τ = 2: p ∝ n^(1/2)
      return w.map((x) => x / w.reduce((a, b) => a + b, 0));
    },
    custom: () => {
      const w = [1, 2, 3, 4, 0];
      return w.map((x) => x / 10);
    },
  };
  for (const strategy of ['proportional', 'uniform', 'temperature', 'custom'] as StrategyName[]) {
    for (const B of [1, 3, 16, 64]) {
      it(`${strategy}, batchSize ${B}`, () => {
        const s = new MultiTaskScheduler({
          tasks: tasks.map((t, i) => ({ ...t, weight: [1, 2, 3, 4, 0][i] })),
          batchSize: B,
          strategy,
          ...(strategy === 'temperature' ? { temperature: 2 } : {}),
          seed: 11,
        });
        const want = expected[strategy]!(SIZES);
        Object.values(s.probabilities()).forEach((p, k) => expect(p).toBeCloseTo(want[k]!, 14));
        const steps = 1500;
        const { worst, counts } = checkCounts(s, steps);
        expect(worst, `max |count − target| = ${worst.toFixed(3)}`).toBeLessThan(1);
        counts.forEach((c, k) => expect(Math.abs(c / (steps * B) - want[k]!)).toBeLessThan(1 / (steps * B)));
        if (strategy === 'custom') expect(counts[4]).toBe(0); // weight 0 → never drawn
      });
    }
  }

  it('per-batch quotas stay within one of B·p (largest remainder with carry)', () => {
    const s = new MultiTaskScheduler({ tasks, batchSize: 10, strategy: 'proportional', seed: 3 });
    const p = Object.values(s.probabilities());
    for (let t = 0; t < 300; t++) {
      const q = Object.values(s.next().quotas);
      q.forEach((x, k) => expect(Math.abs(x - 10 * p[k]!)).toBeLessThan(2));
    }
  });

  it('a task with B·p < 1 is still served at its rate (plain rounding would starve it)', () => {
    // p(t3) = 5/1943 ≈ 0.0026: with B = 16, 0.04 per batch; after 1943 batches it must have 80 ± 1.
    const s = new MultiTaskScheduler({ tasks, batchSize: 16, seed: 5 });
    const { counts } = checkCounts(s, 1943);
    expect(Math.abs(counts[3]! - 80)).toBeLessThan(1);
  });

  it('batches of other sizes (dynamic-sampling top-ups) keep the long-run proportions', () => {
    const s = new MultiTaskScheduler({ tasks, batchSize: 16, seed: 6 });
    const p = Object.values(s.probabilities());
    const counts = new Array<number>(5).fill(0);
    let total = 0;
    for (let t = 0; t < 500; t++) {
      const size = t % 3 === 2 ? 1 + (t % 7) : 16; // every third call a small top-up
      const b = s.next(size);
      expect(b.items.length).toBe(size);
      total += size;
      s.taskNames.forEach((n, k) => (counts[k]! += b.quotas[n]!));
    }
    counts.forEach((c, k) => expect(Math.abs(c - total * p[k]!)).toBeLessThan(1));
    expect(() => s.next(0)).toThrow(/next: size: expected an integer ≥ 1, got 0/);
  });

  it('proportional = the shuffled union: every task finishes its epoch at the same batch', () => {
    const s = new MultiTaskScheduler({ tasks: [{ name: 'a', size: 100 }, { name: 'b', size: 300 }, { name: 'c', size: 600 }], batchSize: 50, seed: 9 });
    for (let t = 0; t < 20; t++) s.next();
    expect(s.drawnCounts()).toEqual({ a: 100, b: 300, c: 600 });
    expect(s.epochCounts()).toEqual({ a: 1, b: 1, c: 1 });
  });
});

describe('sampling within a task', () => {
  it('draws without replacement, epoch by epoch, in a fresh permutation each epoch', () => {
    const s = new MultiTaskScheduler({ tasks: [{ name: 'only', size: 7 }], batchSize: 3, seed: 1 });
    const drawn: { index: number; epoch: number }[] = [];
    for (let t = 0; t < 7; t++) drawn.push(...s.next().items.map(({ index, epoch }) => ({ index, epoch })));
    const e0 = drawn.slice(0, 7);
    const e1 = drawn.slice(7, 14);
    expect(e0.every((d) => d.epoch === 0)).toBe(true);
    expect(e1.every((d) => d.epoch === 1)).toBe(true);
    expect(e0.map((d) => d.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(e1.map((d) => d.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(e0.map((d) => d.index)).not.toEqual(e1.map((d) => d.index));
    expect(drawn[14]!.epoch).toBe(2);
  });

  it('carries the examples when given them', () => {
    const ex = { a: ['a0', 'a1', 'a2'], b: ['b0', 'b1'] };
    const s = new MultiTaskScheduler({ tasks: [{ name: 'a', examples: ex.a }, { name: 'b', examples: ex.b }], batchSize: 4, strategy: 'uniform' });
    for (let t = 0; t < 5; t++) {
      for (const it of s.next().items) expect(it.example).toBe(ex[it.task as 'a' | 'b'][it.index]);
    }
  });

  it('interleaves tasks within a batch unless shuffle is false', () => {
    const mk = (shuffle: boolean) => new MultiTaskScheduler({ tasks, batchSize: 64, strategy: 'uniform', seed: 2, shuffle });
    const grouped = mk(false).next().items.map((i) => i.task);
    expect(grouped).toEqual([...grouped].sort());
    const mixed = mk(true).next().items.map((i) => i.task);
    expect(mixed).not.toEqual([...mixed].sort());
    expect([...mixed].sort()).toEqual([...grouped].sort());
  });

  it('is deterministic in the seed', () => {
    const run = (seed: number) => {
      const s = new MultiTaskScheduler({ tasks, batchSize: 8, seed });
      return Array.from({ length: 30 }, () => s.next().items);
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });
});

describe('adaptive strategy', () => {
  const three = [
    { name: 'solved', size: 200 },
    { name: 'learning', size: 200 },
    { name: 'hopeless', size: 200 },
  ];

  it('moves weight to tasks with reward variance and progress, keeping the floor', () => {
    const s = new MultiTaskScheduler({ tasks: three, batchSize: 32, strategy: 'adaptive', adaptive: { base: 'uniform' }, seed: 4 });
    const m = 0.25 / 3;
    expect(s.probabilities()).toEqual({ solved: 1 / 3, learning: 1 / 3, hopeless: 1 / 3 }); // no evidence yet
    const floorOk = () => Object.values(s.probabilities()).forEach((p) => expect(p).toBeGreaterThanOrEqual(m - 1e-15));

    // Phase 1: "solved" always right (no variance), "hopeless" always wrong (no variance),
    // "learning" has variance in 80 % of its groups and a rising reward.
    const phase1 = (t: number): TaskStepStats[] => [
      { task: 'solved', zeroVarianceFraction: 1, rewardMean: 1, numGroups: 4 },
      { task: 'learning', zeroVarianceFraction: 0.2, rewardMean: 0.3 + 0.01 * t, numGroups: 4 },
      { task: 'hopeless', zeroVarianceFraction: 1, rewardMean: 0, numGroups: 4 },
    ];
    const learningShare: number[] = [];
    let items = 0;
    let learningItems = 0;
    for (let t = 0; t < 40; t++) {
      const b = s.next();
      if (t >= 1) {
        items += b.items.length;
        learningItems += b.quotas.learning!;
      }
      s.update(phase1(t));
      floorOk();
      learningShare.push(s.probabilities().learning!);
    }
    const p1 = s.probabilities();
    // Only "learning" has a score > 0, so it gets everything above the floors: m + (1 − 3m).
    expect(p1.learning).toBeCloseTo(m + (1 - 3 * m), 12);
    expect(p1.solved).toBeCloseTo(m, 12);
    expect(p1.hopeless).toBeCloseTo(m, 12);
    expect(learningItems / items).toBeGreaterThan(0.8); // the batches follow the weights

    // Phase 2: "learning" becomes solved; "hopeless" starts to learn (half its groups vary, reward rises).
    const before = s.probabilities();
    let prevLearning = Infinity;
    for (let t = 0; t < 60; t++) {
      s.next();
      s.update([
        { task: 'solved', zeroVarianceFraction: 1, rewardMean: 1, numGroups: 4 },
        { task: 'learning', zeroVarianceFraction: 1, rewardMean: 1, numGroups: 4 },
        { task: 'hopeless', zeroVarianceFraction: 0.5, rewardMean: 0.005 * t, numGroups: 4 },
      ]);
      floorOk();
      const p = s.probabilities();
      if (t >= 3) {
        expect(p.learning!, `step ${t}: the solved task keeps losing weight`).toBeLessThanOrEqual(prevLearning + 1e-12);
      }
      prevLearning = p.learning!;
    }
    const p2 = s.probabilities();
    expect(p2.hopeless).toBeGreaterThan(0.8);
    expect(p2.hopeless).toBeGreaterThan(before.hopeless! + 0.6);
    expect(p2.learning).toBeLessThan(m + 0.02);
    expect(p2.solved).toBeCloseTo(m, 12);
  });

  it('learning progress alone (reward still moving) keeps a task weighted', () => {
    const s = new MultiTaskScheduler({ tasks: three, batchSize: 8, strategy: 'adaptive', adaptive: { base: 'uniform', progressWeight: 2 }, seed: 4 });
    for (let t = 0; t < 20; t++) {
      s.next();
      // All three report full variance, but only "learning" has a moving reward.
      s.update([
        { task: 'solved', zeroVarianceFraction: 0, rewardMean: 0.5 },
        { task: 'learning', zeroVarianceFraction: 0, rewardMean: 0.05 * t },
        { task: 'hopeless', zeroVarianceFraction: 0, rewardMean: 0.5 },
      ]);
    }
    const p = s.probabilities();
    expect(p.learning).toBeGreaterThan(p.solved! + 0.05);
    expect(p.solved).toBeCloseTo(p.hopeless!, 12);
  });

  it('counts still track the moving targets within one example', () => {
    const s = new MultiTaskScheduler({ tasks, batchSize: 16, strategy: 'adaptive', seed: 8 });
    let x = 1;
    const { worst } = checkCounts(s, 1500, () => {
      x = (Math.imul(x, 69069) + 1) >>> 0;
      s.update(s.taskNames.map((n, k) => ({ task: n, zeroVarianceFraction: ((x >>> (k * 3)) & 7) / 7, rewardMean: ((x >>> 20) & 255) / 255 })));
    });
    expect(worst, `max |count − target| = ${worst.toFixed(3)}`).toBeLessThan(1);
  });

  it('validates its options and updates', () => {
    const mk = (adaptive: object) => new MultiTaskScheduler({ tasks: three, batchSize: 4, strategy: 'adaptive', adaptive });
    expect(() => mk({ minWeight: 0.5 })).toThrow(/adaptive\.minWeight: expected 0 ≤ minWeight ≤ 1\/K/);
    expect(() => mk({ decay: 1 })).toThrow(/adaptive\.decay: expected a number in \[0, 1\)/);
    expect(() => mk({ base: 'adaptive' })).toThrow(/adaptive\.base/);
    const s = mk({});
    expect(() => s.update([{ task: 'sovled', zeroVarianceFraction: 1 }])).toThrow(/update: stats\[0\]\.task: unknown task "sovled"/);
    expect(() => s.update([{ task: 'solved', zeroVarianceFraction: 2 }])).toThrow(/zeroVarianceFraction: expected a number in \[0, 1\]/);
    expect(() => s.update([{ task: 'solved', rewardMean: NaN }])).toThrow(/rewardMean: expected a finite number/);
  });
});

describe('resume', () => {
  const script = (t: number): TaskStepStats[] => tasks.map((x, k) => ({ task: x.name, zeroVarianceFraction: ((t * 7 + k * 3) % 10) / 10, rewardMean: ((t + k) % 5) / 5, numGroups: 2 }));

  for (const strategy of ['proportional', 'adaptive'] as StrategyName[]) {
    it(`${strategy}: save → JSON → restore gives the same sequence as an uninterrupted run`, () => {
      const examples = Object.fromEntries(tasks.map((t) => [t.name, Array.from({ length: t.size }, (_, i) => `${t.name}#${i}`)]));
      const opts = { tasks: tasks.map((t) => ({ name: t.name, examples: examples[t.name]! })), batchSize: 13, strategy, seed: 77 };
      const whole = new MultiTaskScheduler(opts);
      const full = Array.from({ length: 90 }, (_, t) => {
        const b = whole.next();
        whole.update(script(t));
        return b;
      });

      const first = new MultiTaskScheduler(opts);
      for (let t = 0; t < 37; t++) {
        first.next();
        first.update(script(t));
      }
      const saved = JSON.stringify(first.state());
      const resumed = MultiTaskScheduler.fromState<string>(JSON.parse(saved) as SchedulerState, examples);
      const again = new MultiTaskScheduler(opts);
      again.restore(JSON.parse(saved) as SchedulerState);
      for (let t = 37; t < 90; t++) {
        const a = resumed.next();
        const b = again.next();
        expect(a).toEqual(full[t]);
        expect(b).toEqual(full[t]);
        resumed.update(script(t));
        again.update(script(t));
      }
      expect(resumed.state()).toEqual(whole.state());
    });
  }

  it('refuses a state from a different configuration', () => {
    const s = new MultiTaskScheduler({ tasks, batchSize: 8, seed: 1 });
    s.next();
    const st = s.state();
    expect(() => new MultiTaskScheduler({ tasks, batchSize: 8, seed: 2 }).restore(st)).toThrow(/restore: the saved configuration differs/);
    expect(() => new MultiTaskScheduler({ tasks: tasks.slice(1), batchSize: 8, seed: 1 }).restore(st)).toThrow(/differs/);
    const broken = structuredClone(st);
    broken.cursors.t0!.cursor = 37;
    expect(() => new MultiTaskScheduler({ tasks, batchSize: 8, seed: 1 }).restore(broken)).toThrow(/state\.cursors\["t0"\]: expected \{ epoch ≥ 0, 0 ≤ cursor < 37 \}/);
    expect(() => MultiTaskScheduler.fromState({} as SchedulerState)).toThrow(/fromState: state: expected an object from MultiTaskScheduler\.state\(\)/);
  });
});

describe('bad options', () => {
  it('name the argument and what was expected', () => {
    const bad = (o: object, re: RegExp) => expect(() => new MultiTaskScheduler(o as never)).toThrow(re);
    bad({ tasks: [], batchSize: 4 }, /MultiTaskScheduler: tasks: expected a non-empty array/);
    bad({ tasks: [{ name: 'a', size: 0 }], batchSize: 4 }, /tasks\[0\]\.size \("a"\): expected an integer ≥ 1/);
    bad({ tasks: [{ name: 'a', size: 3 }, { name: 'a', size: 3 }], batchSize: 4 }, /tasks\[1\]\.name: "a" appears twice/);
    bad({ tasks: [{ name: 'a', size: 3, examples: [1, 2] }], batchSize: 4 }, /size 3 disagrees with examples\.length 2/);
    bad({ tasks, batchSize: 0 }, /batchSize: expected an integer ≥ 1, got 0/);
    bad({ tasks, batchSize: 4, strategy: 'random' }, /strategy: expected one of proportional, uniform, temperature, custom, adaptive/);
    bad({ tasks, batchSize: 4, strategy: 'temperature' }, /temperature: expected a finite number > 0/);
    bad({ tasks, batchSize: 4, strategy: 'temperature', temperature: -1 }, /temperature: expected a finite number > 0/);
    bad({ tasks, batchSize: 4, temperature: 2 }, /temperature: only for the "temperature" strategy/);
    bad({ tasks, batchSize: 4, strategy: 'custom' }, /the "custom" strategy needs a weight on every task/);
    bad({ tasks: tasks.map((t) => ({ ...t, weight: 0 })), batchSize: 4, strategy: 'custom' }, /weights sum to 0/);
    bad({ tasks, batchSize: 4, seed: -1 }, /seed: expected a safe integer ≥ 0/);
    bad({ tasks, batchSize: 4, seed: 1.5 }, /seed: expected a safe integer ≥ 0/);
    bad({ tasks, batchSize: 4, adaptive: {} }, /adaptive: only for strategy "adaptive"/);
  });
});
