// The CLI end to end on tiny settings in a temp folder: pretrain, train (SFT and GRPO), resume,
// eval, judge, experiment with its report, data export, and config validation errors.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-cli-'));
const base = path.join(tmp, 'base');
const config = path.join(packageRoot, 'configs', 'tiny-test.json');
const TINY_MODEL = JSON.stringify({ dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, dFF: 64, maxSeqLen: 448 });

function cli(args: string[], opts: { ok?: boolean } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'lib', 'cli', 'main.ts'), ...args], {
    cwd: packageRoot, // tsx (--import) resolves from here; every path passed is absolute
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
    timeout: 300_000,
  });
  if ((opts.ok ?? true) && r.status !== 0) throw new Error(`mtrl-judge ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe('mtrl-judge CLI', () => {
  beforeAll(() => {
    cli(['pretrain', '--out', base, '--steps', '3', '--batch-size', '4', '--corpus-size', '64', '--vocab-size', '400', '--model', TINY_MODEL]);
  });

  it('pretrain writes a loadable checkpoint with the command that reproduces it', () => {
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'trainer_state.json']) expect(existsSync(path.join(base, f)), f).toBe(true);
    const state = JSON.parse(readFileSync(path.join(base, 'trainer_state.json'), 'utf8')) as { command: string; steps: number };
    expect(state.steps).toBe(3);
    expect(state.command).toContain('mtrl-judge pretrain');
  });

  it('pretrain --init --patch-window widens the checkpoint and trains on; without --init it says what to do', () => {
    const wide = path.join(tmp, 'base-wide');
    cli(['pretrain', '--init', base, '--out', wide, '--steps', '1', '--batch-size', '2', '--corpus-size', '16', '--patch-window', '8']);
    const cfg = JSON.parse(readFileSync(path.join(wide, 'config.json'), 'utf8')) as { patchSize: number; patchWindow: number };
    expect([cfg.patchSize, cfg.patchWindow]).toEqual([4, 8]);
    expect((JSON.parse(readFileSync(path.join(wide, 'trainer_state.json'), 'utf8')) as { command: string }).command).toContain('--patch-window 8');
    const bad = cli(['pretrain', '--out', path.join(tmp, 'x'), '--patch-window', '8'], { ok: false });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--patch-window widens an --init checkpoint; for a fresh model give it in --model/);
    const mix = cli(['pretrain', '--init', base, '--out', path.join(tmp, 'y'), '--corpus-version', '4', '--corpus-mix', '{"note-matc":0.4}'], { ok: false });
    expect(mix.stderr).toMatch(/--corpus-mix: unknown concept "note-matc"; concepts: caption,/);
    const odd = cli(['pretrain', '--init', base, '--out', path.join(tmp, 'y'), '--steps', '1', '--patch-window', '7'], { ok: false });
    expect(odd.stderr).toMatch(/window must be an integer ≥ the model's patchWindow \(4\) that differs from it by an even number, got 7/);
    expect(existsSync(path.join(tmp, 'y'))).toBe(false);
  });

  it('pretrain --init --add-layers deepens the checkpoint and trains on; without --init it says what to do', () => {
    const deep = path.join(tmp, 'base-deep');
    const depth = (dir: string) => (JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as { nLayers: number }).nLayers;
    cli(['pretrain', '--init', base, '--out', deep, '--steps', '1', '--batch-size', '2', '--corpus-size', '16', '--add-layers', '2']);
    expect(depth(deep)).toBe(depth(base) + 2);
    expect((JSON.parse(readFileSync(path.join(deep, 'trainer_state.json'), 'utf8')) as { command: string }).command).toContain('--add-layers 2');
    const bad = cli(['pretrain', '--out', path.join(tmp, 'z'), '--add-layers', '2'], { ok: false });
    expect(bad.stderr).toMatch(/--add-layers deepens an --init checkpoint; for a fresh model give the depth in --model/);
    const zero = cli(['pretrain', '--init', base, '--out', path.join(tmp, 'z'), '--add-layers', '0'], { ok: false });
    expect(zero.stderr).toMatch(/--add-layers must be an integer in \[1, 64\], got 0/);
    expect(existsSync(path.join(tmp, 'z'))).toBe(false);
  });

  it('pretrain --init --add-vision-layers gives the checkpoint a vision encoder and trains on', () => {
    const seeing = path.join(tmp, 'base-vision');
    const cfg = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as { visionLayers: number; visionDim: number; dModel: number };
    cli(['pretrain', '--init', base, '--out', seeing, '--steps', '1', '--batch-size', '2', '--corpus-size', '16', '--add-vision-layers', '1']);
    expect(cfg(base).visionLayers).toBe(0);
    expect([cfg(seeing).visionLayers, cfg(seeing).visionDim]).toEqual([1, cfg(base).dModel]);
    expect((JSON.parse(readFileSync(path.join(seeing, 'trainer_state.json'), 'utf8')) as { command: string }).command).toContain('--add-vision-layers 1');
    const bad = cli(['pretrain', '--out', path.join(tmp, 'v'), '--add-vision-layers', '1'], { ok: false });
    expect(bad.stderr).toMatch(/--add-vision-layers deepens an --init checkpoint's vision encoder; for a fresh model give it in --model/);
    const zero = cli(['pretrain', '--init', base, '--out', path.join(tmp, 'v'), '--add-vision-layers', '0'], { ok: false });
    expect(zero.stderr).toMatch(/--add-vision-layers must be an integer in \[1, 64\], got 0/);
    expect(existsSync(path.join(tmp, 'v'))).toBe(false);
  });

  it('train (sft-unified), then --resume continues from the saved step', () => {
    const out = path.join(tmp, 'run-sft');
    cli(['train', '--method', 'sft-unified', '--config', config, '--base', base, '--out', out, '--steps', '2']);
    const last = path.join(out, 'sft-unified', 'last');
    expect(existsSync(path.join(last, 'optimizer.safetensors'))).toBe(true);
    const r = cli(['train', '--method', 'sft-unified', '--config', config, '--base', base, '--out', out, '--steps', '3', '--resume']);
    expect(r.stderr).toContain('resumed sft-unified at step 2');
    const lines = readFileSync(path.join(out, 'sft-unified', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
    expect(lines.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([1, 2, 3]);
  });

  it('train (mt-rl) writes metrics with rewards per task', () => {
    const out = path.join(tmp, 'run-rl');
    cli(['train', '--method', 'mt-rl', '--config', config, '--base', base, '--out', out]);
    const rec = JSON.parse(readFileSync(path.join(out, 'mt-rl', 'metrics.jsonl'), 'utf8').trim().split('\n')[0]!) as {
      perTask: Record<string, { reward: number }>;
      zeroVarianceFraction: number;
    };
    expect(Object.keys(rec.perTask).length).toBeGreaterThan(0);
    expect(rec.zeroVarianceFraction).toBeGreaterThanOrEqual(0);
  });

  it('eval prints a table and JSON', () => {
    const r = cli(['eval', '--checkpoint', base, '--config', config, '--tasks', 'safety,pair-safety', '--max-per-task', '4']);
    expect(r.stdout).toMatch(/macro-F1/);
    expect(r.stdout).toMatch(/safety/);
    const j = cli(['eval', '--checkpoint', base, '--config', config, '--tasks', 'safety', '--max-per-task', '4', '--json']);
    const parsed = JSON.parse(j.stdout) as Record<string, { macroF1: number; n: number }>;
    expect(parsed.safety!.n).toBe(4);
  });

  it('judge reads image files and prints reasoning and verdict', async () => {
    const sharp = (await import('sharp')).default;
    const img = path.join(tmp, 'a.png');
    await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toFile(img);
    const r = cli(['judge', '--checkpoint', base, '--task', 'technical', '--image', img]);
    expect(r.stdout).toMatch(/verdict:/);
    const j = cli(['judge', '--checkpoint', base, '--task', 'pair-safety', '--images', img, img, '--json']);
    const out = JSON.parse(j.stdout) as { raw: string; verdict: string | null };
    expect(typeof out.raw).toBe('string');
    const bad = cli(['judge', '--checkpoint', base, '--task', 'pair-safety', '--image', img], { ok: false });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/needs 2 image/);
  });

  it('experiment writes report.md and a self-contained report.html with the tables', () => {
    const out = path.join(tmp, 'exp');
    const r = cli(['experiment', '--config', config, '--base', base, '--out', out]);
    expect(r.stdout).toMatch(/In-distribution macro-F1/);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('| MT-RL-Judge |');
    expect(md).toContain('| SFT-Unified |');
    expect(md).toContain('pair-safety');
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<table>');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('experiment --seeds 2 trains each method twice and reports means with 95 % intervals and n', () => {
    const out = path.join(tmp, 'exp-seeds');
    cli(['experiment', '--config', config, '--base', base, '--out', out, '--seeds', '2', '--methods', 'off-the-shelf,sft-unified']);
    for (const k of [0, 1]) expect(existsSync(path.join(out, `seed-${k}`, 'sft-unified', 'last', 'model.safetensors')), `seed-${k}`).toBe(true);
    const res = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      runs: { seed: number; methods: { method: string }[] }[];
      methods: { method: string; seeds: number[]; meanIntervals: { inDistribution: { lo: number; hi: number; estimate: number; seeds: number } } }[];
    };
    expect(res.runs.map((r) => r.seed)).toEqual([0, 1]);
    // The greedy base model is deterministic: evaluated in the first run only.
    expect(res.runs[1]!.methods.map((m) => m.method)).toEqual(['sft-unified']);
    const sft = res.methods.find((m) => m.method === 'sft-unified')!;
    expect(sft.seeds).toEqual([0, 1]);
    const iv = sft.meanIntervals.inDistribution;
    expect(iv.seeds).toBe(2);
    expect(iv.lo).toBeLessThanOrEqual(iv.estimate);
    expect(iv.hi).toBeGreaterThanOrEqual(iv.estimate);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/95 % bootstrap interval/);
    expect(md).toMatch(/\| SFT-Unified \|[^\n]*\[[^\n]*\| 2×\d+ \|/);
  });

  it('experiment --data-seed runs on another draw of the suite; with --data it is refused', () => {
    const out = path.join(tmp, 'exp-data-seed');
    cli(['experiment', '--config', config, '--base', base, '--out', out, '--methods', 'off-the-shelf', '--data-seed', '7']);
    const res = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as { settings: { data: { seed: number } } };
    expect(res.settings.data.seed).toBe(7);
    const bad = cli(['eval', '--checkpoint', base, '--data', tmp, '--data-seed', '2'], { ok: false });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--data-seed: seeds the generated suite, but the data come from the folder/);
  });

  it('experiment runs the per-task baselines (SFT-Single, RL-Single), one judge per task', () => {
    const out = path.join(tmp, 'exp-single');
    cli(['experiment', '--config', config, '--base', base, '--out', out, '--methods', 'sft-single,rl-single']);
    for (const m of ['sft-single', 'rl-single']) for (const t of ['safety', 'technical']) expect(existsSync(path.join(out, m, t, 'last', 'model.safetensors')), `${m}/${t}`).toBe(true);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('| SFT-Single |');
    expect(md).toContain('| RL-Single |');
  });

  it('Ctrl-C during training saves a checkpoint and exits cleanly; --resume continues', async () => {
    const out = path.join(tmp, 'run-int');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'lib', 'cli', 'main.ts'), 'train', '--method', 'sft-unified', '--config', config, '--base', base, '--out', out, '--steps', '400'], {
      cwd: packageRoot,
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const metrics = path.join(out, 'sft-unified', 'metrics.jsonl');
    // Interrupt once training is under way (the metrics file has a step).
    await new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (existsSync(metrics) && readFileSync(metrics, 'utf8').trim().length > 0) {
          clearInterval(poll);
          child.kill('SIGINT');
          resolve();
        } else if (Date.now() - t0 > 120_000) {
          clearInterval(poll);
          reject(new Error(`training never started: ${stderr}`));
        }
      }, 50);
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    const state = JSON.parse(readFileSync(path.join(out, 'sft-unified', 'last', 'trainer_state.json'), 'utf8')) as { step: number };
    expect(state.step).toBeGreaterThan(0);
    expect(state.step).toBeLessThan(400);
    const r = cli(['train', '--method', 'sft-unified', '--config', config, '--base', base, '--out', out, '--steps', String(state.step + 1), '--resume']);
    expect(r.stderr).toContain(`resumed sft-unified at step ${state.step}`);
  });

  it('config errors name the field and the allowed values', () => {
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ grpo: { lossType: 'ppo', numGenerations: 1 }, methods: ['magic'] }));
    const r = cli(['experiment', '--config', bad, '--base', base], { ok: false });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/grpo\.lossType/);
    expect(r.stderr).toMatch(/'grpo'|"grpo"/);
    expect(r.stderr).toMatch(/grpo\.numGenerations/);
    expect(r.stderr).toMatch(/methods\.0/);
    const yaml = path.join(tmp, 'bad.yaml');
    writeFileSync(yaml, 'grpo:\n  epsilon: [1\n');
    expect(cli(['train', '--config', yaml], { ok: false }).stderr).toMatch(/not valid YAML/);
    expect(cli(['train', '--method', 'ppo'], { ok: false }).stderr).toMatch(/Allowed choices are mt-rl, rl-single, sft-unified, sft-single/);
  });

  it('--help works for every command', () => {
    for (const c of ['pretrain', 'train', 'eval', 'judge', 'experiment', 'bench']) expect(cli([c, '--help']).stdout).toContain('Usage: mtrl-judge ' + c);
    expect(cli(['data', 'export', '--help']).stdout).toContain('--preset');
  });
});
