// The judging API for applications: Judge.load runs the model on a worker thread; many simultaneous
// evaluate() calls return exactly what sequential judging returns, and bad requests are clear errors.
import { cpSync, mkdtempSync, renameSync } from 'node:fs';
import zlib from 'node:zlib';
import sharp from 'sharp';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateExamples } from '../lib/data/suite.js';
import type { JudgeExample } from '../lib/data/types.js';
import { JudgeEngine } from '../lib/judge/engine.js';
import { Judge } from '../lib/judge/judge.js';
import { trainBpe } from '../lib/model/bpe-train.js';
import { saveCheckpoint } from '../lib/model/checkpoint.js';
import { makeConfig, TINY_CONFIG } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { TaskRegistry } from '../lib/tasks/registry.js';

const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'mtrl-judge-api-')), 'judge');
let examples: JudgeExample[] = [];
let judge: Judge;

beforeAll(async () => {
  const registry = new TaskRegistry();
  examples = [
    ...generateExamples('safety', 'test', { seed: 5, sizes: 'small', corpus: false }, 6),
    ...generateExamples('alignment', 'test', { seed: 5, sizes: 'small', corpus: false }, 6),
    ...generateExamples('pair-safety', 'test', { seed: 5, sizes: 'small', corpus: false }, 4),
  ];
  const texts = examples.map((e) => registry.get(e.task).buildPrompt(e));
  texts.push('<think>a red circle</think><answer>yes</answer>', 'no', 'safe unsafe A B');
  const tokenizer = trainBpe(texts, { vocabSize: 300 });
  const config = makeConfig(
    { ...TINY_CONFIG, visionDim: undefined, visionHeads: undefined, visionFF: undefined, dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, dFF: 64, maxSeqLen: 400 },
    { vocabSize: tokenizer.vocabSize, imageTokenId: tokenizer.imageId },
  );
  const model = new JudgeModel(config, { seed: 11 });
  saveCheckpoint(dir, { model, tokenizer });
  model.dispose();
  judge = await Judge.load(dir, { maxNewTokens: 8, maxBatch: 5 });
});

afterAll(async () => {
  await judge?.close();
});

/** A PNG whose IHDR declares width × height pixels (with one tiny IDAT): enough for a header check. */
function pngDeclaring(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]));
}

describe('Judge API', () => {
  it('concurrent evaluate() calls equal sequential judging', async () => {
    const reqs = examples.map((e) => ({ task: e.task, images: e.images, ...(e.prompt ? { prompt: e.prompt } : {}) }));
    const concurrent = await Promise.all(reqs.map((r) => judge.evaluate(r)));
    const engine = JudgeEngine.load(dir, { maxNewTokens: 8 });
    const sequential = reqs.map((r) => engine.run([r])[0]!);
    engine.dispose();
    expect(concurrent.map((r) => r.raw)).toEqual(sequential.map((r) => r.raw));
    expect(concurrent.map((r) => r.verdict)).toEqual(sequential.map((r) => r.verdict));
    for (const r of concurrent) {
      expect(r.logprobs.length).toBeGreaterThan(0);
      expect(r.logprobs.every((x) => Number.isFinite(x) && x <= 0)).toBe(true);
    }
  });

  it('the event loop stays responsive while judging', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await judge.evaluateBatch(examples.slice(0, 6).map((e) => ({ task: e.task, images: e.images, ...(e.prompt ? { prompt: e.prompt } : {}) })));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('bad requests are clear errors', async () => {
    const img = examples[0]!.images[0]!;
    await expect(judge.evaluate({ task: 'nope', images: [img] })).rejects.toThrow(/task must be one of/);
    await expect(judge.evaluate({ task: 'pair-safety', images: [img] })).rejects.toThrow(/needs 2 image/);
    await expect(judge.evaluate({ task: 'safety', images: ['/does/not/exist.png'] })).rejects.toThrow(/images\[0\] could not be decoded/);
    await expect(judge.evaluate({ task: 'safety' } as never)).rejects.toThrow(/request must be/);
  });

  it('one over-long prompt in a batch of 16 fails alone: the 15 valid requests resolve', async () => {
    const j = await Judge.load(dir, { maxNewTokens: 8, maxBatch: 16 });
    try {
      const ok = examples.filter((e) => e.task === 'alignment');
      const reqs = Array.from({ length: 16 }, (_, i) => {
        const e = ok[i % ok.length]!;
        return { task: e.task, images: e.images, prompt: i === 7 ? 'a red circle on a blue square '.repeat(40) : e.prompt! };
      });
      const settled = await Promise.allSettled(reqs.map((r) => j.evaluate(r)));
      expect(settled.filter((s) => s.status === 'fulfilled').length).toBe(15);
      expect(settled[7]!.status).toBe('rejected');
      expect(String((settled[7] as PromiseRejectedResult).reason)).toMatch(/prompt is too long for this model: \d+ text tokens \+ 64 image tokens \+ maxNewTokens 8 = \d+ positions, config\.maxSeqLen is 400/);
      // A hopelessly long prompt is refused before it is even tokenized.
      await expect(j.evaluate({ ...reqs[0]!, prompt: 'x'.repeat(1e6) })).rejects.toThrow(/prompt is too long for this model \(\d+ characters/);
    } finally {
      await j.close();
    }
  });

  it('evaluate() issued just before close() rejects with a clear error instead of never settling', async () => {
    const j = await Judge.load(dir, { maxNewTokens: 8 });
    const png = await sharp(Buffer.from(examples[0]!.images[0]!.data), { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer();
    const p = j.evaluate({ task: 'safety', images: [png] }); // still decoding when close() runs
    const closing = j.close();
    await expect(p).rejects.toThrow(/Judge\.evaluate: the judge was closed/);
    await closing;
    await expect(j.evaluate({ task: 'safety', images: [png] })).rejects.toThrow(/the judge was closed/);
  }, 20_000);

  it('image files over maxInputPixels are refused from their header; big ones are decoded at the model size', async () => {
    // A PNG whose header declares 16000 × 16000 pixels (a decompression bomb) is refused before decoding.
    const bomb = pngDeclaring(16000, 16000);
    const t0 = performance.now();
    await expect(judge.evaluate({ task: 'safety', images: [bomb] })).rejects.toThrow(/images\[0\] could not be decoded: .*pixel limit/i);
    expect(performance.now() - t0).toBeLessThan(2000);
    // The bound is an option: a 600 × 400 photo passes the default and comes out at 32 × 32 ...
    const photo = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#884422' } }).png().toBuffer();
    const { decodeImage } = await import('../lib/data/images.js');
    const small = await decodeImage(photo, { width: 32, height: 32 });
    expect([small.width, small.height, small.data.length]).toEqual([32, 32, 32 * 32 * 3]);
    expect(Array.from(small.data.subarray(0, 3))).toEqual([0x88, 0x44, 0x22]);
    await expect(judge.evaluate({ task: 'safety', images: [photo] })).resolves.toHaveProperty('raw');
    // ... and is refused by a judge loaded with maxInputPixels below its 240,000 pixels.
    const strict = await Judge.load(dir, { maxNewTokens: 4, maxInputPixels: 200_000 });
    try {
      await expect(strict.evaluate({ task: 'safety', images: [photo] })).rejects.toThrow(/pixel limit/i);
    } finally {
      await strict.close();
    }
    await expect(Judge.load(dir, { maxInputPixels: 0 })).rejects.toThrow(/maxInputPixels must be a positive integer/);
  });

  it('load recovers a checkpoint whose save was interrupted between its renames, like loadCheckpoint', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'mtrl-judge-recover-'));
    const moved = path.join(parent, 'judge');
    cpSync(dir, `${moved}.old-crashed`, { recursive: true });
    const j = await Judge.load(moved, { maxNewTokens: 4 });
    try {
      const e = examples[0]!;
      await expect(j.evaluate({ task: e.task, images: e.images })).resolves.toHaveProperty('raw');
    } finally {
      await j.close();
    }
    renameSync(`${moved}.old-crashed`, `${moved}.gone`);
    await expect(Judge.load(moved)).rejects.toThrow(/Judge\.load: .*does not exist/);
  });

  it('load fails with a clear error for a missing checkpoint', async () => {
    await expect(Judge.load(path.join(dir, 'missing'))).rejects.toThrow(/Judge.load/);
  });
});
