// Turns judging examples into model inputs: the task's prompt after the image tokens, and for
// supervised targets or scored completions the text that follows with its loss mask.
import type { JudgeExample } from '../data/types.js';
import type { JudgeInput } from '../model/batch.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { Task } from '../tasks/task.js';

/** Prompt tokens for an example: `<bos>` then the task prompt (user text never parsed as special tokens). */
export function promptTokens(example: JudgeExample, task: Task, tokenizer: Tokenizer): number[] {
  const text = task.buildPrompt(example);
  return [tokenizer.bosId, ...tokenizer.encode(text, { parseSpecial: false })];
}

/** The images the judge sees for an example, checked against the task's image count. */
export function exampleImages(example: JudgeExample, task: Task): JudgeExample['images'] {
  if (example.images.length !== task.numImages)
    throw new RangeError(
      `example ${example.id}: task "${task.name}" takes ${task.numImages} image(s), the example has ${example.images.length}`,
    );
  return example.images;
}

/** A prompt-only input (for generation). */
export function promptInput(example: JudgeExample, task: Task, tokenizer: Tokenizer): JudgeInput {
  return { images: exampleImages(example, task), tokens: promptTokens(example, task, tokenizer) };
}

/**
 * Prompt + continuation as one training/scoring input: the loss mask is 0 over the prompt and 1 over
 * the continuation (which should end with `<eos>`).
 */
export function promptWithContinuation(prompt: JudgeInput, continuation: ArrayLike<number>): JudgeInput {
  const p = prompt.tokens.length;
  const c = continuation.length;
  const tokens = new Int32Array(p + c);
  const lossMask = new Float32Array(p + c);
  for (let i = 0; i < p; i++) tokens[i] = prompt.tokens[i]!;
  for (let i = 0; i < c; i++) {
    tokens[p + i] = continuation[i]!;
    lossMask[p + i] = 1;
  }
  return { images: prompt.images, tokens, lossMask };
}

/**
 * A supervised example: prompt, then the task's target text for the label and `<eos>`.
 * `reasoning` puts text in the think block; by default the target is answer-only (the paper's SFT baselines).
 */
export function supervisedInput(
  example: JudgeExample,
  task: Task,
  tokenizer: Tokenizer,
  opts: { reasoning?: string } = {},
): JudgeInput {
  const prompt = promptInput(example, task, tokenizer);
  const target = task.targetText(example.label, opts.reasoning !== undefined ? { reasoning: opts.reasoning } : {});
  return promptWithContinuation(prompt, [...tokenizer.encode(target), tokenizer.eosId]);
}

/** Decodes a generated completion to text, stopping at (and dropping) `<eos>` and padding. */
export function completionText(ids: ArrayLike<number>, tokenizer: Tokenizer): string {
  const kept: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id === tokenizer.eosId) break;
    if (id === tokenizer.padId) continue;
    kept.push(id);
  }
  return tokenizer.decode(kept);
}
