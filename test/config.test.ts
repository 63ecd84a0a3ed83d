// The run-config schema stays in step with the trainers: every trainer option (with its default) is
// accepted, unknown fields and bad values are rejected with the field's path.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseRunConfig } from '../lib/cli/config.js';
import { GRPO_DEFAULTS } from '../lib/rl/grpo-config.js';
import { SFT_DEFAULTS } from '../lib/rl/sft-trainer.js';

describe('run config', () => {
  it('accepts every GRPO and SFT option the trainers define', () => {
    const cfg = parseRunConfig({ grpo: { ...GRPO_DEFAULTS, epsilonHigh: 0.28, delta: 2, filterStd: 3 }, sft: { ...SFT_DEFAULTS } });
    expect(cfg.grpo.numGenerations).toBe(GRPO_DEFAULTS.numGenerations);
    expect(cfg.sft.target).toBe('answer');
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
});
