// Run configuration for the CLI (`--config file.json|yaml`): one validated schema with a documented
// default for every option. The grpo and sft sections are the trainers' own schemas (lib/rl/config.ts),
// filled with their defaults. Errors name the field path and the allowed values.
import path from 'node:path';
import { readRegularFileSync } from '../model/atomic-file.js';
import YAML from 'yaml';
import { z } from 'zod';
import { grpoSchema, LIMITS, sftSchema } from '../rl/config.js';
import { TaskRegistry } from '../tasks/registry.js';
import type { TaskDefinition } from '../tasks/task.js';

const method = z.enum(['off-the-shelf', 'sft-single', 'sft-unified', 'rl-single', 'mt-rl']);

const dataSchema = z
  .object({
    source: z.enum(['suite', 'folder']).default('suite'),
    dir: z.string().optional(),
    preset: z.enum(['small', 'paper']).default('small'),
    seed: z.number().int().min(0).default(1),
    imageSize: z.number().int().min(16).max(128).default(32),
    /** Examples per task and split (overrides the preset). */
    trainPerTask: z.number().int().min(1).optional(),
    validationPerTask: z.number().int().min(0).optional(),
    testPerTask: z.number().int().min(1).optional(),
  })
  .strict();

const evaluationSchema = z
  .object({
    maxExamplesPerTask: z.number().int().min(0).default(200),
    batchSize: z.number().int().min(1).max(LIMITS.batch).default(32),
    maxNewTokens: z.number().int().min(1).max(LIMITS.tokens).default(24),
    temperature: z.number().min(0).default(0),
    samples: z.number().int().min(1).max(LIMITS.generations).default(1),
  })
  .strict();

export const runConfigSchema = z
  .object({
    /** Where examples come from: the generated suite, or a folder in the JSONL format. */
    data: dataSchema.default({ source: 'suite', preset: 'small', seed: 1, imageSize: 32 }),
    /** Custom judging tasks (plain task definitions, see the README), besides the built-in suite tasks. */
    tasks: z.array(z.record(z.string(), z.unknown())).default([]),
    /** Base checkpoint folder every method starts from. */
    base: z.string().default('models/base'),
    methods: z.array(method).min(1).default(['off-the-shelf', 'sft-unified', 'mt-rl']),
    inDistribution: z.array(z.string()).min(1).default(['naturalness', 'technical', 'rationality', 'alignment', 'preference', 'safety']),
    outOfDistribution: z.array(z.string()).default(['pair-alignment', 'pair-safety']),
    grpo: grpoSchema.prefault({}),
    sft: sftSchema.prefault({}),
    singleTaskSteps: z.number().int().min(1).optional(),
    /** Training runs per method, with training seeds grpo.seed + k / sft.seed + k (k = 0..seeds-1); results give means and 95 % bootstrap intervals. */
    seeds: z.number().int().min(1).max(100).default(1),
    evaluation: evaluationSchema.default({ maxExamplesPerTask: 200, batchSize: 32, maxNewTokens: 24, temperature: 0, samples: 1 }),
    /** 'auto' (CUDA when usable, else the CPU), 'cpu', 'cuda' or 'cuda:N'. */
    device: z.string().default('auto'),
    out: z.string().default('runs/default'),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;

/** Known keys of each object in the config, by path ('' = top level). */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(runConfigSchema.shape),
  data: Object.keys(dataSchema.shape),
  grpo: Object.keys(grpoSchema.shape),
  sft: Object.keys(sftSchema.shape),
  evaluation: Object.keys(evaluationSchema.shape),
};

/** TRL / Hugging Face TrainingArguments names whose counterpart here is not just the camelCase form. */
const TRL_ALIASES: Record<string, string> = {
  ...{ per_device_train_batch_size: 'batchSize', train_batch_size: 'batchSize', lr_scheduler_type: 'lrScheduler', eval_steps: 'evalEvery' },
  ...{ save_steps: 'saveEvery', early_stopping_patience: 'earlyStoppingPatience', steps_per_generation: 'numIterations', num_iterations: 'numIterations' },
  ...{ max_new_tokens: 'maxCompletionLength', adam_beta1: 'adamBeta1', adam_beta2: 'adamBeta2', epsilon_high: 'epsilonHigh', top_p: 'topP', top_k: 'topK', min_p: 'minP' },
};
/** What to know when moving a TRL setting over. */
const ALIAS_NOTES: Record<string, string> = {
  per_device_train_batch_size: 'batchSize counts prompts, TRL counts completions: use TRL batch size / numGenerations',
  train_batch_size: 'batchSize counts prompts, TRL counts completions: use TRL batch size / numGenerations',
};

const camel = (k: string) => k.replace(/[_-]+([a-z0-9])/gi, (_, c: string) => c.toUpperCase());

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** "did you mean …?" for an unknown key at `where` ('' = top level, 'grpo', …), or '' when nothing is close. */
export function suggestKey(key: string, where: string): string {
  const known = KNOWN_KEYS[where] ?? [];
  const alias = TRL_ALIASES[key.toLowerCase()];
  const note = ALIAS_NOTES[key.toLowerCase()];
  const prefix = where ? `${where}.` : '';
  if (alias && known.includes(alias)) return `did you mean ${prefix}${alias}?${note ? ` (${note})` : ''}`;
  const c = camel(key);
  const exact = known.find((k) => k === c || k.toLowerCase() === c.toLowerCase());
  if (exact) return `did you mean ${prefix}${exact}?${exact === 'batchSize' && where === 'grpo' ? ' (batchSize counts prompts, not completions as in TRL)' : ''}`;
  // A training option at the wrong level, e.g. a top-level learningRate.
  if (where === '') {
    const sections = ['grpo', 'sft', 'data', 'evaluation'].filter((sec) => KNOWN_KEYS[sec]!.some((k) => k.toLowerCase() === c.toLowerCase()));
    if (sections.length) return `did you mean ${sections.map((sec) => `${sec}.${KNOWN_KEYS[sec]!.find((k) => k.toLowerCase() === c.toLowerCase())}`).join(' or ')}?`;
  }
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(c.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 4)) ? `did you mean ${prefix}${best}?` : '';
}

/** Human-readable zod errors: `grpo.lossType: expected one of 'grpo' | 'bnpo' | ..., got "x"`; unknown keys get a did-you-mean. */
export function formatConfigError(err: z.ZodError, source: string): string {
  const lines = err.issues.flatMap((i) => {
    const where = i.path.length ? i.path.join('.') : '(root)';
    if (i.code === 'unrecognized_keys') {
      const at = i.path.join('.');
      return i.keys.map((k) => {
        const hint = suggestKey(k, at);
        return `  ${at ? `${at}.` : ''}${k}: unknown field${hint ? `, ${hint}` : ''}`;
      });
    }
    return [`  ${where}: ${i.message}`];
  });
  return `invalid config ${source}:\n${lines.join('\n')}`;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates a plain object; throws ConfigError naming each bad field. */
export function parseRunConfig(raw: unknown, source = '(inline)'): RunConfig {
  // undefined = no config at all (defaults); null or any non-object is an error naming the root.
  const r = runConfigSchema.safeParse(raw === undefined ? {} : raw);
  if (!r.success) throw new ConfigError(formatConfigError(r.error, source));
  return r.data;
}

/** Reads and validates a .json / .yaml / .yml config file. */
export function loadRunConfig(file: string): RunConfig {
  let text: string;
  try {
    text = readRegularFileSync(file, { maxBytes: 16 * 2 ** 20 }).toString('utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as Error).message}`);
  }
  const ext = path.extname(file).toLowerCase();
  let raw: unknown;
  try {
    raw = ext === '.yaml' || ext === '.yml' ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${file} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(`invalid config ${file}: the file must hold an object of settings, got ${raw === undefined ? 'nothing' : Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}`);
  return parseRunConfig(raw, file);
}

/** The built-in tasks plus the config's custom ones (validated: errors name the field). */
export function registryFor(cfg: RunConfig): TaskRegistry {
  const registry = new TaskRegistry();
  cfg.tasks.forEach((t, i) => {
    try {
      registry.register(t as unknown as TaskDefinition);
    } catch (e) {
      throw new ConfigError(`invalid config: tasks[${i}]: ${(e as Error).message}`);
    }
  });
  return registry;
}
