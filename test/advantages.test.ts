// Tests for group-relative advantages: statistics worked by hand, TRL's three scaling modes,
// zero-variance groups (exact zeros, counted), null rewards excluded, μ ± kσ filtering, a float64
// loop reference on random rewards, per-task step statistics, and bad input.
import { describe, expect, it } from 'vitest';
import { computeAdvantages, taskStepStats } from '../lib/rl/advantages.js';

const EPS = 1e-4;

describe('computeAdvantages by hand', () => {
  it('group scaling: [1, 0, 0, 1] has mean 0.5 and unbiased std √(1/3)', () => {
    const r = computeAdvantages([1, 0, 0, 1], { groupSize: 4 });
    const std = Math.sqrt(1 / 3); // Σ(r − 0.5)² = 1, divided by n − 1 = 3
    expect(r.groupMean[0]).toBe(0.5);
    expect(r.groupStd[0]).toBeCloseTo(std, 15);
    const a = 0.5 / (std + EPS);
    expect([...r.advantages]).toEqual([a, -a, -a, a].map((x) => expect.closeTo(x, 14)));
    expect(r.mask).toEqual([true, true, true, true]);
    expect(r.zeroVarianceGroups).toEqual([]);
  });

  it('composite rewards 0.9·acc + 0.1·fmt: [1, 0.9, 0.1, 0] (G = 4)', () => {
    const r = computeAdvantages([1, 0.9, 0.1, 0], { groupSize: 4 });
    // mean = 0.5; deviations 0.5, 0.4, −0.4, −0.5; Σd² = 0.82; std = √(0.82/3)
    const std = Math.sqrt(0.82 / 3);
    expect(r.groupMean[0]).toBeCloseTo(0.5, 15);
    [0.5, 0.4, -0.4, -0.5].forEach((d, i) => expect(r.advantages[i]).toBeCloseTo(d / (std + EPS), 13));
  });

  it('zero-variance groups get exactly 0 and are reported', () => {
    const r = computeAdvantages([1, 1, 1, 0, 1, 0, 0.3, 0.3, 0.3], { groupSize: 3 });
    expect(r.zeroVarianceGroups).toEqual([0, 2]);
    expect(r.zeroVarianceFraction).toBeCloseTo(2 / 3, 15);
    expect([...r.advantages.slice(0, 3)]).toEqual([0, 0, 0]);
    expect([...r.advantages.slice(6)]).toEqual([0, 0, 0]);
    expect(r.mask).toEqual(new Array(9).fill(true)); // still valid completions, just no signal
    // group 1: [0, 1, 0]: mean 1/3, std √((1/9 + 4/9 + 1/9)/2) = √(1/3)
    const std = Math.sqrt(1 / 3);
    expect(r.advantages[3]).toBeCloseTo(-1 / 3 / (std + EPS), 14);
    expect(r.advantages[4]).toBeCloseTo(2 / 3 / (std + EPS), 14);
  });

  it('null rewards are left out of the statistics and masked', () => {
    const r = computeAdvantages([1, null, 0, 0, null, null, null, 1, 0.5, 0.5, null, 0.5], { groupSize: 4 });
    // group 0: valid [1, 0, 0]: mean 1/3, std √(((2/3)² + 2(1/3)²)/2) = √(1/3)
    expect(r.groupValid[0]).toBe(3);
    expect(r.groupMean[0]).toBeCloseTo(1 / 3, 15);
    expect(r.groupStd[0]).toBeCloseTo(Math.sqrt(1 / 3), 15);
    expect(r.advantages[0]).toBeCloseTo(2 / 3 / (Math.sqrt(1 / 3) + EPS), 14);
    expect(r.advantages[1]).toBe(0);
    expect(r.mask.slice(0, 4)).toEqual([true, false, true, true]);
    // group 1: one valid reward → no variance to learn from; group 2: all valid equal
    expect(r.groupValid[1]).toBe(1);
    expect(Number.isNaN(r.groupStd[1])).toBe(true);
    expect(r.zeroVarianceGroups).toEqual([1, 2]);
    expect(r.numNull).toBe(5);
    expect(r.mask[7]).toBe(true);
    expect(r.advantages[7]).toBe(0);
    // batch statistics over the 7 valid rewards
    expect(r.rewardMean).toBeCloseTo((1 + 0 + 0 + 1 + 0.5 + 0.5 + 0.5) / 7, 15);
  });

  it('an all-null group has NaN statistics, counts as zero-variance, and is fully masked', () => {
    const r = computeAdvantages([null, null, 1, 0], { groupSize: 2 });
    expect(Number.isNaN(r.groupMean[0])).toBe(true);
    expect(r.zeroVarianceGroups).toEqual([0]);
    expect(r.mask).toEqual([false, false, true, true]);
  });

  it('batch scaling: group mean, batch std (TRL "batch")', () => {
    const rewards = [1, 0, 0.5, 0.5, 1, 1];
    const r = computeAdvantages(rewards, { groupSize: 2, scaleRewards: 'batch' });
    // batch mean 4/6; deviations 1/3, −2/3, −1/6, −1/6, 1/3, 1/3; Σd² = 1/9 + 4/9 + 1/36 + 1/36 + 1/9 + 1/9 = 5/6
    const std = Math.sqrt(5 / 6 / 5);
    expect(r.batchStd).toBeCloseTo(std, 15);
    expect(r.advantages[0]).toBeCloseTo(0.5 / (std + EPS), 14);
    expect(r.advantages[1]).toBeCloseTo(-0.5 / (std + EPS), 14);
    expect([...r.advantages.slice(2)]).toEqual([0, 0, 0, 0]);
    expect(r.zeroVarianceGroups).toEqual([1, 2]);
  });

  it('no scaling: plain centred rewards', () => {
    const r = computeAdvantages([3, 1, 2, 2, 0, 10], { groupSize: 3, scaleRewards: 'none' });
    expect([...r.advantages]).toEqual([1, -1, 0, -2, -4, 6]);
    expect(Number.isNaN(r.batchStd)).toBe(true);
  });

  it('filtering beyond μ ± kσ zeroes and masks outliers', () => {
    // "none" scaling, group 0 = nine 0s and one 10: advantages nine −1 and one +9; over those ten
    // (the zero-variance group 1 is left out), mean 0 and std √((9·1 + 81)/9) = √10 ≈ 3.162.
    const rewards = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10, ...new Array(10).fill(5)];
    const k2 = computeAdvantages(rewards, { groupSize: 10, scaleRewards: 'none', filterStd: 2 }); // bound 6.32
    expect(k2.numFiltered).toBe(1);
    expect(k2.mask[9]).toBe(false);
    expect(k2.advantages[9]).toBe(0);
    expect(k2.advantages[0]).toBe(-1);
    expect(k2.mask.filter(Boolean).length).toBe(19);
    const k3 = computeAdvantages(rewards, { groupSize: 10, scaleRewards: 'none', filterStd: 3 }); // bound 9.49
    expect(k3.numFiltered).toBe(0);
    expect(k3.advantages[9]).toBe(9);
  });
});

/** Straight float64 loops, written from the definitions (not from the implementation). */
function reference(rewards: (number | null)[], G: number, scale: 'group' | 'batch' | 'none'): number[] {
  const out: number[] = [];
  const all = rewards.filter((r): r is number => r !== null);
  const bm = all.reduce((a, b) => a + b, 0) / all.length;
  const bstd = Math.sqrt(all.reduce((a, b) => a + (b - bm) ** 2, 0) / (all.length - 1));
  for (let g = 0; g < rewards.length / G; g++) {
    const grp = rewards.slice(g * G, g * G + G);
    const v = grp.filter((r): r is number => r !== null);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
    const flat = v.length < 2 || Math.max(...v) - Math.min(...v) <= 1e-6;
    for (const r of grp) {
      if (r === null || flat) out.push(0);
      else out.push(scale === 'none' ? r - m : (r - m) / ((scale === 'group' ? sd : bstd) + EPS));
    }
  }
  return out;
}

describe('computeAdvantages against a float64 reference', () => {
  it('random rewards with nulls and ties, awkward group sizes, every scaling mode', () => {
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    let maxErr = 0;
    for (const G of [1, 2, 3, 7, 16]) {
      for (const scale of ['group', 'batch', 'none'] as const) {
        const groups = 5 + Math.floor(rand() * 9);
        const rewards = Array.from({ length: groups * G }, () => {
          const u = rand();
          if (u < 0.1) return null;
          return u < 0.5 ? Math.round(rand()) * 0.9 + (rand() < 0.5 ? 0.1 : 0) : rand() * 2 - 0.5;
        });
        const got = computeAdvantages(rewards, { groupSize: G, scaleRewards: scale });
        const ref = reference(rewards, G, scale);
        ref.forEach((x, i) => {
          const err = Math.abs(got.advantages[i]! - x);
          maxErr = Math.max(maxErr, err);
          expect(err, `G=${G} ${scale} i=${i}`).toBeLessThanOrEqual(1e-12 + 1e-12 * Math.abs(x));
        });
        if (G === 1) expect(got.zeroVarianceFraction).toBe(1);
      }
    }
    expect(maxErr, `max |error| = ${maxErr.toExponential(2)}`).toBeLessThan(1e-12);
  });
});

describe('taskStepStats', () => {
  it('aggregates groups per task for the scheduler', () => {
    const r = computeAdvantages([1, 0, 1, 1, 0, null, 0.5, 0.5], { groupSize: 2 });
    const stats = taskStepStats(r, ['safety', 'safety', 'alignment', 'alignment']);
    expect(stats).toEqual([
      { task: 'safety', numGroups: 2, zeroVarianceFraction: 0.5, rewardMean: 0.75 },
      { task: 'alignment', numGroups: 2, zeroVarianceFraction: 1, rewardMean: expect.closeTo((0 + 0.5 + 0.5) / 3, 15) },
    ]);
    expect(() => taskStepStats(r, ['safety'])).toThrow(/groupTasks: expected one task name per group \(4\), got 1/);
  });
});

describe('computeAdvantages rejects bad input', () => {
  it('names the argument', () => {
    expect(() => computeAdvantages([1, NaN], { groupSize: 2 })).toThrow(/computeAdvantages: rewards\[1\]: expected a finite number or null, got NaN/);
    expect(() => computeAdvantages([1, Infinity], { groupSize: 2 })).toThrow(/rewards\[1\]/);
    expect(() => computeAdvantages([1, '1' as unknown as number], { groupSize: 2 })).toThrow(/rewards\[1\]/);
    expect(() => computeAdvantages([1, 0, 1], { groupSize: 2 })).toThrow(/rewards\.length \(3\) is not a multiple of groupSize \(2\)/);
    expect(() => computeAdvantages([1, 0], { groupSize: 0 })).toThrow(/opts\.groupSize: expected an integer ≥ 1/);
    expect(() => computeAdvantages([1, 0], { groupSize: 2, scaleRewards: 'std' as 'group' })).toThrow(/opts\.scaleRewards/);
    expect(() => computeAdvantages([1, 0], { groupSize: 2, filterStd: 0 })).toThrow(/opts\.filterStd: expected a number > 0/);
    expect(() => computeAdvantages(null as unknown as number[], { groupSize: 2 })).toThrow(/rewards: expected an array/);
  });
});
