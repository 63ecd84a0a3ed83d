// SftTrainer: supervised fine-tuning of a judge on label targets — answer-only (`<answer>v</answer>`,
// as the paper's SFT baselines) or full targets with a think block — through the fused policy-loss
// kernel's 'nll' mode (token NLL over the target tokens only; the prompt is never trained on). Also
// used as an optional warm-up before GRPO. Batches come from the MultiTaskScheduler (a shuffled union
// of the tasks by default, i.e. SFT-Unified; one task = SFT-Single). Mini-batching never changes the
// gradient (each mini-batch is normalised by the whole step's token count). A step whose hidden
// states, loss or gradient norm is not finite is skipped and reported.
import type { JudgeExample } from '../data/types.js';
import { supervisedInput } from '../judging/encode.js';
import type { JudgeInput } from '../model/batch.js';
import type { Task } from '../tasks/task.js';
import { resolveSftConfig, type SftConfig } from './config.js';
import { JudgeTrainer, type JudgeTrainerOptions, type JudgeTrainerState } from './trainer.js';

export type { SftConfig } from './config.js';
export { SFT_DEFAULTS } from './config.js';

export interface SftTrainerOptions extends JudgeTrainerOptions<SftConfig, SftStepMetrics> {
  /** Reasoning text for 'reasoning' targets (default: `Checking <task name>.`). */
  reasoning?: (example: JudgeExample, task: Task) => string;
}

export interface SftStepMetrics {
  step: number;
  /** Mean token NLL over the step's target tokens. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Target tokens trained on. */
  tokens: number;
  skipped: boolean;
  skipReason?: string;
  /** Examples of each task in this step. */
  perTask: Record<string, number>;
  tokensPerSecond: number;
  seconds: number;
}

/** What a checkpoint needs besides the model and optimizer tensors (JSON-safe). */
export type SftTrainerState = JudgeTrainerState;

export class SftTrainer extends JudgeTrainer<SftConfig, SftStepMetrics> {
  readonly #reasoning: SftTrainerOptions['reasoning'];

  constructor(opts: SftTrainerOptions) {
    super('SftTrainer', opts, (partial) => resolveSftConfig(partial as Partial<SftConfig>));
    this.#reasoning = opts.reasoning;
  }

  /** The training input of one example: prompt (mask 0), then its target and `<eos>` (mask 1). */
  input(example: JudgeExample): JudgeInput {
    const task = this.tasks.get(example.task);
    if (!task) throw new RangeError(`SftTrainer.input: example ${example.id} has task "${example.task}", which is not among the tasks given`);
    const reasoning = this.config.target === 'reasoning' ? (this.#reasoning?.(example, task) ?? `Checking ${task.name}.`) : undefined;
    return supervisedInput(example, task, this.tokenizer, reasoning !== undefined ? { reasoning } : {});
  }

  /** One optimizer step on the next scheduled batch. */
  trainStep(): SftStepMetrics {
    const t0 = performance.now();
    const items = this.draw();
    const perTask: Record<string, number> = {};
    for (const it of items) perTask[it.task.name] = (perTask[it.task.name] ?? 0) + 1;
    const u = this.nllStep(items.map((it) => this.input(it.example)), this.config.miniBatchSize);
    this.steps++;
    const seconds = (performance.now() - t0) / 1000;
    return this.record({
      step: this.steps,
      loss: u.loss,
      lr: u.lr,
      gradNorm: u.gradNorm,
      tokens: u.tokens,
      skipped: u.bad !== undefined,
      ...(u.bad !== undefined ? { skipReason: `${u.bad}: update skipped` } : {}),
      perTask,
      tokensPerSecond: u.tokens / seconds,
      seconds,
    });
  }
}
