// Correlation with human ratings: Pearson, Spearman (average ranks for ties) and Kendall's tau-b.
//
// All return NaN when undefined (fewer than two points, or a constant input), never a made-up 0:
// a judge that always says the same thing has no correlation, and a table should show that.

function check(fn: string, x: ArrayLike<number>, y: ArrayLike<number>): void {
  if (x === null || typeof x !== 'object' || typeof x.length !== 'number') throw new TypeError(`${fn}: x: expected an array of numbers`);
  if (y === null || typeof y !== 'object' || typeof y.length !== 'number') throw new TypeError(`${fn}: y: expected an array of numbers`);
  if (x.length !== y.length) throw new RangeError(`${fn}: x (${x.length}) and y (${y.length}) differ in length`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new TypeError(`${fn}: x[${i}]: expected a finite number, got ${String(x[i])}`);
    if (!Number.isFinite(y[i])) throw new TypeError(`${fn}: y[${i}]: expected a finite number, got ${String(y[i])}`);
  }
}

function pearsonUnchecked(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  // Two-pass (centred) sums: stable for ratings far from 0.
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Pearson's linear correlation coefficient. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  check('pearson', x, y);
  return pearsonUnchecked(x, y);
}

/** Ranks 1..n; tied values share the average of the ranks they span ("fractional ranking"). */
export function rankAverage(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]!] === x[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

/** Spearman's rank correlation: Pearson on average ranks (correct with ties). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  check('spearman', x, y);
  return pearsonUnchecked(rankAverage(x), rankAverage(y));
}

/**
 * Kendall's tau-b: (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)), with n0 = n(n−1)/2 and n1,
 * n2 the pairs tied in x, in y. O(n log n) by Knight's method: sort by (x, y), then count the
 * discordant pairs as the swaps a merge sort on y needs.
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  check('kendallTauB', x, y);
  const n = x.length;
  if (n < 2) return NaN;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || y[a]! - y[b]!);
  const n0 = (n * (n - 1)) / 2;
  const tiedPairs = (same: (a: number, b: number) => boolean, order: number[]): number => {
    let t = 0;
    let run = 1;
    for (let i = 1; i < n; i++) {
      if (same(order[i - 1]!, order[i]!)) run++;
      else {
        t += (run * (run - 1)) / 2;
        run = 1;
      }
    }
    return t + (run * (run - 1)) / 2;
  };
  const n1 = tiedPairs((a, b) => x[a] === x[b], idx);
  const n3 = tiedPairs((a, b) => x[a] === x[b] && y[a] === y[b], idx);
  // Merge sort of y in (x, y) order; each time an element of the right half jumps ahead of the
  // remaining left elements, those pairs are discordant (strictly: x increases, y decreases).
  let ys = idx.map((i) => y[i]!);
  let buf = new Array<number>(n);
  let swaps = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (ys[j]! < ys[i]!) {
          buf[k++] = ys[j++]!;
          swaps += mid - i;
        } else buf[k++] = ys[i++]!;
      }
      while (i < mid) buf[k++] = ys[i++]!;
      while (j < hi) buf[k++] = ys[j++]!;
    }
    [ys, buf] = [buf, ys];
  }
  let n2 = 0;
  let run = 1;
  for (let i = 1; i < n; i++) {
    if (ys[i] === ys[i - 1]) run++;
    else {
      n2 += (run * (run - 1)) / 2;
      run = 1;
    }
  }
  n2 += (run * (run - 1)) / 2;
  const denom = Math.sqrt((n0 - n1) * (n0 - n2));
  if (denom === 0) return NaN;
  // concordant − discordant = n0 − n1 − n2 + n3 − 2·discordant
  return Math.max(-1, Math.min(1, (n0 - n1 - n2 + n3 - 2 * swaps) / denom));
}
