// The Task: one judging task (its prompt, criterion, verdict vocabulary, label space and rewards),
// built from a plain, validated definition object so users can add tasks without subclassing.
//
// A Task knows nothing about models or tensors: it turns a JudgeExample into the text the judge reads
// after the image tokens, and turns the judge's answer text back into a label.
import { z } from 'zod';
import type { JudgeExample, JudgeFormat } from '../data/types.js';
import {
  ScoreScale,
  VerdictVocabulary,
  choiceVerdicts,
  pairwiseVerdicts,
  yesNoVerdicts,
  type VerdictEntry,
  type VerdictParseOptions,
} from './verdicts.js';

/**
 * A reward component by name, as plain data (resolved by lib/rewards). `weight` multiplies an
 * additive component (default 1); `gate: true` makes it multiply the total instead (e.g. a length
 * limit); `params` are the component's options (e.g. `{ maxTokens: 256 }`).
 */
export interface RewardSpec {
  name: string;
  weight?: number;
  gate?: boolean;
  params?: Record<string, unknown>;
}

/** The paper's reward: R = (1 − α)·acc + α·format, as two components so each is logged separately. */
export function paperRewards(alpha = 0.1): RewardSpec[] {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`paperRewards: alpha: expected a number in [0, 1], got ${alpha}`);
  return [
    { name: 'accuracy', weight: 1 - alpha },
    { name: 'format', weight: alpha },
  ];
}

/** The plain object a task is made from (what `TaskRegistry.register` accepts). */
export interface TaskDefinition {
  /** Unique name: letters, digits, '-', '_' (e.g. "pair-safety"). */
  name: string;
  format: JudgeFormat;
  /** One line for humans (tables, docs). */
  description?: string;
  /**
   * The question, with optional placeholders: `{prompt}` (the example's T2I prompt; required to be
   * present in the example when used), `{criterion}`, `{options}` (choice tasks). The output-format
   * instruction is appended unless `instruction` replaces it.
   */
  question: string;
  /** The judging criterion or policy, substituted for `{criterion}`. */
  criterion?: string;
  /** Replaces the default instruction. Placeholders: `{verdicts}` (e.g. "yes or no"). */
  instruction?: string;
  /** Images per example. Default: 2 for pairwise, else 1. */
  numImages?: number;
  /** Verdicts for binary / pairwise tasks. Default yes/no (binary) or A/B (pairwise). */
  verdicts?: VerdictEntry[];
  /** Option texts of a choice task (labels 0..n-1 ↔ letters A..). */
  options?: string[];
  /** Score tasks: the scale, default [1, 5]. */
  scoreRange?: [number, number];
  /** Score tasks: a verdict is correct when |score − label| ≤ scoreTolerance (default 0). */
  scoreTolerance?: number;
  /** Reward components; default `paperRewards(0.1)`. */
  rewards?: RewardSpec[];
}

export interface TargetOptions {
  /** Reasoning to put in the think block. Omitted → an answer-only target (`<answer>…</answer>`). */
  reasoning?: string;
}

/** One judging task. Create with `createTask(definition)` or take one from a `TaskRegistry`. */
export interface Task {
  readonly name: string;
  readonly format: JudgeFormat;
  readonly description: string;
  readonly numImages: number;
  readonly criterion: string | undefined;
  /** The discrete label space (binary, pairwise, choice); null for score tasks. */
  readonly labels: readonly number[] | null;
  /** Score tasks: [min, max]; null otherwise. */
  readonly scoreRange: readonly [number, number] | null;
  readonly scoreTolerance: number;
  /** The reward components this task trains with. */
  readonly rewards: readonly RewardSpec[];
  /** The definition it was built from (for serialising a registry). */
  readonly definition: Readonly<TaskDefinition>;
  /** The text the judge reads after the image tokens: question, criterion, output instruction. */
  buildPrompt(example: JudgeExample): string;
  /** The label an answer (the text inside <answer>) means, or null. Score tasks return the score. */
  parseVerdict(answer: string, opts?: VerdictParseOptions): number | null;
  /** The canonical verdict string for a label (score tasks: the score). */
  verdictFor(label: number): string;
  /** An SFT target for a label: `<think>reasoning</think><answer>v</answer>`, or `<answer>v</answer>`. */
  targetText(label: number, opts?: TargetOptions): string;
  /** Whether a parsed verdict is right for the example. */
  isCorrect(verdict: number, example: JudgeExample): boolean;
}

const PLACEHOLDERS = new Set(['prompt', 'criterion', 'options']);
const INSTRUCTION_PLACEHOLDERS = new Set(['verdicts']);
export const DEFAULT_INSTRUCTION = 'Think in <think></think>, then answer {verdicts} in <answer></answer>.';

const rewardSpecSchema = z
  .object({
    name: z.string().min(1),
    weight: z.number().finite().optional(),
    gate: z.boolean().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const verdictEntrySchema = z
  .object({
    label: z.number().int(),
    verdict: z.string().min(1),
    synonyms: z.array(z.string()).optional(),
  })
  .strict();

const definitionSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected letters, digits, "-" or "_", starting with a letter or digit'),
    format: z.enum(['binary', 'pairwise', 'score', 'choice']),
    description: z.string().optional(),
    question: z.string().min(1),
    criterion: z.string().optional(),
    instruction: z.string().optional(),
    numImages: z.number().int().min(1).max(16).optional(),
    verdicts: z.array(verdictEntrySchema).optional(),
    options: z.array(z.string().min(1)).optional(),
    scoreRange: z.tuple([z.number().finite(), z.number().finite()]).optional(),
    scoreTolerance: z.number().finite().min(0).optional(),
    rewards: z.array(rewardSpecSchema).optional(),
  })
  .strict();

function placeholdersOf(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => m[1]!);
}

function joinOr(words: readonly string[]): string {
  if (words.length <= 2) return words.join(' or ');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/**
 * Validates a plain definition and builds the Task.
 * @throws TypeError naming the field and what was expected.
 */
export function createTask(definition: TaskDefinition, owner = 'createTask'): Task {
  const parsed = definitionSchema.safeParse(definition);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `definition.${issue.path.join('.')}` : 'definition';
    throw new TypeError(`${owner}: ${where}: ${issue.message}`);
  }
  const def = parsed.data as TaskDefinition;
  const who = `${owner}("${def.name}")`;

  for (const p of placeholdersOf(def.question)) {
    if (!PLACEHOLDERS.has(p)) throw new TypeError(`${who}: definition.question: unknown placeholder {${p}} (known: {prompt}, {criterion}, {options})`);
  }
  if (def.instruction !== undefined) {
    for (const p of placeholdersOf(def.instruction)) {
      if (!INSTRUCTION_PLACEHOLDERS.has(p)) throw new TypeError(`${who}: definition.instruction: unknown placeholder {${p}} (known: {verdicts})`);
    }
  }
  if (def.question.includes('{criterion}') && def.criterion === undefined) {
    throw new TypeError(`${who}: definition.criterion: the question uses {criterion} but no criterion is given`);
  }
  if (def.question.includes('{options}') && def.format !== 'choice') {
    throw new TypeError(`${who}: definition.question: {options} is only for choice tasks`);
  }

  const numImages = def.numImages ?? (def.format === 'pairwise' ? 2 : 1);
  if (def.format === 'pairwise' && numImages !== 2) {
    throw new TypeError(`${who}: definition.numImages: a pairwise task compares exactly 2 images, got ${numImages}`);
  }

  // The verdict side: a discrete vocabulary, or a score scale.
  let vocab: VerdictVocabulary | null = null;
  let scale: ScoreScale | null = null;
  switch (def.format) {
    case 'binary':
      vocab = new VerdictVocabulary(def.verdicts ?? yesNoVerdicts(), who);
      if (vocab.labels.length !== 2) throw new TypeError(`${who}: definition.verdicts: a binary task needs exactly 2 labels, got ${vocab.labels.length}`);
      break;
    case 'pairwise':
      vocab = new VerdictVocabulary(def.verdicts ?? pairwiseVerdicts(), who);
      if ([...vocab.labels].sort().join() !== '0,1') {
        throw new TypeError(`${who}: definition.verdicts: a pairwise task's labels are 0 (first image) and 1 (second), got ${vocab.labels.join(', ')}`);
      }
      break;
    case 'choice': {
      if (def.options === undefined || def.options.length < 2) throw new TypeError(`${who}: definition.options: a choice task needs at least 2 options`);
      vocab = new VerdictVocabulary(def.verdicts ?? choiceVerdicts(def.options.length), who);
      const want = def.options.map((_, i) => i).join();
      if ([...vocab.labels].sort((a, b) => a - b).join() !== want) {
        throw new TypeError(`${who}: definition.verdicts: a choice task's labels are 0..${def.options.length - 1}, got ${vocab.labels.join(', ')}`);
      }
      break;
    }
    case 'score': {
      if (def.verdicts !== undefined) throw new TypeError(`${who}: definition.verdicts: a score task's verdict is a number; use scoreRange instead`);
      const [lo, hi] = def.scoreRange ?? [1, 5];
      scale = new ScoreScale(lo, hi, who);
      break;
    }
  }
  if (def.format !== 'score' && (def.scoreRange !== undefined || def.scoreTolerance !== undefined)) {
    throw new TypeError(`${who}: definition.scoreRange/scoreTolerance: only for score tasks`);
  }
  if (def.format !== 'choice' && def.options !== undefined) {
    throw new TypeError(`${who}: definition.options: only for choice tasks`);
  }
  for (const [i, r] of (def.rewards ?? []).entries()) {
    if (r.gate && r.weight !== undefined && r.weight !== 1) {
      throw new TypeError(`${who}: definition.rewards[${i}]: a gate multiplies the total; it has no weight (got ${r.weight})`);
    }
  }

  const verdictWords = vocab !== null ? joinOr(vocab.verdicts) : `a score from ${scale!.min} to ${scale!.max}`;
  const instruction = (def.instruction ?? DEFAULT_INSTRUCTION).replaceAll('{verdicts}', verdictWords);
  const optionsText = def.options?.map((o, i) => `${String.fromCharCode(65 + i)}) ${o}`).join(' ') ?? '';
  const scoreTolerance = def.scoreTolerance ?? 0;
  const rewards = Object.freeze((def.rewards ?? paperRewards(0.1)).map((r) => Object.freeze({ ...r })));

  const task: Task = {
    name: def.name,
    format: def.format,
    description: def.description ?? def.name,
    numImages,
    criterion: def.criterion,
    labels: vocab !== null ? vocab.labels : null,
    scoreRange: scale !== null ? ([scale.min, scale.max] as const) : null,
    scoreTolerance,
    rewards,
    definition: Object.freeze({ ...def }),

    buildPrompt(example: JudgeExample): string {
      if (example === null || typeof example !== 'object') throw new TypeError(`Task("${def.name}").buildPrompt: example: expected a JudgeExample object`);
      if (example.format !== undefined && example.format !== def.format) {
        throw new TypeError(`Task("${def.name}").buildPrompt: example "${example.id}" has format "${example.format}", the task expects "${def.format}"`);
      }
      if (Array.isArray(example.images) && example.images.length > 0 && example.images.length !== numImages) {
        throw new TypeError(`Task("${def.name}").buildPrompt: example "${example.id}" has ${example.images.length} images, the task expects ${numImages}`);
      }
      let q = def.question;
      if (q.includes('{prompt}')) {
        if (typeof example.prompt !== 'string' || example.prompt.trim() === '') {
          throw new TypeError(`Task("${def.name}").buildPrompt: example "${example.id}" has no prompt, but the task's question needs {prompt}`);
        }
        q = q.replaceAll('{prompt}', example.prompt.trim());
      }
      q = q.replaceAll('{criterion}', def.criterion ?? '').replaceAll('{options}', optionsText);
      // Collapse runs of spaces left by empty placeholders; keep line breaks (a policy may be a list).
      return `${q.trim()} ${instruction}`.replace(/[ \t]+/g, ' ').replace(/ ?\n ?/g, '\n');
    },

    parseVerdict(answer: string, opts?: VerdictParseOptions): number | null {
      if (typeof answer !== 'string') throw new TypeError(`Task("${def.name}").parseVerdict: answer: expected a string, got ${typeof answer}`);
      return vocab !== null ? vocab.parse(answer, opts) : scale!.parse(answer, opts);
    },

    verdictFor(label: number): string {
      if (vocab !== null) {
        if (!vocab.has(label)) throw new RangeError(`Task("${def.name}").verdictFor: label ${label} is not one of ${vocab.labels.join(', ')}`);
        return vocab.canonical(label);
      }
      if (!Number.isFinite(label) || label < scale!.min || label > scale!.max) {
        throw new RangeError(`Task("${def.name}").verdictFor: score ${label} is outside [${scale!.min}, ${scale!.max}]`);
      }
      return scale!.canonical(label);
    },

    targetText(label: number, opts: TargetOptions = {}): string {
      const v = task.verdictFor(label);
      if (opts.reasoning === undefined) return `<answer>${v}</answer>`;
      if (/<\/?(think|answer)>/i.test(opts.reasoning)) {
        throw new TypeError(`Task("${def.name}").targetText: reasoning must not contain <think>/<answer> tags`);
      }
      return `<think>${opts.reasoning}</think><answer>${v}</answer>`;
    },

    isCorrect(verdict: number, example: JudgeExample): boolean {
      if (!Number.isFinite(example.label)) throw new TypeError(`Task("${def.name}").isCorrect: example "${example.id}".label: expected a number, got ${String(example.label)}`);
      if (scale !== null) return Math.abs(verdict - example.label) <= scoreTolerance + 1e-9;
      return verdict === example.label;
    },
  };
  return Object.freeze(task);
}

/**
 * The same pair in the other order: images (and paths) swapped, label 1 − label, id suffixed with
 * "~swapped". Used for position-consistency rewards and position-swap metrics.
 */
export function swapPair(example: JudgeExample): JudgeExample {
  if (example.format !== 'pairwise') throw new TypeError(`swapPair: example "${example.id}" has format "${example.format}", expected "pairwise"`);
  if (example.images.length !== 2 && !(example.images.length === 0 && example.imagePaths?.length === 2)) {
    throw new TypeError(`swapPair: example "${example.id}" has ${example.images.length} images, expected 2`);
  }
  if (example.label !== 0 && example.label !== 1) throw new RangeError(`swapPair: example "${example.id}".label: expected 0 or 1, got ${example.label}`);
  const swapped: JudgeExample = {
    ...example,
    id: `${example.id}~swapped`,
    images: [...example.images].reverse(),
    label: 1 - example.label,
  };
  if (example.imagePaths !== undefined) swapped.imagePaths = [...example.imagePaths].reverse();
  return swapped;
}
