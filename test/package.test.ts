// The package as users consume it: require() from CommonJS and import from ESM through package.json
// "exports" (dist/, built by `npm run build:ts`, which `npm ci` runs through "prepare").
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native.js';

describe('package entry points', () => {
  it('dist/ is built', () => {
    expect(existsSync(path.join(packageRoot, 'dist', 'index.js')), 'run `npm run build:ts`').toBe(true);
    expect(existsSync(path.join(packageRoot, 'dist', 'index.d.ts'))).toBe(true);
  });

  it('require() works from a CommonJS file (no top-level await in the entry)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mtrl-cjs-'));
    const file = path.join(dir, 'use.cjs');
    writeFileSync(
      file,
      `const m = require(${JSON.stringify(packageRoot)});\n` +
        `const t = m.Tensor.fromArray([1, 2, 3], [3]);\n` +
        `console.log(JSON.stringify({ sum: Array.from(m.add(t, t).toArray()), cuda: m.cudaAvailable().available }));\n`,
    );
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    expect(JSON.parse(out.trim()).sum).toEqual([2, 4, 6]);
  });

  it('import works from an ES module', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mtrl-esm-'));
    const file = path.join(dir, 'use.mjs');
    writeFileSync(
      file,
      `import { Tensor, devices } from ${JSON.stringify(path.join(packageRoot, 'dist', 'index.js'))};\n` +
        `console.log(JSON.stringify({ n: Tensor.zeros([2, 3]).numel, first: devices()[0].id }));\n`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' }).trim());
    expect(out).toEqual({ n: 6, first: 'cpu' });
  });
});
