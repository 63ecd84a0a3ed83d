// Checkpoints of the JudgeModel: weights, optimizer state, config and tokenizer round-trip
// bit-exactly through a checkpoint folder, training resumed from a checkpoint equals uninterrupted
// training bit-for-bit, and wrong or incomplete checkpoints are rejected with clear errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../lib/data/types.js';
import { disposeBatch, type JudgeInput } from '../lib/model/batch.js';
import { trainBpe } from '../lib/model/bpe-train.js';
import { loadCheckpoint, saveCheckpoint } from '../lib/model/checkpoint.js';
import { configFor, makeConfig } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { AdamW } from '../lib/model/optimizer.js';
import { readSafetensors, writeSafetensors } from '../lib/model/safetensors.js';
import { saveCheckpointFolder } from '../lib/model/checkpoint-files.js';
import { memoryStats, Tensor } from '../lib/tensor.js';

const liveTensors = () => memoryStats().find((s) => s.device === 'cpu')!.liveTensors;

// See model-train.test.ts: OpenMP must not spin on this shared 2-core machine.
process.env.OMP_WAIT_POLICY ??= 'passive';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mtrl-ckpt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function image(seed: number): RgbImage {
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 57) % 251;
  return { width: 16, height: 16, data };
}

const tokenizer = trainBpe(['is the image natural? yes it is', 'which image is better? A or B', 'the cat sat on the mat'], { vocabSize: 300 });
const cfg = configFor(tokenizer, 'tiny', {
  imageSize: 16,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  dFF: 48,
  visionLayers: 1,
  visionDim: 16,
  visionHeads: 2,
  visionFF: 24,
  maxSeqLen: 64,
});

function data(): JudgeInput[] {
  const texts = ['is the image natural? yes', 'which image is better? A', 'the cat sat'];
  return texts.map((t, i) => ({ images: i === 1 ? [image(i), image(i + 10)] : [image(i)], tokens: tokenizer.encode(t) }));
}

function train(model: JudgeModel, opt: AdamW, steps: number): void {
  const b = model.batch(data());
  for (let s = 0; s < steps; s++) {
    model.zeroGrad();
    model.nllBackward(b);
    opt.step();
  }
  disposeBatch(b);
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function makeOpt(m: JudgeModel): AdamW {
  return new AdamW(m.parameters(), { lr: { kind: 'cosine', lr: 5e-3, warmupSteps: 2, totalSteps: 10 }, weightDecay: 0.05, maxGradNorm: 1 });
}

describe('checkpoints', () => {
  it('round-trip bit-exactly; resumed training equals uninterrupted training', () => {
    // Uninterrupted: 6 steps.
    const a = new JudgeModel(cfg, { seed: 9 });
    const optA = makeOpt(a);
    train(a, optA, 6);

    // Interrupted after 3 steps, saved, reloaded into fresh objects, 3 more steps.
    const b = new JudgeModel(cfg, { seed: 9 });
    const optB = makeOpt(b);
    train(b, optB, 3);
    const dir = path.join(tmp, 'ckpt');
    const manifest = saveCheckpoint(dir, { model: b, optimizer: optB, tokenizer, trainerState: { step: 3, note: 'resume me' } });
    expect(Object.keys(manifest.files).sort()).toEqual(
      ['config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'trainer_state.json'].sort(),
    );
    const loaded = loadCheckpoint(dir);
    expect(loaded.config).toEqual(cfg);
    expect(loaded.trainerState).toEqual({ step: 3, note: 'resume me' });
    expect(loaded.optimizerSteps).toBe(3);
    expect(loaded.tokenizer!.encode('the cat sat')).toEqual(tokenizer.encode('the cat sat'));
    b.parameters().forEach((p, i) =>
      expect(sameBits(p.value.toArray() as Float32Array, loaded.model.parameters()[i]!.value.toArray() as Float32Array), p.name).toBe(true),
    );
    const optC = loaded.optimizer();
    expect(optC.steps).toBe(3);
    for (const [name, t] of optB.stateTensors())
      expect(sameBits(t.toArray() as Float32Array, optC.stateTensors().get(name)!.toArray() as Float32Array), name).toBe(true);
    train(loaded.model, optC, 3);
    a.parameters().forEach((p, i) =>
      expect(sameBits(p.value.toArray() as Float32Array, loaded.model.parameters()[i]!.value.toArray() as Float32Array), `resumed ${p.name}`).toBe(
        true,
      ),
    );
    // An existing AdamW can be restored too.
    const optD = makeOpt(b);
    loaded.restoreOptimizer(optD);
    expect(optD.steps).toBe(3);
    for (const m of [a, b, loaded.model]) m.dispose();
    for (const o of [optA, optB, optC, optD]) o.dispose();
  });

  it('rejects checkpoints whose tensors or config do not match, listing every problem', () => {
    const m = new JudgeModel(cfg, { seed: 1 });
    const dir = path.join(tmp, 'good');
    saveCheckpoint(dir, { model: m });
    // A well-formed folder (valid manifest) whose weights are wrong: one tensor missing, one reshaped, one extra.
    const weights = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
    delete weights['norm.weight'];
    const e = weights['embed.weight']!;
    weights['embed.weight'] = { dtype: 'f32', shape: [e.shape[0]! - 1, e.shape[1]!], data: (e.data as Float32Array).slice(0, (e.shape[0]! - 1) * e.shape[1]!) };
    weights['junk'] = { dtype: 'f32', shape: [1], data: new Float32Array(1) };
    const bad = path.join(tmp, 'bad-weights');
    saveCheckpointFolder(bad, { 'model.safetensors': { tensors: weights }, 'config.json': cfg });
    let msg = '';
    try {
      loadCheckpoint(bad);
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/missing tensor 'norm.weight'/);
    expect(msg).toMatch(/tensor 'embed.weight' is f32 \[\d+, 32\], expected f32 \[\d+, 32\]/);
    expect(msg).toMatch(/unexpected tensor 'junk'/);
    // Invalid config.
    const badCfg = path.join(tmp, 'bad-config');
    saveCheckpointFolder(badCfg, { 'model.safetensors': { tensors: weights }, 'config.json': { ...cfg, nHeads: 3 } });
    expect(() => loadCheckpoint(badCfg)).toThrow(/config.dModel \(32\) must be a multiple of config.nHeads \(3\)/);
    // A file changed after saving: the manifest catches it.
    writeSafetensors(path.join(dir, 'model.safetensors'), weights);
    expect(() => loadCheckpoint(dir)).toThrow(/corrupt|manifest/);
    expect(() => loadCheckpoint(path.join(tmp, 'missing'))).toThrow();
    m.dispose();
  });

  it('a config.json that does not fit the weights or the tokenizer is refused before the model is allocated', () => {
    const m = new JudgeModel(cfg, { seed: 4 });
    const dir = path.join(tmp, 'hostile-config');
    saveCheckpoint(dir, { model: m, tokenizer });
    const files = (over: Record<string, unknown>) => ({
      'model.safetensors': { tensors: readSafetensors(path.join(dir, 'model.safetensors')).tensors },
      'config.json': { ...cfg, ...over },
      'tokenizer.json': tokenizer.toJSON(),
    });
    // Beyond the per-field bound: refused by validation.
    saveCheckpointFolder(path.join(tmp, 'layers-1e6'), files({ nLayers: 1e6 }));
    const t0 = performance.now();
    expect(() => loadCheckpoint(path.join(tmp, 'layers-1e6'))).toThrow(/config\.nLayers must be an integer in \[1, 1024\], got 1000000/);
    // Within the bounds but far more than the file holds: refused before allocating.
    saveCheckpointFolder(path.join(tmp, 'layers-1000'), files({ nLayers: 1000 }));
    expect(() => loadCheckpoint(path.join(tmp, 'layers-1000'))).toThrow(/describes a model of \d+ parameters but .*model\.safetensors holds only \d+ weights/);
    expect(performance.now() - t0).toBeLessThan(2000);
    // A config whose vocabulary is smaller than the tokenizer's.
    const small = { vocabSize: tokenizer.vocabSize - 10 };
    const w = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
    const e = w['embed.weight']!;
    w['embed.weight'] = { dtype: 'f32', shape: [small.vocabSize, e.shape[1]!], data: (e.data as Float32Array).slice(0, small.vocabSize * e.shape[1]!) };
    saveCheckpointFolder(path.join(tmp, 'small-vocab'), { 'model.safetensors': { tensors: w }, 'config.json': { ...cfg, ...small }, 'tokenizer.json': tokenizer.toJSON() });
    expect(() => loadCheckpoint(path.join(tmp, 'small-vocab'))).toThrow(new RegExp(`tokenizer\\.json has ${tokenizer.vocabSize} ids but config\\.json says vocabSize is ${small.vocabSize}`));
    m.dispose();
  });

  it('a failed allocation frees the parameters already allocated', () => {
    // A config that passes validation but whose last tensor cannot be created: the constructor throws
    // and everything allocated before is disposed (the live tensor count is back where it started).
    const before = liveTensors();
    const orig = Tensor.randn;
    let calls = 0;
    Tensor.randn = ((...args: Parameters<typeof Tensor.randn>) => {
      if (++calls === 6) throw new RangeError('simulated out of memory');
      return orig.apply(Tensor, args);
    }) as typeof Tensor.randn;
    try {
      expect(() => new JudgeModel(cfg, { seed: 5 })).toThrow('simulated out of memory');
    } finally {
      Tensor.randn = orig;
    }
    expect(liveTensors()).toBe(before);
  });

  it('a model config is validated on load and a mismatched optimizer is refused on save', () => {
    const m = new JudgeModel(makeConfig(cfg), { seed: 2 });
    const other = new JudgeModel(makeConfig(cfg), { seed: 3 });
    const opt = makeOpt(other);
    expect(() => saveCheckpoint(path.join(tmp, 'x'), { model: m, optimizer: opt })).toThrow(/not built over this model/);
    opt.dispose();
    m.dispose();
    other.dispose();
  });
});
