// Whole-model correctness of the JudgeModel against the float64 reference in model-reference.ts:
// hidden states and token-NLL loss match, and every parameter tensor's gradient (a few entries each,
// the largest among them) matches central finite differences of the float64 loss. Run on small
// configs that still exercise padding, two images per row, GQA, the vision encoder and an untied head.
import { describe, expect, it } from 'vitest';
import { makeConfig, type JudgeModelConfig } from '../lib/model/config.js';
import { disposeBatch, type JudgeInput, type ModelBatch } from '../lib/model/batch.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { referenceHidden, referenceNll, type RefBatch, type RefParams } from './model-reference.js';
import type { RgbImage } from '../lib/data/types.js';
import { cudaAvailable } from '../lib/device.js';
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

function refBatch(b: ModelBatch): RefBatch {
  return {
    B: b.batchSize,
    T: b.seqLen,
    ids: b.ids.toArray() as Int32Array,
    lengths: b.seqLengthsHost,
    pixels: b.pixels.toArray() as Uint8Array,
    nImages: b.pixels.shape[0]!,
    imagePositions: b.imagePositions.toArray() as Int32Array,
    patchIndex: b.patchIndex.toArray() as Int32Array,
    slotIndex: b.slotIndex.toArray() as Int32Array,
    targets: b.targets.toArray() as Int32Array,
    mask: b.lossMaskHost,
  };
}

function refParams(m: JudgeModel): RefParams {
  return new Map(m.parameters().map((p) => [p.name, Float64Array.from(p.value.toArray())]));
}

function inputs(c: JudgeModelConfig, seed: number): JudgeInput[] {
  const r = rng(seed);
  const tok = (n: number) => Array.from({ length: n }, () => Math.floor(r() * c.vocabSize));
  return [
    { images: [randomImage(c.imageSize, r)], tokens: tok(6), lossMask: [0, 0, 1, 1, 1, 1] },
    { images: [randomImage(c.imageSize, r), randomImage(c.imageSize * 2, r)], tokens: tok(3) },
    { images: [randomImage(c.imageSize, r)], tokens: tok(2) },
  ];
}

const base = {
  imageSize: 8,
  patchSize: 4,
  channels: 3,
  maxImages: 2,
  dModel: 16,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  dFF: 24,
  vocabSize: 37,
  maxSeqLen: 32,
  imageTokenId: 5,
  ropeBase: 100,
  normEps: 1e-5,
  // Larger than the default 0.02 so every path carries signal the finite differences can see.
  initStd: 0.3,
  visionDim: 8,
  visionHeads: 2,
  visionFF: 12,
};

const cases: Array<[string, Partial<JudgeModelConfig>]> = [
  ['Fuyu-style (no vision layers), tied head', { ...base, visionLayers: 0, tieEmbeddings: true }],
  ['1 vision layer, untied head', { ...base, visionLayers: 1, tieEmbeddings: false }],
  ['overlapping 6×6 patch windows over 4×4 patches', { ...base, visionLayers: 0, tieEmbeddings: true, patchWindow: 6 }],
];

describe.each(cases)('JudgeModel vs float64 reference: %s', (_name, cfg) => {
  const c = makeConfig(cfg);

  it('hidden states and NLL match the reference; every parameter grad matches finite differences', () => {
    const model = new JudgeModel(c, { seed: 7 });
    const batch = model.batch(inputs(c, 11));
    const rb = refBatch(batch);
    const rp = refParams(model);

    // Forward: hidden states at valid positions.
    const h = model.forward(batch).toArray();
    const hr = referenceHidden(c, rp, rb);
    let maxErr = 0;
    for (let b = 0; b < rb.B; b++)
      for (let t = 0; t < rb.lengths[b]!; t++)
        for (let i = 0; i < c.dModel; i++) {
          const k = (b * rb.T + t) * c.dModel + i;
          maxErr = Math.max(maxErr, Math.abs(h[k]! - hr[k]!) / (1e-3 + Math.abs(hr[k]!)));
        }
    expect(maxErr, `hidden max rel err ${maxErr.toExponential(2)}`).toBeLessThan(1e-3);

    // Loss and grads.
    model.zeroGrad();
    const { loss } = model.nllBackward(batch);
    const lossRef = referenceNll(c, rp, rb);
    expect(Math.abs(loss - lossRef), `loss ${loss} vs ref ${lossRef}`).toBeLessThan(1e-5 + 1e-5 * Math.abs(lossRef));

    const r = rng(99);
    const eps = 1e-5;
    let worst = { err: 0, name: '', idx: -1, g: 0, fd: 0 };
    let checked = 0;
    for (const p of model.parameters()) {
      const g = p.grad.toArray();
      const theta = rp.get(p.name)!;
      // The entry with the largest |grad| plus two random entries.
      let imax = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[imax]!)) imax = i;
      const gscale = Math.abs(g[imax]!);
      const picks = [imax, Math.floor(r() * g.length), Math.floor(r() * g.length)];
      for (const i of picks) {
        const old = theta[i]!;
        theta[i] = old + eps;
        const lp = referenceNll(c, rp, rb);
        theta[i] = old - eps;
        const lm = referenceNll(c, rp, rb);
        theta[i] = old;
        const fd = (lp - lm) / (2 * eps);
        // f32 gradients: relative 2e-3 of the entry, plus 1e-4 of the tensor's largest gradient.
        const err = Math.abs(g[i]! - fd) / (1e-4 * gscale + 2e-3 * Math.abs(fd) + 1e-7);
        checked++;
        if (err > worst.err) worst = { err, name: p.name, idx: i, g: g[i]!, fd };
      }
    }
    expect(
      worst.err,
      `${checked} grad entries; worst ${worst.name}[${worst.idx}]: model ${worst.g} vs finite difference ${worst.fd} (error/tolerance ${worst.err.toFixed(3)})`,
    ).toBeLessThan(1);
    console.log(
      `[${_name}] hidden max rel err ${maxErr.toExponential(2)}; loss ${loss.toFixed(6)} vs ref ${lossRef.toFixed(6)}; ` +
        `${checked} grad entries, worst ${worst.name}[${worst.idx}] ${worst.g.toExponential(4)} vs fd ${worst.fd.toExponential(4)} (error/tolerance ${worst.err.toFixed(3)})`,
    );
    // Every parameter must receive gradient (no disconnected path).
    for (const p of model.parameters()) {
      const g = p.grad.toArray();
      expect(g.some((x) => x !== 0), `${p.name} got no gradient`).toBe(true);
    }
    disposeBatch(batch);
    model.dispose();
  });
});

describe('JudgeModel training-mode contract', () => {
  it('backward without forward, wrong dHidden shape and disposed use are clear errors', () => {
    const c = makeConfig({ ...base, visionLayers: 0, tieEmbeddings: true });
    const model = new JudgeModel(c, { seed: 1 });
    const batch = model.batch(inputs(c, 3));
    const h = model.forward(batch, { train: true });
    expect(() => model.backward(h.reshape([-1]).reshape([h.numel / 2, 2]))).toThrow(/dHidden must be/);
    model.clearActivations();
    expect(() => model.backward(h)).toThrow(/no saved activations/);
    expect(() => model.forward({} as ModelBatch)).toThrow(TypeError);
    h.dispose();
    disposeBatch(batch);
    model.dispose();
    expect(() => model.parameters()).toThrow(/disposed/);
  });
});

// The same model on CUDA: identical weights (Philox init is device-independent), hidden states, loss,
// gradients and KV-cache generation must match the CPU run. Skipped without a usable GPU.
const cuda = cudaAvailable();
describe(`JudgeModel on CUDA vs CPU${cuda.available ? '' : ` (skipped: ${cuda.reason})`}`, () => {
  it.skipIf(!cuda.available)('weights, hidden states, loss, grads and greedy generation match', () => {
    const c = makeConfig({ ...base, visionLayers: 1, tieEmbeddings: false, initStd: 0.1 });
    const cpu = new JudgeModel(c, { seed: 4 });
    const gpu = new JudgeModel(c, { seed: 4, device: 'cuda:0' });
    cpu.parameters().forEach((p, i) => expect(Array.from(gpu.parameters()[i]!.value.toArray())).toEqual(Array.from(p.value.toArray())));
    const ins = inputs(c, 21);
    const bc = cpu.batch(ins);
    const bg = gpu.batch(ins);
    const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let m = 0;
      let s = 0;
      for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(b[i]!));
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1e-6 + s));
      return m;
    };
    const hc = cpu.forward(bc).toArray();
    const hg = gpu.forward(bg).toArray();
    // Padding rows hold unspecified values: compare valid positions only.
    const valid = (h: Float32Array) =>
      Array.from({ length: bc.batchSize }, (_, b) => Array.from(h.subarray(b * bc.seqLen * c.dModel, (b * bc.seqLen + bc.seqLengthsHost[b]!) * c.dModel))).flat();
    expect(maxRel(valid(hg as Float32Array), valid(hc as Float32Array))).toBeLessThan(1e-4);
    const lc = cpu.nllBackward(bc).loss;
    const lg = gpu.nllBackward(bg).loss;
    expect(Math.abs(lc - lg)).toBeLessThan(1e-4 * Math.abs(lc));
    cpu.parameters().forEach((p, i) => {
      const e = maxRel(gpu.parameters()[i]!.grad.toArray(), p.grad.toArray());
      expect(e, `${p.name} grad rel err ${e}`).toBeLessThan(1e-3);
    });
    const gopt = { numGenerations: 2, maxNewTokens: 6, temperature: 0 };
    const oc = cpu.generate(ins, gopt);
    const og = gpu.generate(ins, gopt);
    expect(Array.from(og.tokens)).toEqual(Array.from(oc.tokens));
    disposeBatch(bc);
    disposeBatch(bg);
    cpu.dispose();
    gpu.dispose();
  });
});
