// Generation: KV-cache decode must give the logits a full recomputation of the sequence gives, the
// sampled tokens' raw logprobs must equal what model.logprobs computes for the completed sequences
// (GRPO's old logprobs), rows stop at EOS, and the G completions of a prompt share its prefill.
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../lib/data/types.js';
import { disposeBatch, textValues, type JudgeInput } from '../lib/model/batch.js';
import { makeConfig } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { mulberry32 as rng } from '../lib/rng.js';

// This 2-core machine is shared: OpenMP's default active spin-waiting makes every parallel region
// crawl when other processes hold the cores (measured: 1.5 s vs 30 ms per tiny-model forward).
// Passive waiting must be chosen before the addon (and its OpenMP runtime) loads on first use.
process.env.OMP_WAIT_POLICY ??= 'passive';


function randomImage(size: number, r: () => number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: size, height: size, data };
}

// Small but real: 16-token images, GQA, 2 layers; initStd large enough for peaked distributions.
const cfg = makeConfig('tiny', {
  imageSize: 16,
  patchSize: 4,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  dFF: 96,
  vocabSize: 97,
  maxSeqLen: 96,
  imageTokenId: 3,
  initStd: 0.1,
});

function prompts(r: () => number): JudgeInput[] {
  const tok = (n: number) => Array.from({ length: n }, () => 4 + Math.floor(r() * (cfg.vocabSize - 4)));
  return [
    { images: [randomImage(16, r)], tokens: tok(7) },
    { images: [randomImage(16, r), randomImage(16, r)], tokens: tok(3) },
    { images: [randomImage(16, r)], tokens: tok(12) },
  ];
}

describe('JudgeModel.generate', () => {
  it('KV-cache decode logits equal full recomputation at every step; raw logprobs equal model.logprobs', () => {
    const model = new JudgeModel(cfg, { seed: 3 });
    const ps = prompts(rng(5));
    const G = 2;
    const maxNew = 10;
    const stepLogits: Float32Array[] = [];
    const out = model.generate(ps, {
      numGenerations: G,
      maxNewTokens: maxNew,
      temperature: 1,
      seed: 17,
      onStep: (_s, logits) => stepLogits.push(logits.toArray() as Float32Array),
    });
    expect(out.rows).toBe(ps.length * G);
    const V = cfg.vocabSize;
    // Recompute each step's logits from scratch: prompt + the tokens generated before that step.
    let maxDiff = 0;
    let maxRef = 0;
    for (let s = 0; s < stepLogits.length; s++) {
      const inputs = Array.from({ length: out.rows }, (_, n) => {
        const p = ps[Math.floor(n / G)]!;
        return { images: p.images, tokens: [...Array.from(p.tokens), ...out.completion(n).slice(0, s)] };
      });
      const b = model.batch(inputs);
      const z = model.logits(b).toArray();
      for (let n = 0; n < out.rows; n++) {
        const last = b.seqLengthsHost[n]! - 1;
        for (let v = 0; v < V; v++) {
          const ref = z[(n * b.seqLen + last) * V + v]!;
          maxDiff = Math.max(maxDiff, Math.abs(stepLogits[s]![n * V + v]! - ref));
          maxRef = Math.max(maxRef, Math.abs(ref));
        }
      }
      disposeBatch(b);
    }
    expect(stepLogits.length).toBe(maxNew);
    expect(maxDiff, `max |decode − recompute| = ${maxDiff.toExponential(2)} (logits up to ${maxRef.toFixed(2)})`).toBeLessThan(1e-4 * Math.max(1, maxRef));

    // Old-logprob consistency: the generation's raw logprobs vs the training path on the whole sequence.
    const full = Array.from({ length: out.rows }, (_, n) => {
      const p = ps[Math.floor(n / G)]!;
      const c = out.completion(n);
      return {
        images: p.images,
        tokens: [...Array.from(p.tokens), ...c],
        lossMask: [...new Array(p.tokens.length).fill(0), ...new Array(c.length).fill(1)],
      };
    });
    const b = model.batch(full);
    const lp = model.logprobs(b);
    const rows = textValues(b, lp.toArray());
    let lpDiff = 0;
    for (let n = 0; n < out.rows; n++) {
      const plen = ps[Math.floor(n / G)]!.tokens.length;
      for (let j = 0; j < out.lengths[n]!; j++) {
        lpDiff = Math.max(lpDiff, Math.abs(rows[n]![plen + j]! - out.rawLogprobs[n * maxNew + j]!));
        // temperature 1, no truncation: processed = raw
        expect(out.logprobs[n * maxNew + j]).toBeCloseTo(out.rawLogprobs[n * maxNew + j]!, 4);
      }
    }
    expect(lpDiff, `max |generation rawLogprob − model.logprobs| = ${lpDiff.toExponential(2)}`).toBeLessThan(1e-4);
    console.log(`decode vs recompute: max logit diff ${maxDiff.toExponential(2)}; generation vs training logprobs: ${lpDiff.toExponential(2)}`);
    lp.dispose();
    disposeBatch(b);
    model.dispose();
  });

  it('stops rows at EOS, pads with −1, and is reproducible by seed', () => {
    const model = new JudgeModel(cfg, { seed: 4 });
    const ps = prompts(rng(8));
    // Pick as EOS a token greedy decoding of row 0 produces first at step s > 0, so row 0 stops early.
    const greedy = model.generate(ps, { maxNewTokens: 6, temperature: 0 });
    const g0 = greedy.completion(0);
    let s = g0.length - 1;
    while (s > 0 && g0.indexOf(g0[s]!) !== s) s--;
    const eos = g0[s]!;
    const opts = { numGenerations: 4, maxNewTokens: 12, eosId: eos, temperature: 1.5, seed: 99 };
    const a = model.generate(ps, opts);
    const b2 = model.generate(ps, opts);
    expect(Array.from(a.tokens)).toEqual(Array.from(b2.tokens));
    const c = model.generate(ps, { ...opts, seed: 100 });
    expect(Array.from(a.tokens)).not.toEqual(Array.from(c.tokens));
    let stopped = 0;
    for (let n = 0; n < a.rows; n++) {
      const L = a.lengths[n]!;
      const comp = a.completion(n);
      expect(comp.length).toBe(L);
      const eosAt = comp.indexOf(eos);
      if (a.finishedByEos[n]) {
        expect(eosAt).toBe(L - 1);
        stopped += L < opts.maxNewTokens ? 1 : 0;
      } else {
        expect(eosAt).toBe(-1);
        expect(L).toBe(opts.maxNewTokens);
      }
      for (let j = L; j < opts.maxNewTokens; j++) {
        expect(a.tokens[n * opts.maxNewTokens + j]).toBe(-1);
        expect(Number.isNaN(a.logprobs[n * opts.maxNewTokens + j]!)).toBe(true);
      }
    }
    // Greedy row 0 reproduces g0 and ends at step s with the EOS.
    const g2 = model.generate(ps, { numGenerations: 3, maxNewTokens: 12, eosId: eos, temperature: 0 });
    expect(g2.completion(0)).toEqual(g0.slice(0, s + 1));
    expect(g2.finishedByEos[0]).toBe(1);
    // G greedy copies of one prompt are identical (shared prefill, same cache).
    for (let p = 0; p < ps.length; p++)
      for (let g = 1; g < 3; g++) expect(g2.completion(p * 3 + g)).toEqual(g2.completion(p * 3));
    expect(stopped + g2.lengths.filter((l) => l < 12).length).toBeGreaterThan(0);
    model.dispose();
  });

  it('rejects bad options clearly', () => {
    const model = new JudgeModel(cfg, { seed: 1 });
    const ps = prompts(rng(1));
    expect(() => model.generate(ps, { maxNewTokens: 0 })).toThrow(/maxNewTokens must be an integer ≥ 1/);
    expect(() => model.generate(ps, { maxNewTokens: 4, numGenerations: 0 })).toThrow(/numGenerations/);
    expect(() => model.generate(ps, { maxNewTokens: 4, eosId: 1000 })).toThrow(/eosId 1000/);
    expect(() => model.generate(ps, { maxNewTokens: 90 })).toThrow(/maxSeqLen/);
    model.dispose();
  });
});
