// Policy-gradient loss: the native kernels against a float64 TypeScript reference of the documented
// definitions (every option combination: loss, every gradient, every metric), against central finite
// differences of that reference, fused-linear vs logits path (chunk sizes that do and do not divide),
// mask invariance with garbage, bf16, tokenLogprobs, bad input, and CUDA vs CPU where a GPU exists.
import { describe, expect, it } from 'vitest';
import { Tensor, cudaAvailable } from '../lib/index.js';
import {
  policyLoss,
  policyLossUnfused,
  policyLossValue,
  tokenLogprobs,
  type PolicyLossBatch,
  type PolicyLossOptions,
  type PolicyLossType,
  type KlEstimator,
  type ImportanceSamplingLevel,
} from '../lib/kernels/policy-loss.js';
import { mulberry32 as rng } from '../lib/rng.js';

// ---------------------------------------------------------------- random inputs (seed printed)
const SEED = process.env.MTRL_TEST_SEED ? Number(process.env.MTRL_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
const rand = rng(SEED);
const uniform = (lo: number, hi: number) => lo + (hi - lo) * rand();
const randint = (n: number) => Math.floor(rand() * n);

// ---------------------------------------------------------------- float64 reference
interface RefInput {
  N: number;
  T: number;
  V: number;
  logits: Float64Array; // (N, T, V)
  tokens: Int32Array;
  mask: Uint8Array;
  adv: Float64Array; // (N) or (N, T)
  advPerToken: boolean;
  old?: Float64Array;
  ref?: Float64Array;
}
interface RefOut {
  loss: number;
  grad: Float64Array;
  lp: Float64Array;
  H: Float64Array;
  metrics: { kl: number; clipLow: number; clipHigh: number; clipRegion: number; ratio: number; entropy: number; nll: number; tokens: number };
}

function reference(x: RefInput, o: PolicyLossOptions, withGrad = true): RefOut {
  const { N, T, V } = x;
  const tau = o.temperature ?? 1;
  const eps = o.epsilon ?? 0.2;
  const epsH = o.epsilonHigh ?? eps;
  const beta = o.beta ?? 0;
  const cH = o.entropyCoef ?? 0;
  const lossType = o.lossType ?? 'grpo';
  const seqLevel = (o.importanceSamplingLevel ?? 'token') === 'sequence' && lossType !== 'nll';
  const lp = new Float64Array(N * T);
  const H = new Float64Array(N * T);
  const logp = new Float64Array(N * T * V);
  const ni = new Array<number>(N).fill(0);
  let n = 0;
  for (let f = 0; f < N * T; f++) {
    if (!x.mask[f]) continue;
    ni[Math.floor(f / T)]!++;
    n++;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, x.logits[f * V + v]! / tau);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x.logits[f * V + v]! / tau - m);
    const lse = m + Math.log(s);
    let h = 0;
    for (let v = 0; v < V; v++) {
      const l = x.logits[f * V + v]! / tau - lse;
      logp[f * V + v] = l;
      h -= Math.exp(l) * l;
    }
    lp[f] = logp[f * V + x.tokens[f]!]!;
    H[f] = h;
  }
  const weight = (i: number) => {
    switch (lossType) {
      case 'grpo':
        return 1 / (N * Math.max(ni[i]!, 1));
      case 'bnpo':
        return 1 / Math.max(n, 1);
      case 'dr_grpo':
        return 1 / (N * (o.maxCompletionLength ?? T));
      case 'dapo':
      case 'nll':
        return 1 / (o.numItemsInBatch ?? Math.max(n, 1));
    }
  };
  const seqR = new Array<number>(N).fill(0);
  if (seqLevel) {
    for (let f = 0; f < N * T; f++) if (x.mask[f] && x.old) seqR[Math.floor(f / T)]! += lp[f]! - x.old[f]!;
    for (let i = 0; i < N; i++) seqR[i] = Math.exp(seqR[i]! / Math.max(ni[i]!, 1));
  }
  const gLp = new Float64Array(N * T);
  const gH = new Float64Array(N * T);
  const seqG = new Array<number>(N).fill(0);
  let loss = 0;
  const acc = { kl: 0, low: 0, high: 0, region: 0, ratio: 0, ent: 0, nll: 0 };
  for (let f = 0; f < N * T; f++) {
    if (!x.mask[f]) continue;
    const i = Math.floor(f / T);
    const w = weight(i);
    const l = lp[f]!;
    let kl = 0;
    let dkl = 0;
    if (x.ref) {
      const dd = x.ref[f]! - l;
      const est = o.klEstimator ?? 'k3';
      if (est === 'k1') [kl, dkl] = [-dd, 1];
      else if (est === 'k2') [kl, dkl] = [0.5 * dd * dd, -dd];
      else [kl, dkl] = [Math.exp(dd) - dd - 1, 1 - Math.exp(dd)];
    }
    let term: number;
    if (lossType === 'nll') {
      term = -l;
      gLp[f] = -w;
      acc.ratio += 1;
    } else {
      const A = x.advPerToken ? x.adv[f]! : x.adv[i]!;
      const r = seqLevel ? seqR[i]! : x.old ? Math.exp(l - x.old[f]!) : 1;
      let c1 = r;
      let dc1 = 1;
      if (o.delta !== undefined && r > o.delta) [c1, dc1] = [o.delta, 0];
      const c2 = Math.min(Math.max(r, 1 - eps), 1 + epsH);
      const dc2 = r >= 1 - eps && r <= 1 + epsH ? 1 : 0;
      const t1 = c1 * A;
      const t2 = c2 * A;
      let val: number;
      let dval: number;
      if (t1 < t2) [val, dval] = [-t1, -A * dc1];
      else if (t1 > t2) [val, dval] = [-t2, -A * dc2];
      else [val, dval] = [-t1, (-A * (dc1 + dc2)) / 2];
      term = val + beta * kl;
      if (seqLevel) {
        seqG[i]! += w * dval;
        gLp[f] = w * beta * dkl;
      } else gLp[f] = w * (dval * r + beta * dkl);
      const low = c1 < 1 - eps && A < 0;
      const high = c1 > 1 + epsH && A > 0;
      acc.low += +low;
      acc.high += +high;
      acc.region += +(low || high);
      acc.ratio += r;
    }
    loss += w * (term - cH * H[f]!);
    gH[f] = -cH * w;
    acc.kl += kl;
    acc.ent += H[f]!;
    acc.nll -= l;
  }
  if (seqLevel) for (let f = 0; f < N * T; f++) if (x.mask[f]) gLp[f]! += (seqG[Math.floor(f / T)]! * seqR[Math.floor(f / T)]!) / ni[Math.floor(f / T)]!;
  const grad = new Float64Array(withGrad ? N * T * V : 0);
  if (withGrad)
    for (let f = 0; f < N * T; f++) {
      if (!x.mask[f]) continue;
      for (let v = 0; v < V; v++) {
        const l = logp[f * V + v]!;
        const p = Math.exp(l);
        // dlp/dz'_v = δ − p_v; dH/dz'_v = −p_v (log p_v + H); z' = z/τ.
        grad[f * V + v] = (gLp[f]! * ((v === x.tokens[f] ? 1 : 0) - p) + gH[f]! * -p * (l + H[f]!)) / tau;
      }
    }
  const d = Math.max(n, 1);
  return {
    loss,
    grad,
    lp,
    H,
    metrics: {
      kl: acc.kl / d,
      clipLow: acc.low / d,
      clipHigh: acc.high / d,
      clipRegion: acc.region / d,
      ratio: acc.ratio / d,
      entropy: acc.ent / d,
      nll: acc.nll / d,
      tokens: n,
    },
  };
}

// ---------------------------------------------------------------- helpers
/** max over i of |a − b| / (atol + rtol·|b|): ≤ 1 passes. Also returns the max abs error. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): { worst: number; maxAbs: number } {
  expect(a.length).toBe(b.length);
  let worst = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    if (!(e <= Infinity)) return { worst: Infinity, maxAbs: NaN };
    maxAbs = Math.max(maxAbs, e);
    worst = Math.max(worst, e / (atol + rtol * Math.abs(b[i]!)));
  }
  return { worst, maxAbs };
}
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number, what: string): number {
  const { worst, maxAbs } = compare(a, b, atol, rtol);
  expect(worst, `${what}: max abs error ${maxAbs.toExponential(2)} (atol ${atol}, rtol ${rtol}, seed ${SEED})`).toBeLessThanOrEqual(1);
  return maxAbs;
}

interface Case {
  x: RefInput;
  batch: PolicyLossBatch;
  logits: Tensor;
}
/** Random inputs: f32 logits, some masked positions (optionally a fully masked sequence), old/ref near lp. */
function makeCase(N: number, T: number, V: number, opts: { old: boolean; ref: boolean; advPerToken: boolean; emptySeq?: boolean; scale?: number }): Case {
  const scale = opts.scale ?? 2;
  const lf = Float32Array.from({ length: N * T * V }, () => uniform(-scale, scale));
  const tokens = Int32Array.from({ length: N * T }, () => randint(V));
  const mask = Uint8Array.from({ length: N * T }, (_, f) => (opts.emptySeq && Math.floor(f / T) === N - 1 ? 0 : rand() < 0.75 ? 1 : 0));
  for (let i = 0; i < N - (opts.emptySeq ? 1 : 0); i++) mask[i * T] = 1; // at least one counted token
  const adv = Float32Array.from({ length: opts.advPerToken ? N * T : N }, () => uniform(-1.5, 1.5));
  const logits = Float64Array.from(lf);
  // lp under the current logits (τ = 1 is enough to place old/ref near it).
  const lpNow = reference({ N, T, V, logits, tokens, mask: new Uint8Array(N * T).fill(1), adv: new Float64Array(N), advPerToken: false }, { lossType: 'nll' }, false).lp;
  const old = opts.old ? Float32Array.from(lpNow, (l) => l + uniform(-0.45, 0.45)) : undefined;
  const ref = opts.ref ? Float32Array.from(lpNow, (l) => l + uniform(-0.6, 0.6)) : undefined;
  const x: RefInput = { N, T, V, logits, tokens, mask, adv: Float64Array.from(adv), advPerToken: opts.advPerToken };
  if (old) x.old = Float64Array.from(old);
  if (ref) x.ref = Float64Array.from(ref);
  const batch: PolicyLossBatch = {
    tokens: Tensor.fromArray(tokens, [N, T]),
    mask: Tensor.fromArray(mask, [N, T], { dtype: 'u8' }),
    advantages: Tensor.fromArray(adv, opts.advPerToken ? [N, T] : [N]),
  };
  if (old) batch.oldLogprobs = Tensor.fromArray(old, [N, T]);
  if (ref) batch.refLogprobs = Tensor.fromArray(ref, [N, T]);
  return { x, batch, logits: Tensor.fromArray(lf, [N, T, V]) };
}

function maskedLp(r: Float64Array, mask: Uint8Array): Float64Array {
  return r.map((v, i) => (mask[i] ? v : 0));
}

function checkMetrics(got: Record<string, number>, want: Record<string, number>, what: string): void {
  for (const k of Object.keys(want)) {
    const tol = k === 'tokens' ? 0 : 1e-5 + 1e-5 * Math.abs(want[k]!);
    expect(Math.abs(got[k]! - want[k]!), `${what}: metric ${k} = ${got[k]} vs reference ${want[k]} (seed ${SEED})`).toBeLessThanOrEqual(tol);
  }
}

// ---------------------------------------------------------------- every option combination
const LOSS_TYPES: PolicyLossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'nll'];
const IS_LEVELS: ImportanceSamplingLevel[] = ['token', 'sequence'];
const KLS: KlEstimator[] = ['k1', 'k2', 'k3'];
const CLIPS: Array<Pick<PolicyLossOptions, 'epsilonHigh' | 'delta'> & { name: string }> = [
  { name: 'symmetric' },
  { name: 'epsilonHigh=0.28', epsilonHigh: 0.28 },
  { name: 'delta=1.3', delta: 1.3 },
];

interface Combo {
  name: string;
  opts: PolicyLossOptions;
  old: boolean;
  ref: boolean;
}
function combos(): Combo[] {
  const out: Combo[] = [];
  let k = 0;
  for (const lossType of LOSS_TYPES)
    for (const lvl of IS_LEVELS)
      for (const kl of KLS)
        for (const old of [false, true])
          for (const ref of [false, true])
            for (const clip of CLIPS) {
              k++;
              const opts: PolicyLossOptions = { lossType, importanceSamplingLevel: lvl, klEstimator: kl, epsilon: 0.2 };
              if (clip.epsilonHigh !== undefined) opts.epsilonHigh = clip.epsilonHigh;
              if (clip.delta !== undefined) opts.delta = clip.delta;
              if (ref && lossType !== 'nll') opts.beta = 0.04;
              // Temperature, entropy bonus and the normalisers vary across combinations.
              if (k % 2) opts.temperature = 0.7;
              if (k % 3 === 0) opts.entropyCoef = 0.05;
              if (lossType === 'dr_grpo' && k % 2) opts.maxCompletionLength = 9;
              if ((lossType === 'dapo' || lossType === 'nll') && k % 2) opts.numItemsInBatch = 23;
              out.push({ name: `${lossType}/${lvl}/${kl}/old=${old}/ref=${ref}/${clip.name}`, opts, old, ref });
            }
  return out;
}

describe(`policyLoss vs float64 reference (seed ${SEED})`, () => {
  const all = combos();
  it(`all ${all.length} option combinations: loss, grads.logits, logprobs and metrics`, () => {
    let maxLoss = 0;
    let maxGrad = 0;
    for (const [ci, c] of all.entries()) {
      const cs = makeCase(3, 5, 11, { old: c.old, ref: c.ref, advPerToken: ci % 2 === 0, emptySeq: ci % 4 === 1 });
      const want = reference(cs.x, c.opts);
      const got = policyLoss({ logits: cs.logits }, cs.batch, c.opts);
      const le = Math.abs(got.loss - want.loss);
      expect(le, `${c.name}: loss ${got.loss} vs ${want.loss} (seed ${SEED})`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(want.loss));
      maxLoss = Math.max(maxLoss, le);
      maxGrad = Math.max(maxGrad, expectClose(got.grads.logits.toArray(), want.grad, 1e-7, 1e-4, `${c.name}: grads.logits`));
      expectClose(got.logprobs.toArray(), maskedLp(want.lp, cs.x.mask), 1e-6, 1e-5, `${c.name}: logprobs`);
      checkMetrics(got.metrics as unknown as Record<string, number>, want.metrics, c.name);
    }
    console.log(`policyLoss vs reference over ${all.length} combinations: max |Δloss| ${maxLoss.toExponential(2)}, max |Δgrad| ${maxGrad.toExponential(2)}`);
  });

  it('gradients match central finite differences of the float64 reference for every combination', () => {
    let maxErr = 0;
    for (const [ci, c] of all.entries()) {
      const cs = makeCase(2, 3, 5, { old: c.old, ref: c.ref, advPerToken: ci % 2 === 1, emptySeq: false });
      const got = policyLoss({ logits: cs.logits }, cs.batch, c.opts).grads.logits.toArray();
      // On-policy means old = lp detached: the perturbed losses keep old at the unperturbed lp.
      if (!c.old) cs.x.old = reference(cs.x, c.opts, false).lp.slice();
      const fd = new Float64Array(cs.x.logits.length);
      const h = 1e-5;
      for (let k = 0; k < fd.length; k++) {
        const z0 = cs.x.logits[k]!;
        cs.x.logits[k] = z0 + h;
        const lp = reference(cs.x, c.opts, false).loss;
        cs.x.logits[k] = z0 - h;
        const lm = reference(cs.x, c.opts, false).loss;
        cs.x.logits[k] = z0;
        fd[k] = (lp - lm) / (2 * h);
      }
      maxErr = Math.max(maxErr, expectClose(got, fd, 2e-6, 2e-3, `${c.name}: grads.logits vs finite differences`));
    }
    console.log(`finite differences: max |Δgrad| ${maxErr.toExponential(2)}`);
  });
});

// ---------------------------------------------------------------- fused-linear
function linearCase(N: number, T: number, d: number, V: number, old: boolean, ref: boolean) {
  const hf = Float32Array.from({ length: N * T * d }, () => uniform(-1, 1));
  const wf = Float32Array.from({ length: V * d }, () => uniform(-1, 1) / Math.sqrt(d) * 3);
  const hidden = Tensor.fromArray(hf, [N, T, d]);
  const weight = Tensor.fromArray(wf, [V, d]);
  // f64 logits of the f32 inputs, for the reference.
  const logits = new Float64Array(N * T * V);
  for (let r = 0; r < N * T; r++)
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += hf[r * d + k]! * wf[v * d + k]!;
      logits[r * V + v] = s;
    }
  const cs = makeCase(N, T, V, { old, ref, advPerToken: false });
  cs.x.logits = logits;
  cs.logits.dispose();
  cs.logits = Tensor.fromArray(Float32Array.from(logits), [N, T, V]);
  // old/ref relative to these logits.
  const lpNow = reference({ ...cs.x, mask: new Uint8Array(N * T).fill(1) }, { lossType: 'nll' }, false).lp;
  if (old) {
    const o = Float32Array.from(lpNow, (l) => l + uniform(-0.4, 0.4));
    cs.x.old = Float64Array.from(o);
    cs.batch.oldLogprobs = Tensor.fromArray(o, [N, T]);
  }
  if (ref) {
    const o = Float32Array.from(lpNow, (l) => l + uniform(-0.5, 0.5));
    cs.x.ref = Float64Array.from(o);
    cs.batch.refLogprobs = Tensor.fromArray(o, [N, T]);
  }
  return { ...cs, hidden, weight, hf, wf, d };
}

/** Reference grads of hidden and weight from the reference dL/dlogits (chain rule through the matmul). */
function linearRefGrads(gz: Float64Array, hf: Float32Array, wf: Float32Array, M: number, V: number, d: number) {
  const gh = new Float64Array(M * d);
  const gw = new Float64Array(V * d);
  for (let r = 0; r < M; r++)
    for (let v = 0; v < V; v++) {
      const g = gz[r * V + v]!;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) {
        gh[r * d + k]! += g * wf[v * d + k]!;
        gw[v * d + k]! += g * hf[r * d + k]!;
      }
    }
  return { gh, gw };
}

describe('policyLoss fused-linear', () => {
  const N = 3;
  const T = 7;
  const d = 24;
  const V = 53;
  const settings: Array<{ name: string; opts: PolicyLossOptions; old: boolean; ref: boolean }> = [
    { name: 'grpo on-policy', opts: {}, old: false, ref: false },
    { name: 'bnpo off-policy k3 β', opts: { lossType: 'bnpo', beta: 0.05, epsilonHigh: 0.28 }, old: true, ref: true },
    { name: 'sequence level dapo τ=0.8 entropy', opts: { lossType: 'dapo', importanceSamplingLevel: 'sequence', temperature: 0.8, entropyCoef: 0.03 }, old: true, ref: false },
    { name: 'nll', opts: { lossType: 'nll' }, old: false, ref: false },
    { name: 'dr_grpo delta k2', opts: { lossType: 'dr_grpo', delta: 1.25, beta: 0.1, klEstimator: 'k2' }, old: true, ref: true },
  ];
  // chunkSize × vocabChunkSize: dividing and not dividing the counted tokens and V.
  const chunks: Array<[number | undefined, number | undefined]> = [
    [undefined, undefined],
    [1, undefined],
    [4, undefined],
    [5, 53],
    [3, 10],
    [64, 17],
    [2, 1],
  ];
  for (const s of settings) {
    it(`${s.name}: fused-linear = logits path = reference, all chunkings (incl. grads.weight)`, () => {
      const cs = linearCase(N, T, d, V, s.old, s.ref);
      const want = reference(cs.x, s.opts);
      const { gh, gw } = linearRefGrads(want.grad, cs.hf, cs.wf, N * T, V, d);
      const viaLogits = policyLoss({ logits: cs.logits }, cs.batch, s.opts);
      expect(Math.abs(viaLogits.loss - want.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want.loss));
      let worstH = 0;
      let worstW = 0;
      for (const [c, vc] of chunks) {
        const o: PolicyLossOptions = { ...s.opts };
        if (c !== undefined) o.chunkSize = c;
        if (vc !== undefined) o.vocabChunkSize = vc;
        const got = policyLoss({ hidden: cs.hidden, weight: cs.weight }, cs.batch, o);
        const tag = `${s.name} chunk=${c ?? 'auto'} vchunk=${vc ?? 'V'}`;
        expect(Math.abs(got.loss - want.loss), `${tag}: loss ${got.loss} vs ${want.loss}`).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want.loss));
        expect(Math.abs(got.loss - viaLogits.loss), `${tag}: loss vs logits path`).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(want.loss));
        worstH = Math.max(worstH, expectClose(got.grads.hidden.toArray(), gh, 1e-6, 2e-4, `${tag}: grads.hidden`));
        worstW = Math.max(worstW, expectClose(got.grads.weight.toArray(), gw, 1e-6, 2e-4, `${tag}: grads.weight`));
        expect(got.grads.weight.dtype).toBe('f32');
        expectClose(got.logprobs.toArray(), viaLogits.logprobs.toArray(), 2e-6, 1e-5, `${tag}: logprobs vs logits path`);
        checkMetrics(got.metrics as unknown as Record<string, number>, want.metrics, tag);
      }
      console.log(`${s.name}: max |Δ grads.hidden| ${worstH.toExponential(2)}, max |Δ grads.weight| ${worstW.toExponential(2)}`);
      // The unfused baseline computes the same thing.
      const un = policyLossUnfused({ hidden: cs.hidden, weight: cs.weight }, cs.batch, s.opts);
      expect(Math.abs(un.loss - want.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want.loss));
      expectClose(un.grads.hidden.toArray(), gh, 1e-6, 2e-4, `${s.name}: unfused grads.hidden`);
      expectClose(un.grads.weight.toArray(), gw, 1e-6, 2e-4, `${s.name}: unfused grads.weight`);
    });
  }

  it('policyLossValue gives the same loss and metrics without gradients', () => {
    const cs = linearCase(N, T, d, V, true, true);
    const o: PolicyLossOptions = { beta: 0.04, chunkSize: 3 };
    const a = policyLoss({ hidden: cs.hidden, weight: cs.weight }, cs.batch, o);
    const b = policyLossValue({ hidden: cs.hidden, weight: cs.weight }, cs.batch, o);
    expect(b.loss).toBe(a.loss);
    expect(b.metrics).toEqual(a.metrics);
    expect('grads' in b).toBe(false);
  });
});

// ---------------------------------------------------------------- vocabulary sizes that exercise the SIMD main loops, bf16
describe('policyLoss larger vocabularies and bf16', () => {
  for (const V of [16, 1000, 4099]) {
    it(`V=${V}: logits path vs reference (f32)`, () => {
      const cs = makeCase(2, 3, V, { old: true, ref: true, advPerToken: true, scale: 6 });
      const o: PolicyLossOptions = { lossType: 'bnpo', beta: 0.02, entropyCoef: 0.01, temperature: 0.9 };
      const want = reference(cs.x, o);
      const got = policyLoss({ logits: cs.logits }, cs.batch, o);
      expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want.loss));
      const e = expectClose(got.grads.logits.toArray(), want.grad, 1e-8, 1e-4, `V=${V} grads.logits`);
      checkMetrics(got.metrics as unknown as Record<string, number>, want.metrics, `V=${V}`);
      console.log(`V=${V}: max |Δgrad| ${e.toExponential(2)}`);
    });
  }

  it('bf16 logits: same as f32 on the bf16-rounded values; grads in bf16', () => {
    const cs = makeCase(3, 4, 777, { old: true, ref: false, advPerToken: false, scale: 4 });
    const bf = cs.logits.cast('bf16');
    const rounded = bf.toArray();
    cs.x.logits = Float64Array.from(rounded);
    const o: PolicyLossOptions = { epsilonHigh: 0.3, entropyCoef: 0.02 };
    const want = reference(cs.x, o);
    const got = policyLoss({ logits: bf }, cs.batch, o);
    expect(got.grads.logits.dtype).toBe('bf16');
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(want.loss));
    // bf16 output: half an ulp of bf16 (2^-9 relative) on top of the f32 error.
    const e = expectClose(got.grads.logits.toArray(), want.grad, 1e-8, 5e-3, 'bf16 grads.logits');
    console.log(`bf16 logits: max |Δgrad| ${e.toExponential(2)}`);
  });

  it('bf16 hidden/weight fused-linear: matches the f32 path on the bf16-rounded inputs', () => {
    const cs = linearCase(2, 5, 40, 300, true, false);
    const hb = cs.hidden.cast('bf16');
    const wb = cs.weight.cast('bf16');
    const o: PolicyLossOptions = { chunkSize: 3 };
    const f32 = policyLoss({ hidden: hb.cast('f32'), weight: wb.cast('f32') }, cs.batch, o);
    const got = policyLoss({ hidden: hb, weight: wb }, cs.batch, o);
    expect(got.grads.hidden.dtype).toBe('bf16');
    expect(got.grads.weight.dtype).toBe('f32');
    expect(Math.abs(got.loss - f32.loss)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(f32.loss));
    expectClose(got.grads.weight.toArray(), f32.grads.weight.toArray(), 1e-7, 1e-4, 'bf16 grads.weight');
    expectClose(got.grads.hidden.toArray(), f32.grads.hidden.toArray(), 1e-6, 8e-3, 'bf16 grads.hidden');
  });
});

// ---------------------------------------------------------------- mask invariance
describe('mask invariance', () => {
  const garbage = [NaN, Infinity, -Infinity, 3e38, -3e38];
  it('garbage in logits/old/ref/advantages/tokens at masked positions changes nothing (exact equality)', () => {
    const N = 3;
    const T = 6;
    const V = 40;
    for (const lossType of ['grpo', 'bnpo', 'nll'] as PolicyLossType[]) {
      for (const lvl of IS_LEVELS) {
        const cs = makeCase(N, T, V, { old: true, ref: true, advPerToken: true });
        const o: PolicyLossOptions = { lossType, importanceSamplingLevel: lvl, entropyCoef: 0.01 };
        if (lossType !== 'nll') o.beta = 0.05;
        const clean = policyLoss({ logits: cs.logits }, cs.batch, o);
        const dirty = cs.logits.clone();
        const dl = dirty.data as Float32Array;
        const old = cs.batch.oldLogprobs!.clone();
        const ref = cs.batch.refLogprobs!.clone();
        const adv = cs.batch.advantages!.clone();
        const tok = cs.batch.tokens.clone();
        for (let f = 0; f < N * T; f++) {
          if (cs.x.mask[f]) continue;
          for (let v = 0; v < V; v++) dl[f * V + v] = garbage[(f + v) % garbage.length]!;
          (old.data as Float32Array)[f] = NaN;
          (ref.data as Float32Array)[f] = Infinity;
          (adv.data as Float32Array)[f] = NaN;
          (tok.data as Int32Array)[f] = f % 2 ? -100 : 1 << 30;
        }
        const b2: PolicyLossBatch = { ...cs.batch, oldLogprobs: old, refLogprobs: ref, advantages: adv, tokens: tok };
        const got = policyLoss({ logits: dirty }, b2, o);
        expect(got.loss).toBe(clean.loss);
        expect(got.metrics).toEqual(clean.metrics);
        expect(Array.from(got.grads.logits.toArray())).toEqual(Array.from(clean.grads.logits.toArray()));
        expect(Array.from(got.logprobs.toArray())).toEqual(Array.from(clean.logprobs.toArray()));
      }
    }
  });

  it('fused-linear: garbage hidden rows at masked positions change nothing (exact equality)', () => {
    const cs = linearCase(3, 5, 16, 70, true, true);
    const o: PolicyLossOptions = { beta: 0.05, chunkSize: 4, vocabChunkSize: 32 };
    const clean = policyLoss({ hidden: cs.hidden, weight: cs.weight }, cs.batch, o);
    const dirty = cs.hidden.clone();
    const dh = dirty.data as Float32Array;
    for (let f = 0; f < 15; f++) if (!cs.x.mask[f]) for (let k = 0; k < 16; k++) dh[f * 16 + k] = garbage[k % garbage.length]!;
    const got = policyLoss({ hidden: dirty, weight: cs.weight }, cs.batch, o);
    expect(got.loss).toBe(clean.loss);
    expect(Array.from(got.grads.hidden.toArray())).toEqual(Array.from(clean.grads.hidden.toArray()));
    expect(Array.from(got.grads.weight.toArray())).toEqual(Array.from(clean.grads.weight.toArray()));
  });

  it('mask as f32, u8 and i32 gives identical results; a zero mask gives loss 0 and zero grads', () => {
    const cs = makeCase(2, 5, 30, { old: false, ref: false, advPerToken: false });
    const m = Array.from(cs.x.mask);
    const r = ['f32', 'u8', 'i32'].map((dt) =>
      policyLoss({ logits: cs.logits }, { ...cs.batch, mask: Tensor.fromArray(dt === 'i32' ? Int32Array.from(m) : m, [2, 5], { dtype: dt as 'f32' | 'u8' | 'i32' }) }),
    );
    expect(r[1]!.loss).toBe(r[0]!.loss);
    expect(r[2]!.loss).toBe(r[0]!.loss);
    expect(Array.from(r[1]!.grads.logits.toArray())).toEqual(Array.from(r[0]!.grads.logits.toArray()));
    const zero = policyLoss({ logits: cs.logits }, { ...cs.batch, mask: Tensor.zeros([2, 5]) });
    expect(zero.loss).toBe(0);
    expect(zero.metrics.tokens).toBe(0);
    expect(zero.grads.logits.toArray().every((v) => v === 0)).toBe(true);
  });
});

// ---------------------------------------------------------------- tokenLogprobs
describe('tokenLogprobs', () => {
  it('logits and fused-linear paths match the reference lp and entropy, with and without mask', () => {
    const cs = linearCase(3, 6, 20, 90, false, false);
    const tau = 0.85;
    const ref = reference({ ...cs.x, mask: new Uint8Array(18).fill(1) }, { lossType: 'nll', temperature: tau }, false);
    const a = tokenLogprobs({ logits: cs.logits }, cs.batch.tokens, { temperature: tau, entropy: true });
    const b = tokenLogprobs({ hidden: cs.hidden, weight: cs.weight }, cs.batch.tokens, { temperature: tau, entropy: true, chunkSize: 5, vocabChunkSize: 31 });
    for (const [name, r] of [['logits', a], ['linear', b]] as const) {
      expectClose(r.logprobs.toArray(), ref.lp, 2e-6, 1e-5, `${name} logprobs`);
      expectClose(r.entropy!.toArray(), ref.H, 2e-6, 1e-5, `${name} entropy`);
    }
    const m = tokenLogprobs({ logits: cs.logits }, cs.batch.tokens, { mask: cs.batch.mask });
    expect(m.entropy).toBeUndefined();
    expectClose(m.logprobs.toArray(), maskedLp(reference({ ...cs.x, mask: new Uint8Array(18).fill(1) }, { lossType: 'nll' }, false).lp, cs.x.mask), 2e-6, 1e-5, 'masked logprobs');
  });

  it('a token of probability 0 gives -Infinity', () => {
    const logits = Tensor.fromArray([0, -Infinity, 1, 2], [1, 1, 4]);
    const r = tokenLogprobs({ logits }, Tensor.fromArray(new Int32Array([1]), [1, 1]));
    expect(r.logprobs.toArray()[0]).toBe(-Infinity);
  });
});

// ---------------------------------------------------------------- bad input
describe('bad input gives clear errors', () => {
  const cs = makeCase(2, 3, 8, { old: true, ref: true, advPerToken: false });
  const L = { logits: cs.logits };
  const b = cs.batch;
  const cases: Array<[string, () => unknown, RegExp, ErrorConstructor]> = [
    ['logits rank', () => policyLoss({ logits: Tensor.zeros([6, 8]) }, b), /policyLoss: logits must have shape \(N, T, V\)/, RangeError],
    ['tokens shape', () => policyLoss(L, { ...b, tokens: Tensor.zeros([2, 4], { dtype: 'i32' }) }), /policyLoss: tokens must have shape \(N, T\) = \(2, 3\), got \(2, 4\)/, RangeError],
    ['tokens dtype', () => policyLoss(L, { ...b, tokens: Tensor.zeros([2, 3]) }), /policyLoss: tokens must have dtype i32, got f32/, TypeError],
    ['token out of range', () => policyLoss(L, { ...b, tokens: Tensor.full([2, 3], 8, { dtype: 'i32' }) }), /policyLoss: tokens at \(0, 0\) is 8, outside \[0, V = 8\)/, RangeError],
    ['negative token', () => policyLoss(L, { ...b, tokens: Tensor.full([2, 3], -1, { dtype: 'i32' }) }), /outside \[0, V = 8\)/, RangeError],
    ['mask values', () => policyLoss(L, { ...b, mask: Tensor.full([2, 3], 0.5) }), /policyLoss: mask must hold 0 or 1, got 0.5/, RangeError],
    ['mask dtype', () => policyLoss(L, { ...b, mask: Tensor.full([2, 3], 1, { dtype: 'bf16' }) }), /mask must have dtype f32, u8 or i32/, TypeError],
    ['NaN advantages', () => policyLoss(L, { ...b, advantages: Tensor.fromArray([NaN, 1], [2]) }), /policyLoss: advantages must be finite where mask is 1; advantages\[0\] is nan/, RangeError],
    ['advantages shape', () => policyLoss(L, { ...b, advantages: Tensor.zeros([3]) }), /advantages must have shape \(N\) = \(2,\) or \(N, T\) = \(2, 3\), got \(3,\)/, RangeError],
    ['advantages missing', () => policyLoss(L, { tokens: b.tokens, mask: b.mask }), /advantages is missing/, TypeError],
    ['old shape', () => policyLoss(L, { ...b, oldLogprobs: Tensor.zeros([3, 2]) }), /oldLogprobs must have shape \(N, T\) = \(2, 3\), got \(3, 2\)/, RangeError],
    ['NaN old', () => policyLoss(L, { ...b, oldLogprobs: Tensor.full([2, 3], NaN) }), /oldLogprobs must be finite where mask is 1/, RangeError],
    ['beta without ref', () => policyLoss(L, { tokens: b.tokens, mask: b.mask, advantages: b.advantages! }, { beta: 0.1 }), /beta = 0.1 needs refLogprobs/, RangeError],
    ['nll with beta', () => policyLoss(L, b, { lossType: 'nll', beta: 0.1 }), /beta must be 0 for lossType 'nll'/, RangeError],
    ['bad lossType', () => policyLoss(L, b, { lossType: 'ppo' as PolicyLossType }), /lossType must be 'grpo', 'bnpo', 'dr_grpo', 'dapo' or 'nll'/, TypeError],
    ['bad klEstimator', () => policyLoss(L, b, { klEstimator: 'k4' as KlEstimator }), /klEstimator must be 'k1', 'k2' or 'k3'/, TypeError],
    ['temperature 0', () => policyLoss(L, b, { temperature: 0 }), /temperature must be a positive finite number/, RangeError],
    ['epsilon NaN', () => policyLoss(L, b, { epsilon: NaN }), /epsilon must not be NaN/, RangeError],
    ['chunkSize 0', () => policyLoss(L, b, { chunkSize: 0 }), /chunkSize must be a positive integer/, RangeError],
    ['unknown option', () => policyLoss(L, b, { epsilonLow: 0.1 } as PolicyLossOptions), /unknown option 'epsilonLow'/, TypeError],
    ['not a tensor', () => policyLoss({ logits: [1, 2] as unknown as Tensor }, b), /policyLoss: logits must be a Tensor/, TypeError],
    ['both inputs', () => policyLoss({ logits: cs.logits, hidden: cs.logits } as never, b), /either \{ logits \} or \{ hidden, weight \}/, TypeError],
    ['weight d mismatch', () => policyLoss({ hidden: Tensor.zeros([2, 3, 4]), weight: Tensor.zeros([8, 5]) }, b), /weight must have shape \(V, d = 4\)/, RangeError],
    ['dtype mismatch', () => policyLoss({ hidden: Tensor.zeros([2, 3, 4]), weight: Tensor.zeros([8, 4], { dtype: 'bf16' }) }, b), /hidden and weight must share one dtype/, TypeError],
    ['NaN logits at a counted row', () => policyLoss({ logits: Tensor.full([2, 3, 8], NaN) }, b), /non-finite log-probability/, RangeError],
    ['tokenLogprobs token range', () => tokenLogprobs(L, Tensor.full([2, 3], 99, { dtype: 'i32' })), /tokenLogprobs: tokens at \(0, 0\) is 99/, RangeError],
    ['tokenLogprobs option', () => tokenLogprobs(L, b.tokens, { beta: 1 } as never), /tokenLogprobs: unknown option 'beta'/, TypeError],
  ];
  for (const [name, fn, re, type] of cases) {
    it(name, () => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err, `${name} did not throw`).toBeInstanceOf(type);
      expect((err as Error).message).toMatch(re);
    });
  }
});

// ---------------------------------------------------------------- CUDA vs CPU
const cuda = cudaAvailable();
describe('CUDA vs CPU', () => {
  it.skipIf(!cuda.available)(`fused-linear and logits paths agree with the CPU (f32 and bf16)${cuda.available ? '' : ` — skipped: ${cuda.reason}`}`, () => {
    const cs = linearCase(3, 9, 64, 1000, true, true);
    const o: PolicyLossOptions = { beta: 0.04, entropyCoef: 0.01, chunkSize: 7, epsilonHigh: 0.28 };
    const cpu = policyLoss({ hidden: cs.hidden, weight: cs.weight }, cs.batch, o);
    const dev = 'cuda:0' as const;
    const gb: PolicyLossBatch = {
      tokens: cs.batch.tokens.to(dev),
      mask: cs.batch.mask.to(dev),
      advantages: cs.batch.advantages!.to(dev),
      oldLogprobs: cs.batch.oldLogprobs!.to(dev),
      refLogprobs: cs.batch.refLogprobs!.to(dev),
    };
    for (const vc of [undefined, 300]) {
      const g = policyLoss({ hidden: cs.hidden.to(dev), weight: cs.weight.to(dev) }, gb, { ...o, ...(vc ? { vocabChunkSize: vc } : {}) });
      expect(Math.abs(g.loss - cpu.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(cpu.loss));
      expectClose(g.grads.hidden.toArray(), cpu.grads.hidden.toArray(), 1e-6, 1e-3, 'cuda grads.hidden');
      expectClose(g.grads.weight.toArray(), cpu.grads.weight.toArray(), 1e-6, 1e-3, 'cuda grads.weight');
    }
    const gl = policyLoss({ logits: cs.logits.to(dev) }, gb, o);
    const cl = policyLoss({ logits: cs.logits }, cs.batch, o);
    expect(Math.abs(gl.loss - cl.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(cl.loss));
    expectClose(gl.grads.logits.toArray(), cl.grads.logits.toArray(), 1e-7, 1e-4, 'cuda grads.logits');
    const bl = policyLoss({ logits: cs.logits.cast('bf16').to(dev) }, gb, o);
    const cbl = policyLoss({ logits: cs.logits.cast('bf16') }, cs.batch, o);
    expect(Math.abs(bl.loss - cbl.loss)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(cbl.loss));
    const tl = tokenLogprobs({ hidden: cs.hidden.to(dev), weight: cs.weight.to(dev) }, gb.tokens, { entropy: true, mask: gb.mask });
    const tc = tokenLogprobs({ hidden: cs.hidden, weight: cs.weight }, cs.batch.tokens, { entropy: true, mask: cs.batch.mask });
    expectClose(tl.logprobs.toArray(), tc.logprobs.toArray(), 1e-5, 1e-5, 'cuda tokenLogprobs');
  });
});
