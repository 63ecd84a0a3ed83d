// Policy loss at a real vocabulary size (V = 151936, N·T = 2048) through the fused-linear path: the
// extra memory (native peak bytes and process peak RSS) stays O(chunk · V), far below the
// N·T·V logits it never materialises, and spot-checked rows match a float64 computation.
// Kept in its own file so the peak measurements start from a fresh process.
import { describe, expect, it } from 'vitest';
import { Tensor, memoryStats } from '../lib/index.js';
import { policyLoss } from '../lib/kernels/policy-loss.js';

const cpuStats = () => memoryStats().find((s) => s.device === 'cpu')!;

describe('policyLoss at V = 151936, N·T = 2048 (fused-linear)', () => {
  it('runs within bounded memory and matches float64 on sampled rows', () => {
    const N = 8;
    const T = 256;
    const d = 32;
    const V = 151936;
    const chunk = 128;
    const hidden = Tensor.randn([N, T, d], { seed: 11, std: 1 });
    const weight = Tensor.randn([V, d], { seed: 12, std: 0.3 });
    const tokens = Tensor.fromArray(Int32Array.from({ length: N * T }, (_, i) => (i * 7919 + 13) % V), [N, T]);
    const maskArr = Uint8Array.from({ length: N * T }, (_, i) => (i % T < 16 ? 0 : 1)); // a prompt of 16 per sequence
    const mask = Tensor.fromArray(maskArr, [N, T], { dtype: 'u8' });
    const advantages = Tensor.fromArray(Float32Array.from({ length: N }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + i / N)), [N]);
    const oldLogprobs = Tensor.full([N, T], -12);

    const live0 = cpuStats().liveBytes;
    const rss0 = process.memoryUsage().rss;
    const maxRss0 = process.resourceUsage().maxRSS * 1024;
    const r = policyLoss({ hidden, weight }, { tokens, mask, advantages, oldLogprobs }, { chunkSize: chunk, beta: 0 });
    const peak = cpuStats().peakBytes;
    const maxRss1 = process.resourceUsage().maxRSS * 1024;

    const outputs = r.grads.hidden.nbytes + r.grads.weight.nbytes + r.logprobs.nbytes;
    const bound = 4 * chunk * V * 4 + outputs;
    const nativeExtra = peak - live0; // upper bound on this call's peak extra bytes
    const rssGrowth = maxRss1 - Math.max(rss0, Math.min(maxRss0, rss0)); // peak RSS reached during the call, over the RSS before it
    const full = N * T * V * 4;
    console.log(
      `V=${V}, N·T=${N * T}, d=${d}, chunk=${chunk}: native peak extra ${(nativeExtra / 2 ** 20).toFixed(1)} MiB, ` +
        `peak RSS growth ${(rssGrowth / 2 ** 20).toFixed(1)} MiB, bound ${(bound / 2 ** 20).toFixed(1)} MiB, full logits would be ${(full / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(nativeExtra).toBeLessThan(bound);
    expect(rssGrowth).toBeLessThan(bound + 64 * 2 ** 20); // + thread stacks, packing buffers, allocator slack
    expect(nativeExtra).toBeLessThan(full / 10);

    expect(r.metrics.tokens).toBe(N * (T - 16));
    expect(Number.isFinite(r.loss)).toBe(true);
    // float64 lp of a few counted rows, straight from the definition.
    const h = hidden.toArray();
    const w = weight.toArray();
    const tk = tokens.toArray();
    const lp = r.logprobs.toArray();
    let maxErr = 0;
    for (const f of [16, 300, 1000, 2047]) {
      let m = -Infinity;
      const z = new Float64Array(V);
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += h[f * d + k]! * w[v * d + k]!;
        z[v] = s;
        m = Math.max(m, s);
      }
      let se = 0;
      for (let v = 0; v < V; v++) se += Math.exp(z[v]! - m);
      const want = z[tk[f]!]! - m - Math.log(se);
      maxErr = Math.max(maxErr, Math.abs(lp[f]! - want));
    }
    console.log(`sampled rows: max |Δlp| ${maxErr.toExponential(2)}`);
    expect(maxErr).toBeLessThan(1e-4);
  });
});
