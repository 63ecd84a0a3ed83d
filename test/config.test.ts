// The run-config schema stays in step with the trainers: every trainer option (with its default) is
// accepted, unknown fields and bad values are rejected with the field's path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadRunConfig, parseRunConfig } from '../lib/cli/config.js';
import { resolveGrpoConfig } from '../lib/rl/config.js';
import { GRPO_DEFAULTS } from '../lib/rl/config.js';
import { SFT_DEFAULTS } from '../lib/rl/sft-trainer.js';

describe('run config', () => {
  it('accepts every GRPO and SFT option the trainers define', () => {
    const cfg = parseRunConfig({ grpo: { ...GRPO_DEFAULTS, epsilonHigh: 0.28, delta: 2, filterStd: 3 }, sft: { ...SFT_DEFAULTS } });
    expect(cfg.grpo.numGenerations).toBe(GRPO_DEFAULTS.numGenerations);
    expect(cfg.sft.target).toBe('answer');
  });

  it('every shipped config under configs/ (sweeps included) loads', () => {
    const files = (fs.readdirSync('configs', { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).map((f) => path.join('configs', f));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(() => loadRunConfig(f), f).not.toThrow();
  });

  it('fills documented defaults', () => {
    const cfg = parseRunConfig({});
    expect(cfg.methods).toEqual(['off-the-shelf', 'sft-unified', 'mt-rl']);
    expect(cfg.base).toBe('models/base');
    expect(cfg.evaluation.maxExamplesPerTask).toBe(200);
  });

  it('names the field of unknown or bad values', () => {
    expect(() => parseRunConfig({ grpo: { numGeneration: 8 } })).toThrow(ConfigError);
    expect(() => parseRunConfig({ grpo: { numGeneration: 8 } })).toThrow(/grpo.*numGeneration/);
    expect(() => parseRunConfig({ sft: { target: 'both' } })).toThrow(/sft\.target/);
    expect(() => parseRunConfig({ data: { imageSize: 8 } })).toThrow(/data\.imageSize/);
  });

  it('a null or non-object config file is refused, not read as the defaults', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mtrl-cfg-'));
    try {
      for (const [name, text] of [['null.json', 'null'], ['list.json', '[1]'], ['empty.yaml', ''], ['num.yaml', '3']] as const) {
        fs.writeFileSync(path.join(d, name), text);
        expect(() => loadRunConfig(path.join(d, name))).toThrow(/invalid config .*: the file must hold an object of settings/);
      }
      expect(() => parseRunConfig(null)).toThrow(ConfigError);
      if (process.platform !== 'win32') {
        fs.symlinkSync('/dev/zero', path.join(d, 'zero.json'));
        expect(() => loadRunConfig(path.join(d, 'zero.json'))).toThrow(/cannot read config .*character device/);
      }
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('size fields have upper bounds (batchSize: 1e9 is an error naming the field)', () => {
    expect(() => parseRunConfig({ grpo: { batchSize: 1e9 } })).toThrow(/grpo\.batchSize/);
    expect(() => parseRunConfig({ sft: { batchSize: 1e9 } })).toThrow(/sft\.batchSize/);
    expect(() => parseRunConfig({ evaluation: { batchSize: 1e9 } })).toThrow(/evaluation\.batchSize/);
    expect(() => resolveGrpoConfig({ batchSize: 1e9 })).toThrow(/config\.batchSize must be an integer ≥ 1 and ≤ 65536, got 1000000000/);
    expect(parseRunConfig({ grpo: { batchSize: 65_536 } }).grpo.batchSize).toBe(65_536);
  });
});

describe('config errors suggest the right name (TRL snake_case, typos, wrong section)', () => {
  const msg = (raw: unknown) => {
    try {
      parseRunConfig(raw);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('TRL snake_case keys: did you mean the camelCase name', () => {
    const m = msg({ grpo: { learning_rate: 1e-4, num_generations: 8, loss_type: 'dapo' }, sft: { max_steps: 3 } });
    expect(m).toContain('grpo.learning_rate: unknown field, did you mean grpo.learningRate?');
    expect(m).toContain('grpo.num_generations: unknown field, did you mean grpo.numGenerations?');
    expect(m).toContain('grpo.loss_type: unknown field, did you mean grpo.lossType?');
    expect(m).toContain('sft.max_steps: unknown field, did you mean sft.maxSteps?');
  });

  it("TRL's batch size counts completions: the hint says batchSize counts prompts", () => {
    expect(msg({ grpo: { per_device_train_batch_size: 64 } })).toMatch(/did you mean grpo\.batchSize\? \(batchSize counts prompts, TRL counts completions/);
    expect(msg({ grpo: { batch_size: 64 } })).toMatch(/did you mean grpo\.batchSize\? \(batchSize counts prompts/);
  });

  it('typos, aliases and options in the wrong section', () => {
    expect(msg({ grpo: { numGeneration: 8 } })).toContain('did you mean grpo.numGenerations?');
    expect(msg({ grpo: { eval_steps: 10 } })).toContain('did you mean grpo.evalEvery?');
    expect(msg({ learningRate: 1e-3 })).toContain('learningRate: unknown field, did you mean grpo.learningRate or sft.learningRate?');
    expect(msg({ grpo: { zzz: 1 } })).toMatch(/grpo\.zzz: unknown field$/m);
  });
});
