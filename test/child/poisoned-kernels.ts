// Child process of test/alloc-poison.test.ts, run with MTRL_POISON_ALLOC=1: every fresh CPU buffer
// starts as NaN bytes, so an output that a kernel leaves partly unwritten (or reads before writing)
// shows up as a NaN or a mismatch. Prints one JSON line: { case: max abs difference } per case.
import { Tensor } from '../../lib/index.js';
import { matmul } from '../../lib/kernels/gemm.js';
import { policyLoss, type PolicyLossOptions } from '../../lib/kernels/policy-loss.js';

const N = 3, T = 40, d = 24, V = 700;
const hidden = Tensor.randn([N, T, d], { seed: 5, std: 1 });
const weight = Tensor.randn([V, d], { seed: 6, std: 0.4 });
const tokens = Tensor.fromArray(Int32Array.from({ length: N * T }, (_, i) => (i * 31 + 7) % V), [N, T]);
const mask = Tensor.fromArray(Uint8Array.from({ length: N * T }, (_, i) => (i % T < 5 ? 0 : 1)), [N, T], { dtype: 'u8' });
const advantages = Tensor.fromArray(Float32Array.from([1, -0.5, 0.25]), [N]);
const oldLogprobs = Tensor.full([N, T], -6.5);
const batch = { tokens, mask, advantages, oldLogprobs };

const maxDiff = (a: Float32Array, b: Float32Array) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Number.isFinite(a[i]!) && Number.isFinite(b[i]!) ? Math.abs(a[i]! - b[i]!) : Infinity);
  return m;
};

// Reference: the logits path (logits materialised, then dH = G·W and dW = Gᵀ·H).
function reference(opts: PolicyLossOptions) {
  const h2 = hidden.reshape([N * T, d]);
  const logits = matmul(h2, weight, { transB: true });
  const r = policyLoss({ logits: logits.reshape([N, T, V]) }, batch, opts);
  const g = r.grads.logits.reshape([N * T, V]);
  return { dh: matmul(g, weight).toArray() as Float32Array, dw: matmul(g, h2, { transA: true }).toArray() as Float32Array };
}

const out: Record<string, number> = {};
const cases: Record<string, PolicyLossOptions> = {
  'one chunk': {},
  'chunks of 16 rows': { chunkSize: 16 },
  'chunks of 16 rows × 128 vocabulary columns (recompute)': { chunkSize: 16, vocabChunkSize: 128 },
  'sequence-level ratio over chunks (global pass)': { chunkSize: 16, importanceSamplingLevel: 'sequence' },
};
for (const [name, opts] of Object.entries(cases)) {
  const ref = reference(opts);
  const r = policyLoss({ hidden, weight }, batch, opts);
  out[`${name}: dW`] = maxDiff(r.grads.weight.toArray() as Float32Array, ref.dw);
  out[`${name}: dH`] = maxDiff(r.grads.hidden.toArray() as Float32Array, ref.dh);
}
// GEMM with beta = 0 into a poisoned output must not read it.
const A = Tensor.randn([37, 29], { seed: 8 }), B = Tensor.randn([29, 41], { seed: 9 });
const C = Tensor.empty([37, 41]);
matmul(A, B, { out: C });
out['matmul into a fresh output'] = maxDiff(C.toArray() as Float32Array, matmul(A, B).toArray() as Float32Array);
// The poison itself is on: a fresh tensor reads as NaN.
out['fresh tensor is NaN'] = Number.isNaN((Tensor.empty([4]).toArray() as Float32Array)[0]!) ? 0 : Infinity;
console.log(JSON.stringify(out));
