// Hostile files and configs through the CLI: every one is refused quickly with exactly one line on
// stderr naming the file and the problem (no stack trace, no hang, no abort).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainBpe } from '../lib/model/bpe-train.js';
import { saveCheckpoint } from '../lib/model/checkpoint.js';
import { makeConfig, TINY_CONFIG } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { packageRoot } from '../lib/native.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mtrl-cli-err-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const good = path.join(tmp, 'good');
const image = path.join(tmp, 'img.png');

/** Runs the CLI; resolves with status, stderr and the wall time (killed after 120 s: a hang fails the test). */
function cli(args: string[]): Promise<{ status: number | null; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'lib', 'cli', 'main.ts'), ...args], {
      cwd: packageRoot,
      env: { ...process.env, OMP_NUM_THREADS: '1', MTRL_DEBUG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, ms: performance.now() - t0 });
    });
  });
}

/** A copy of the good checkpoint with `edit` applied to it. */
function variant(name: string, edit: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(good, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Rewrites a file of a checkpoint and its manifest entry (size; the hash is checked too, so update it). */
function rewrite(dir: string, file: string, bytes: Buffer) {
  fs.writeFileSync(path.join(dir, file), bytes);
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  m.files[file] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
}

beforeAll(async () => {
  const tokenizer = trainBpe(['is the image safe? yes no', '<think>a red circle</think><answer>yes</answer>'], { vocabSize: 280 });
  const config = makeConfig(
    { ...TINY_CONFIG, visionDim: undefined, visionHeads: undefined, visionFF: undefined, dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, dFF: 64, maxSeqLen: 400 },
    { vocabSize: tokenizer.vocabSize, imageTokenId: tokenizer.imageId },
  );
  const model = new JudgeModel(config, { seed: 1 });
  saveCheckpoint(good, { model, tokenizer });
  model.dispose();
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#336699' } }).png().toFile(image);
});

describe('CLI: one line per hostile input', () => {
  const judge = (dir: string, img = image) => ['judge', '--checkpoint', dir, '--task', 'safety', '--image', img];
  const cases: [string, () => string[], RegExp][] = [
    ['model.safetensors is a symlink to /dev/zero', () => judge(variant('zero', (d) => (fs.rmSync(path.join(d, 'model.safetensors')), fs.symlinkSync('/dev/zero', path.join(d, 'model.safetensors'))))), /'model\.safetensors' is a character device, expected a regular file/],
    ['model.safetensors is a FIFO', () => judge(variant('fifo', (d) => { fs.rmSync(path.join(d, 'model.safetensors')); execFileSync('mkfifo', [path.join(d, 'model.safetensors')]); })), /'model\.safetensors' is a FIFO/],
    ['config.json with nLayers 1e6', () => judge(variant('layers', (d) => rewrite(d, 'config.json', Buffer.from(JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(good, 'config.json'), 'utf8')), nLayers: 1e6 }))))), /config\.nLayers must be an integer in \[1, 1024\], got 1000000/],
    ['tokenizer with a catastrophic split regex', () => judge(variant('regex', (d) => {
      const t = JSON.parse(fs.readFileSync(path.join(good, 'tokenizer.json'), 'utf8'));
      t.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }, t.pre_tokenizer] };
      rewrite(d, 'tokenizer.json', Buffer.from(JSON.stringify(t)));
    })), /catastrophic backtracking/],
    ['safetensors header with a duplicate key', () => judge(variant('dup', (d) => {
      const buf = fs.readFileSync(path.join(good, 'model.safetensors'));
      const n = Number(buf.readBigUInt64LE(0));
      const header = buf.subarray(8, 8 + n).toString('utf8');
      const i = header.indexOf('"norm.weight"');
      const dupHeader = header.slice(0, i) + '"norm.weight":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' + header.slice(i);
      const pad = (8 - (Buffer.byteLength(dupHeader) % 8)) % 8;
      const h = Buffer.from(dupHeader + ' '.repeat(pad));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      rewrite(d, 'model.safetensors', Buffer.concat([len, h, buf.subarray(8 + n)]));
    })), /header has the key "norm\.weight" more than once/],
    ['a missing checkpoint', () => judge(path.join(tmp, 'nope')), /checkpoint '.*nope' does not exist/],
    ['a 16000 × 16000 PNG', () => {
      const png = path.join(tmp, 'bomb.png');
      fs.writeFileSync(png, pngDeclaring(16000, 16000));
      return judge(good, png);
    }, /cannot read image .*bomb\.png: Input image exceeds pixel limit/],
    ['a config file holding null', () => { fs.writeFileSync(path.join(tmp, 'null.json'), 'null'); return ['eval', '--checkpoint', good, '--config', path.join(tmp, 'null.json')]; }, /invalid config .*null\.json: the file must hold an object of settings, got null/],
  ];
  for (const [what, args, want] of cases) {
    it.runIf(process.platform !== 'win32')(what, async () => {
      const r = await cli(args());
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.status).not.toBe(null); // exited, not killed by the 120 s guard (tsx start-up alone takes seconds)
      // The device line ('device: cpu (auto: …)') is information printed before the work starts; the
      // error itself must be one line.
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('device: '));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^mtrl-judge: /);
      expect(lines[0]).toMatch(want);
    }, 180_000);
  }
});

/** A PNG whose IHDR declares width × height pixels (header only, for the pixel-limit check). */
function pngDeclaring(width: number, height: number): Buffer {
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
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}
