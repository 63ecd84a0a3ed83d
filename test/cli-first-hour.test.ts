// A new user's first hour with the built CLI (dist/cli/main.js), run from a folder that is not the
// package: the shipped base model is found, every method's best/ exists after `experiment`, the
// device defaults to 'auto' and says what it chose, and every mistake ends in one line that names the
// flag and what to do, with a non-zero exit code (the stack only with --verbose or DEBUG).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaAvailable } from '../lib/device.js';
import { packageRoot } from '../lib/native.js';

const main = path.join(packageRoot, 'dist', 'cli', 'main.js');
const cwd = mkdtempSync(path.join(os.tmpdir(), 'mtrl-first-hour-'));
const shipped = path.join(packageRoot, 'models', 'base');

function cli(args: string[], env: Record<string, string> = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', ...env };
  if (!('DEBUG' in env)) delete e.DEBUG;
  return spawnSync(process.execPath, [main, ...args], { cwd, encoding: 'utf8', env: e, timeout: 300_000 });
}

/** The error output: exactly one "mtrl-judge: …" line (besides the "device: …" notice), no stack. */
function oneLineError(r: ReturnType<typeof cli>): string {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.status).not.toBeNull();
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('device: '));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mtrl-judge: /);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

// A tiny run config with no `base` (so the default, the shipped model, is used) and no `out`.
const config = path.join(cwd, 'tiny.json');
const tiny = JSON.parse(readFileSync(path.join(packageRoot, 'configs', 'tiny-test.json'), 'utf8')) as Record<string, unknown>;
delete tiny.base;
delete tiny.out;

describe('the CLI from another folder', () => {
  beforeAll(() => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build:ts\` first`);
    writeFileSync(config, JSON.stringify(tiny));
  });

  it('experiment finds the shipped base model, writes best/ for every trained method, and says which device it chose', () => {
    const r = cli(['experiment', '--config', config]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`base: ${shipped}`);
    expect(r.stderr).toMatch(/^device: (cpu \(auto: CUDA not usable: .+\)|cuda:0 \(auto: CUDA is usable\))$/m);
    const out = path.join(cwd, 'runs', 'default');
    for (const m of ['sft-unified', 'mt-rl']) {
      for (const f of ['last', 'best']) expect(existsSync(path.join(out, m, f, 'model.safetensors')), `${m}/${f}`).toBe(true);
      // evalEvery is 0 in this config: best/ is the final weights, and says so.
      const state = JSON.parse(readFileSync(path.join(out, m, 'best', 'trainer_state.json'), 'utf8')) as { kind: string; step: number; selectedBy: string };
      expect(state).toMatchObject({ kind: 'best', step: 2 });
      expect(state.selectedBy).toMatch(/final step/);
    }
    // Each evaluation pass gets its own progress count that reaches its total (ID: 2 tasks × 6, OOD: 6 pairs × 2 orders).
    expect(r.stderr).toMatch(/evaluating mt-rl \(in-distribution\) 12\/12/);
    expect(r.stderr).toMatch(/evaluating mt-rl \(OOD pairs, both orders\) 12\/12/);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/"seed": 0/); // the trainers' seeds are among the settings shown
    expect(md).toContain('### Strict format rate');
    // The checkpoint the README's API example and the judge command use now exists.
    const j = cli(['judge', '--checkpoint', path.join(out, 'mt-rl', 'best'), '--task', 'alignment', '--image', path.join(packageRoot, 'docs', 'contact-sheet.png'), '--prompt', 'a red circle', '--json']);
    expect(j.status, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toHaveProperty('raw');
  });

  it('a missing checkpoint folder: one line naming --checkpoint', () => {
    expect(oneLineError(cli(['eval', '--checkpoint', 'no-such-dir']))).toMatch(/--checkpoint: checkpoint 'no-such-dir' does not exist — pass the folder/);
    expect(oneLineError(cli(['judge', '--checkpoint', 'no-such-dir', '--task', 'safety', '--image', 'x.png']))).toMatch(/--checkpoint: .*does not exist/);
  });

  it('a missing base checkpoint and a missing data folder name --base and --data', () => {
    expect(oneLineError(cli(['experiment', '--config', config, '--base', 'nowhere']))).toMatch(/--base: no checkpoint at nowhere .*mtrl-judge pretrain --out nowhere/);
    expect(oneLineError(cli(['train', '--config', config, '--data', 'no-such-data', '--steps', '1']))).toMatch(/--data: .*no-such-data: dataset not found \(ENOENT\) — pass a folder in the JSONL format/);
  });

  it('--device: CUDA that is not usable here, and a bad value, name the flag and the alternatives', () => {
    const dev = cudaAvailable().available ? 'cuda:99' : 'cuda:0';
    const line = oneLineError(cli(['judge', '--checkpoint', shipped, '--task', 'safety', '--image', 'x.png', '--device', dev]));
    expect(line).toMatch(new RegExp(`--device ${dev}: `));
    if (dev === 'cuda:0') expect(line).toMatch(/CUDA is not usable here .*use --device cpu or --device auto/);
    expect(oneLineError(cli(['eval', '--checkpoint', shipped, '--device', 'gpu']))).toMatch(/--device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got "gpu"/);
  });

  it('judge and eval errors name flags, not API arguments', () => {
    const prompt = oneLineError(cli(['judge', '--checkpoint', shipped, '--task', 'alignment', '--image', 'x.png']));
    expect(prompt).toMatch(/--prompt: .*add --prompt/);
    expect(prompt).not.toMatch(/evaluate \(request/);
    expect(oneLineError(cli(['judge', '--checkpoint', shipped, '--task', 'pair-safety', '--image', 'x.png']))).toMatch(/--images: task "pair-safety" needs 2 image\(s\), got 1 — pass --images a\.png b\.png/);
    expect(oneLineError(cli(['judge', '--checkpoint', shipped, '--task', 'beauty', '--image', 'x.png']))).toMatch(/--task: unknown task "beauty" — use one of .*safety/);
    expect(oneLineError(cli(['judge', '--checkpoint', shipped, '--task', 'safety', '--image', path.join(cwd, 'missing.png')]))).toMatch(/--image: cannot read image .*missing\.png/);
    const samples = oneLineError(cli(['eval', '--checkpoint', shipped, '--samples', '3']));
    expect(samples).toMatch(/--samples: 3 sampled judgments per example need a temperature > 0 .*--temperature/);
    expect(samples).not.toMatch(/evaluateJudge/);
    expect(oneLineError(cli(['eval', '--checkpoint', shipped, '--tasks', 'safety,nope']))).toMatch(/--tasks: unknown task "nope"/);
  });

  it('config mistakes: TRL snake_case keys get a did-you-mean, on one line', () => {
    const trl = path.join(cwd, 'trl.json');
    writeFileSync(trl, JSON.stringify({ grpo: { learning_rate: 1e-5, num_generations: 4, loss_type: 'dapo' } }));
    const line = oneLineError(cli(['train', '--config', trl]));
    expect(line).toMatch(/grpo\.learning_rate: unknown field, did you mean grpo\.learningRate\?/);
    expect(line).toMatch(/grpo\.num_generations: unknown field, did you mean grpo\.numGenerations\?/);
    expect(line).toMatch(/grpo\.loss_type: unknown field, did you mean grpo\.lossType\?/);
    expect(oneLineError(cli(['train', '--config', 'no-such.json']))).toMatch(/cannot read config no-such\.json/);
  });

  it('commander usage errors are one line too', () => {
    expect(oneLineError(cli(['train', '--method', 'ppo']))).toMatch(/Allowed choices are mt-rl, rl-single, sft-unified, sft-single/);
    expect(oneLineError(cli(['eval', '--checkpoint', shipped, '--bogus']))).toMatch(/unknown option '--bogus'/);
    expect(oneLineError(cli(['pretrain', '--model', 'huge']))).toMatch(/--model must be 'tiny', 'small' or a JSON object/);
  });

  it('the stack trace appears only with --verbose or DEBUG', () => {
    const plain = cli(['eval', '--checkpoint', 'no-such-dir']);
    expect(plain.stderr).not.toMatch(/^\s+at /m);
    for (const r of [cli(['eval', '--checkpoint', 'no-such-dir', '--verbose']), cli(['eval', '--checkpoint', 'no-such-dir'], { DEBUG: '1' })]) {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^mtrl-judge: --checkpoint: /m);
      expect(r.stderr).toMatch(/^\s+at /m);
      expect(r.stderr).toMatch(/caused by: CheckpointError/);
    }
  });
});
