// Files: exporter → loader round trip (pixel-exact PNG), the corpus, streaming, caching, JPEG/WebP
// decoding and resizing, and every bad-input case (malformed JSON, unknown task or format, wrong
// label types, missing or undecodable images, paths escaping the folder by "..", absolute paths or
// symlinks) with file:line in the error.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  exportSuite,
  generateSuite,
  ImageCache,
  loadCorpus,
  loadDataset,
  loadImageFile,
  streamDataset,
  writeDataset,
  type JudgeExample,
  type Suite,
} from '../lib/data/index.js';
import { encodePng } from '../lib/data/images.js';

let tmp: string;
let suite: Suite;
let ds: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-data-'));
  const sizes = { train: 12, validation: 6, test: 6 };
  suite = generateSuite({
    seed: 21,
    sizes: {
      naturalness: sizes,
      technical: sizes,
      rationality: sizes,
      alignment: sizes,
      preference: sizes,
      safety: sizes,
      'pair-alignment': { train: 0, validation: 4, test: 6 },
      'pair-safety': { train: 0, validation: 4, test: 6 },
      corpus: { train: 20, validation: 4, test: 4 },
    },
  });
  ds = path.join(tmp, 'suite');
  await exportSuite(ds, suite);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function strip(e: JudgeExample): Omit<JudgeExample, 'imagePaths'> {
  const { imagePaths: _p, ...rest } = e;
  return rest;
}

/** Writes a one-record dataset folder with the given JSONL text and a valid image a.png. */
async function fixture(name: string, lines: string[]): Promise<string> {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a.png'), await encodePng(suite.train[0]!.images[0]!));
  writeFileSync(path.join(dir, 'data.jsonl'), lines.join('\n') + '\n');
  return dir;
}

const good = (over: Record<string, unknown> = {}) => JSON.stringify({ id: 'x1', task: 'safety', format: 'binary', images: ['a.png'], label: 1, ...over });

async function expectDatasetError(dir: string, code: string, line: number, pattern: RegExp, opts = {}): Promise<DatasetError> {
  let err: unknown;
  try {
    await loadDataset(dir, { cache: false, ...opts });
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(DatasetError);
  const de = err as DatasetError;
  expect(de.code).toBe(code);
  expect(de.line).toBe(line);
  expect(de.message).toContain(`data.jsonl:${line}:`);
  expect(de.message).toMatch(pattern);
  return de;
}

describe('export → load round trip', () => {
  it('gives identical examples with pixel-exact images', async () => {
    const loaded = await loadDataset(ds, { cache: false });
    const original = [...suite.train, ...suite.validation, ...suite.test];
    expect(loaded.length).toBe(original.length);
    loaded.forEach((e, i) => {
      const o = original[i]!;
      expect(strip(e)).toEqual(o);
      e.images.forEach((img, k) => expect(Buffer.compare(Buffer.from(img.data), Buffer.from(o.images[k]!.data))).toBe(0));
      expect(e.imagePaths!.every((p) => p.startsWith('images/') && p.endsWith('.png'))).toBe(true);
    });
  });

  it('round-trips the corpus', async () => {
    const items = await loadCorpus(ds, { cache: false });
    const original = [...suite.corpus.train, ...suite.corpus.validation, ...suite.corpus.test];
    expect(items).toEqual(original);
  });

  it('streaming export from options equals exporting a generated suite', async () => {
    const dir = path.join(tmp, 'streamed');
    await exportSuite(dir, { seed: 21, sizes: suite.options.sizes });
    const a = await loadDataset(dir, { cache: false });
    const b = await loadDataset(ds, { cache: false });
    expect(a.map(strip)).toEqual(b.map(strip));
  });

  it('filters by split, stops at limit, and resizes on load', async () => {
    const test = await loadDataset(ds, { split: 'test', cache: false });
    expect(test.length).toBe(suite.test.length);
    expect(test.every((e) => e.split === 'test')).toBe(true);
    const few = await loadDataset(ds, { limit: 5, imageSize: 20, cache: false });
    expect(few.length).toBe(5);
    for (const e of few) for (const img of e.images) expect([img.width, img.height, img.data.length]).toEqual([20, 20, 20 * 20 * 3]);
  });

  it('caches decoded images and hands out copies', async () => {
    const cache = new ImageCache();
    const a = await loadDataset(ds, { split: 'validation', cache });
    const s1 = cache.stats();
    expect(s1.misses).toBeGreaterThan(0);
    expect(s1.hits).toBe(0);
    a[0]!.images[0]!.data.fill(0);
    const b = await loadDataset(ds, { split: 'validation', cache });
    const s2 = cache.stats();
    expect(s2.hits).toBe(s1.misses);
    expect(b[0]!.images[0]!.data).toEqual(suite.validation[0]!.images[0]!.data);
    const tiny = new ImageCache(4000);
    await loadDataset(ds, { split: 'validation', cache: tiny });
    expect(tiny.stats().bytes).toBeLessThanOrEqual(4000);
  });

  it('refuses to overwrite an export unless asked', async () => {
    await expect(exportSuite(ds, suite)).rejects.toThrow(/already exists; pass \{ overwrite: true \}/);
  });

  it('writes and reads back hand-made examples with custom tasks and odd ids', async () => {
    const img = suite.train[0]!.images[0]!;
    const examples: JudgeExample[] = [
      { id: 'my/ex 1', task: 'my-score', format: 'score', images: [img], label: 3.5, prompt: 'rate it' },
      { id: 'my/ex 2', task: 'my-choice', format: 'choice', images: [img, img, img], label: 2 },
    ];
    const dir = path.join(tmp, 'custom');
    const { count } = await writeDataset(dir, examples, { file: 'sub/data.jsonl' });
    expect(count).toBe(2);
    await expect(loadDataset(path.join(dir, 'sub/data.jsonl'))).rejects.toThrow(/unknown task "my-score"/);
    // A dataset file in a subfolder may reference images elsewhere inside the same dataset folder.
    const back = await loadDataset(path.join(dir, 'sub/data.jsonl'), { tasks: { 'my-score': 'score', 'my-choice': null }, cache: false }).catch((e: Error) => e);
    expect(back).toBeInstanceOf(DatasetError);
    expect((back as DatasetError).code).toBe('E_IMAGE_PATH');
    const viaFolder = await loadDataset(dir, { anyTask: true, cache: false }).catch((e: Error) => e);
    expect(viaFolder).toBeInstanceOf(DatasetError);
    const flat = path.join(tmp, 'custom-flat');
    await writeDataset(flat, examples, { file: 'data.jsonl' });
    const ok = await loadDataset(flat, { tasks: ['my-score', 'my-choice'], cache: false });
    expect(ok.map(strip)).toEqual(examples);
  });
});

describe('streaming', () => {
  it('yields every good example before the bad line, then throws with file:line', async () => {
    const dir = await fixture('stream-bad', [good({ id: 'a' }), good({ id: 'b' }), '', good({ id: 'c' }), '{"id": oops}']);
    const seen: string[] = [];
    let err: unknown;
    try {
      for await (const e of streamDataset(dir, { cache: false, concurrency: 2 })) seen.push(e.id);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect((err as DatasetError).code).toBe('E_JSON');
    expect((err as DatasetError).message).toContain('data.jsonl:5:');
  });

  it('reads a large file line by line', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => good({ id: `id${i}`, label: i % 2 }));
    const dir = await fixture('large', lines);
    let n = 0;
    let ones = 0;
    for await (const e of streamDataset(dir)) {
      n++;
      ones += e.label;
    }
    expect([n, ones]).toEqual([3000, 1500]);
  });
});

describe('bad input', () => {
  it('malformed JSON → E_JSON with file and line', async () => {
    const dir = await fixture('bad-json', [good(), '{"id": "x2", "task": "safety",']);
    await expectDatasetError(dir, 'E_JSON', 2, /malformed JSON/);
    const arr = await fixture('bad-json-array', ['[1, 2]']);
    await expectDatasetError(arr, 'E_JSON', 1, /must be a JSON object, got array/);
  });

  it('unknown task, unknown format, and a format the task does not use', async () => {
    await expectDatasetError(await fixture('bad-task', [good({ task: 'vibes' })]), 'E_TASK', 1, /unknown task "vibes".*known tasks: naturalness/);
    await expectDatasetError(await fixture('bad-format', [good({ format: 'likert' })]), 'E_FORMAT', 1, /unknown format "likert"/);
    await expectDatasetError(await fixture('bad-format2', [good({ format: 'pairwise', images: ['a.png', 'a.png'], label: 0 })]), 'E_FORMAT', 1, /task safety uses format "binary"/);
    // Accepted when the task is declared (any format) or anything goes.
    const custom = await fixture('custom-task', [good({ task: 'vibes', format: 'score', label: 2.5 })]);
    expect((await loadDataset(custom, { tasks: ['vibes'], cache: false }))[0]!.label).toBe(2.5);
    expect((await loadDataset(custom, { anyTask: true, cache: false }))[0]!.task).toBe('vibes');
  });

  it('labels of the wrong type or range', async () => {
    await expectDatasetError(await fixture('lab-str', [good({ label: '1' })]), 'E_LABEL', 1, /"label" must be 0 or 1 for format binary, got "1"/);
    await expectDatasetError(await fixture('lab-2', [good({ label: 2 })]), 'E_LABEL', 1, /0 or 1/);
    await expectDatasetError(await fixture('lab-half', [good({ label: 0.5 })]), 'E_LABEL', 1, /0 or 1/);
    await expectDatasetError(await fixture('lab-bool', [good({ label: true })]), 'E_LABEL', 1, /got true/);
    await expectDatasetError(await fixture('lab-missing', [good({ label: undefined })]), 'E_LABEL', 1, /"label" must be/);
    await expectDatasetError(
      await fixture('lab-pair', [good({ task: 'pair-safety', format: 'pairwise', images: ['a.png', 'a.png'], label: 2 })]),
      'E_LABEL',
      1,
      /integer image index in \[0, 1\]/,
    );
    await expectDatasetError(await fixture('lab-score', [good({ task: 's', format: 'score', label: 'high' })]), 'E_LABEL', 1, /finite number/, { anyTask: true });
    await expectDatasetError(await fixture('lab-choice', [good({ task: 'c', format: 'choice', label: -1 })]), 'E_LABEL', 1, /non-negative integer/, { anyTask: true });
  });

  it('missing or malformed fields, duplicate ids', async () => {
    await expectDatasetError(await fixture('no-images', [good({ images: [] })]), 'E_FIELD', 1, /"images" must be a non-empty array/);
    await expectDatasetError(await fixture('img-num', [good({ images: [3] })]), 'E_FIELD', 1, /images\[0\]/);
    await expectDatasetError(await fixture('img-10000', [good({ images: Array.from({ length: 10_000 }, () => 'a.png') })]), 'E_FIELD', 1, /"images" has 10000 entries; a record may have at most 64/);
    await expectDatasetError(await fixture('one-pair', [good({ task: 'pair-safety', format: 'pairwise', label: 0 })]), 'E_FIELD', 1, /at least 2 images/);
    await expectDatasetError(await fixture('no-id', [good({ id: '' })]), 'E_FIELD', 1, /"id"/);
    await expectDatasetError(await fixture('bad-split', [good({ split: 'dev' })]), 'E_FIELD', 1, /"split" must be one of/);
    await expectDatasetError(await fixture('bad-raters', [good({ raters: [1, 'x'] })]), 'E_FIELD', 1, /"raters"/);
    await expectDatasetError(await fixture('dup', [good(), good()]), 'E_DUPLICATE_ID', 2, /duplicate id "x1" \(first seen at .*data.jsonl:1\)/);
  });

  it('missing and undecodable images', async () => {
    await expectDatasetError(await fixture('missing', [good({ images: ['nope.png'] })]), 'E_IMAGE_MISSING', 1, /image "nope.png" not found/);
    const dir = await fixture('garbage', [good({ images: ['junk.png'] })]);
    writeFileSync(path.join(dir, 'junk.png'), Buffer.from('this is not an image at all'));
    await expectDatasetError(dir, 'E_IMAGE_DECODE', 1, /cannot decode image "junk.png"/);
    const trunc = await fixture('truncated', [good({ images: ['t.png'] })]);
    const png = await encodePng(suite.train[1]!.images[0]!);
    writeFileSync(path.join(trunc, 't.png'), png.subarray(0, Math.floor(png.length / 2)));
    await expectDatasetError(trunc, 'E_IMAGE_DECODE', 1, /cannot decode/);
    const dirImg = await fixture('dir-image', [good({ images: ['sub'] })]);
    mkdirSync(path.join(dirImg, 'sub'));
    await expectDatasetError(dirImg, 'E_IMAGE_MISSING', 1, /not a regular file/);
  });

  it('paths that escape the dataset folder are refused before anything is read', async () => {
    // A perfectly valid image outside the folder: it must still be refused.
    writeFileSync(path.join(tmp, 'outside.png'), await encodePng(suite.train[0]!.images[0]!));
    await expectDatasetError(await fixture('escape-dotdot', [good({ images: ['../outside.png'] })]), 'E_IMAGE_PATH', 1, /escapes the dataset folder/);
    await expectDatasetError(await fixture('escape-deep', [good({ images: ['a/../../outside.png'] })]), 'E_IMAGE_PATH', 1, /escapes/);
    await expectDatasetError(await fixture('escape-abs', [good({ images: [path.join(tmp, 'outside.png')] })]), 'E_IMAGE_PATH', 1, /is absolute/);
    await expectDatasetError(await fixture('escape-win', [good({ images: ['C:/x/outside.png'] })]), 'E_IMAGE_PATH', 1, /is absolute/);
    await expectDatasetError(await fixture('escape-bs', [good({ images: ['..\\outside.png'] })]), 'E_IMAGE_PATH', 1, /backslash/);
    const link = await fixture('escape-link', [good({ images: ['link.png'] })]);
    symlinkSync(path.join(tmp, 'outside.png'), path.join(link, 'link.png'));
    await expectDatasetError(link, 'E_IMAGE_PATH', 1, /is a link to .*outside the dataset folder/);
    const dirLink = await fixture('escape-dirlink', [good({ images: ['d/outside.png'] })]);
    symlinkSync(tmp, path.join(dirLink, 'd'));
    await expectDatasetError(dirLink, 'E_IMAGE_PATH', 1, /outside the dataset folder/);
    // A link that stays inside the folder is fine, and so is ".." that stays inside.
    const inside = await fixture('inside-link', [good({ images: ['l.png'] }), good({ id: 'x2', images: ['sub/../a.png'] })]);
    symlinkSync(path.join(inside, 'a.png'), path.join(inside, 'l.png'));
    expect((await loadDataset(inside, { cache: false })).length).toBe(2);
  });

  it('a manifest cannot point at files outside the folder; missing targets are clear errors', async () => {
    const dir = await fixture('bad-manifest', [good()]);
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ files: { train: '../escape.jsonl' } }));
    await expect(loadDataset(dir)).rejects.toThrow(/escapes the dataset folder/);
    writeFileSync(path.join(dir, 'manifest.json'), '{ nope');
    await expect(loadDataset(dir)).rejects.toThrow(/malformed manifest/);
    await expect(loadDataset(path.join(tmp, 'does-not-exist'))).rejects.toThrow(/dataset not found/);
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    await expect(loadDataset(empty)).rejects.toThrow(/no .jsonl files/);
  });

  it('bad loader options are TypeErrors/RangeErrors naming the option', async () => {
    await expect(loadDataset(ds, { imageSize: 0 })).rejects.toThrow(/loadDataset|streamDataset/);
    await expect(loadDataset(ds, { imageSize: 0 })).rejects.toThrow(RangeError);
    await expect(loadDataset(ds, { fit: 'squash' as never })).rejects.toThrow(/fit must be/);
    await expect(loadDataset(ds, { split: 'dev' as never })).rejects.toThrow(/split must be one of/);
    await expect(loadDataset(ds, { concurrency: 0 })).rejects.toThrow(/concurrency/);
    await expect(loadDataset('' as string)).rejects.toThrow(TypeError);
  });
});

describe('image formats', () => {
  it('decodes JPEG and WebP, resizes to the model size, and keeps colours close', async () => {
    const dir = path.join(tmp, 'formats');
    mkdirSync(dir, { recursive: true });
    // A smooth 40×24 gradient (lossy codecs keep it well); the reference is the PNG resized the same way.
    const w = 40;
    const h = 24;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        raw[o] = Math.round((255 * x) / (w - 1));
        raw[o + 1] = Math.round((255 * y) / (h - 1));
        raw[o + 2] = 128;
      }
    const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
    writeFileSync(path.join(dir, 'g.png'), await img.clone().png().toBuffer());
    writeFileSync(path.join(dir, 'g.jpg'), await img.clone().jpeg({ quality: 95 }).toBuffer());
    writeFileSync(path.join(dir, 'g.webp'), await img.clone().webp({ quality: 95 }).toBuffer());
    writeFileSync(path.join(dir, 'grey.png'), await sharp(Buffer.alloc(w * h, 90), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer());
    writeFileSync(path.join(dir, 'rgba.png'), await sharp(Buffer.alloc(w * h * 4, 0), { raw: { width: w, height: h, channels: 4 } }).png().toBuffer());
    const rec = (id: string, file: string) => JSON.stringify({ id, task: 'technical', format: 'binary', images: [file], label: 1 });
    writeFileSync(path.join(dir, 'data.jsonl'), ['png', 'jpg', 'webp', 'grey', 'rgba'].map((n) => rec(n, n === 'grey' || n === 'rgba' ? `${n}.png` : `g.${n}`)).join('\n'));
    const [png, jpg, webp, grey, rgba] = await loadDataset(dir, { imageSize: 32, cache: false });
    for (const e of [png!, jpg!, webp!, grey!, rgba!]) expect([e.images[0]!.width, e.images[0]!.height, e.images[0]!.data.length]).toEqual([32, 32, 32 * 32 * 3]);
    const maxDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    const dj = maxDiff(jpg!.images[0]!.data, png!.images[0]!.data);
    const dw = maxDiff(webp!.images[0]!.data, png!.images[0]!.data);
    expect(dj, `JPEG max |diff| ${dj} levels`).toBeLessThanOrEqual(24);
    expect(dw, `WebP max |diff| ${dw} levels`).toBeLessThanOrEqual(24);
    // Greyscale becomes three equal channels; transparency is flattened onto white.
    expect(Array.from(grey!.images[0]!.data.subarray(0, 6))).toEqual([90, 90, 90, 90, 90, 90]);
    expect(Array.from(rgba!.images[0]!.data.subarray(0, 3))).toEqual([255, 255, 255]);
    // 'cover' and 'contain' keep the aspect ratio.
    const contain = await loadImageFile(path.join(dir, 'g.png'), 32, 'contain');
    expect(Array.from(contain.data.subarray(0, 3))).toEqual([255, 255, 255]);
    const native = await loadImageFile(path.join(dir, 'g.png'));
    expect([native.width, native.height]).toEqual([40, 24]);
    expect(Buffer.compare(Buffer.from(native.data), raw)).toBe(0);
    await expect(loadImageFile(path.join(dir, 'none.png'))).rejects.toThrow(/image not found/);
    await expect(loadImageFile(path.join(dir, 'data.jsonl'))).rejects.toThrow(/cannot decode image/);
  });
});
