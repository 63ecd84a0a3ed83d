// JudgeEngine: a loaded judge (model + tokenizer + tasks) that answers batches of judging requests
// synchronously. The Judge class runs one of these on a worker thread; the CLI uses it directly.
import type { RgbImage } from '../data/types.js';
import type { Device } from '../device.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { numImageTokens } from '../model/config.js';
import type { JudgeModel } from '../model/judge-model.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { parseJudgeOutput } from '../rewards/parse.js';
import { TaskRegistry } from '../tasks/registry.js';
import type { TaskDefinition } from '../tasks/task.js';
import { completionText, promptTokens } from '../judging/encode.js';

/** A judging request with decoded images. */
export interface EngineRequest {
  task: string;
  images: RgbImage[];
  /** The text-to-image prompt or text being judged, for tasks that use one. */
  prompt?: string;
}

export interface JudgeVerdict {
  /** The canonical verdict word ("yes", "B", "unsafe", …) or null when none could be parsed. */
  verdict: string | null;
  /** The label the verdict means (binary 1 = yes; pairwise 0 = first image) or null. */
  label: number | null;
  /** The text inside <think>, or null. */
  reasoning: string | null;
  /** The whole generated text. */
  raw: string;
  /** Whether the output had exactly the <think>…</think><answer>…</answer> structure. */
  formatOk: boolean;
  /** Log-probability of each generated token (under the model's raw distribution). */
  logprobs: number[];
}

export interface EngineOptions {
  device?: Device;
  /** Most generated tokens. Default 48. */
  maxNewTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  seed?: number;
  /** Extra task definitions beyond the built-in suite tasks. */
  tasks?: TaskDefinition[];
}

export class JudgeEngine {
  readonly model: JudgeModel;
  readonly tokenizer: Tokenizer;
  readonly registry: TaskRegistry;
  readonly opts: Required<Omit<EngineOptions, 'tasks' | 'device'>>;
  #calls = 0;
  #tokens = new WeakMap<EngineRequest, { task: string; prompt: string | undefined; ids: number[] }>();

  constructor(model: JudgeModel, tokenizer: Tokenizer, opts: EngineOptions = {}) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.registry = new TaskRegistry();
    for (const t of opts.tasks ?? []) this.registry.register(t);
    this.opts = { maxNewTokens: opts.maxNewTokens ?? 48, temperature: opts.temperature ?? 0, seed: opts.seed ?? 0 };
  }

  static load(dir: string, opts: EngineOptions = {}): JudgeEngine {
    const ck = loadCheckpoint(dir, { device: opts.device ?? 'cpu', skipOptimizer: true });
    if (!ck.tokenizer) throw new Error(`Judge.load: ${dir} has no tokenizer.json; a judge checkpoint needs one`);
    return new JudgeEngine(ck.model, ck.tokenizer, opts);
  }

  /** Validates a request (task known, image count right, prompt present when needed). */
  check(req: EngineRequest, where = 'evaluate'): void {
    if (!req || typeof req !== 'object') throw new TypeError(`${where}: request must be an object { task, images, prompt? }`);
    if (typeof req.task !== 'string' || !this.registry.has(req.task))
      throw new RangeError(`${where}: task must be one of ${this.registry.names().join(', ')}, got ${JSON.stringify(req.task)}`);
    const task = this.registry.get(req.task);
    if (!Array.isArray(req.images) || req.images.length !== task.numImages)
      throw new RangeError(`${where}: task "${task.name}" needs ${task.numImages} image(s), got ${Array.isArray(req.images) ? req.images.length : typeof req.images}`);
    if (task.definition.question.includes('{prompt}') && (typeof req.prompt !== 'string' || req.prompt.length === 0))
      throw new TypeError(`${where}: task "${task.name}" judges an image against a text prompt: pass prompt`);
    if (req.prompt !== undefined && typeof req.prompt !== 'string') throw new TypeError(`${where}: prompt must be a string, got ${typeof req.prompt}`);
    // Each request is checked against the sequence budget on its own, so an over-long one fails
    // alone instead of failing the whole batch inside generate.
    const c = this.model.config;
    const imageTokens = req.images.length * numImageTokens(c);
    const budget = c.maxSeqLen - imageTokens - this.opts.maxNewTokens;
    // A text token is at least one character, so a prompt this long cannot fit: refuse before tokenizing.
    const chars = (req.prompt?.length ?? 0) + task.definition.question.length;
    if (budget < 1 || chars > 64 * c.maxSeqLen)
      throw new RangeError(`${where}: the prompt is too long for this model (${chars} characters; at most ${Math.max(budget, 0)} text tokens fit in config.maxSeqLen ${c.maxSeqLen} after ${imageTokens} image tokens and maxNewTokens ${this.opts.maxNewTokens})`);
    const n = this.#promptTokens(req).length;
    if (n > budget)
      throw new RangeError(
        `${where}: the prompt is too long for this model: ${n} text tokens + ${imageTokens} image tokens + maxNewTokens ${this.opts.maxNewTokens} = ${n + imageTokens + this.opts.maxNewTokens} positions, config.maxSeqLen is ${c.maxSeqLen}`,
      );
  }

  /** Prompt tokens of a request, computed once per request object (check() then run()). */
  #promptTokens(r: EngineRequest): number[] {
    const hit = this.#tokens.get(r);
    if (hit && hit.task === r.task && hit.prompt === r.prompt) return hit.ids;
    const task = this.registry.get(r.task);
    const example = { id: 'request', task: r.task, format: task.format, images: r.images, label: 0, ...(r.prompt !== undefined ? { prompt: r.prompt } : {}) };
    const ids = promptTokens(example, task, this.tokenizer);
    this.#tokens.set(r, { task: r.task, prompt: r.prompt, ids });
    return ids;
  }

  /** Judges a batch (one generate call). */
  run(reqs: readonly EngineRequest[]): JudgeVerdict[] {
    if (reqs.length === 0) return [];
    reqs.forEach((r, i) => this.check(r, `evaluate (request ${i})`));
    const inputs = reqs.map((r) => ({ images: r.images, tokens: this.#promptTokens(r) }));
    const res = this.model.generate(inputs, {
      maxNewTokens: this.opts.maxNewTokens,
      eosId: this.tokenizer.eosId,
      temperature: this.opts.temperature,
      seed: this.opts.seed,
      offset: this.#calls++ * 1_000_003,
    });
    return reqs.map((r, i) => {
      const task = this.registry.get(r.task);
      const ids = res.completion(i);
      const raw = completionText(ids, this.tokenizer);
      const strict = parseJudgeOutput(raw, { mode: 'strict' });
      const parsed = strict.ok ? strict : parseJudgeOutput(raw, { mode: 'lenient' });
      const label = parsed.answer === null ? null : task.parseVerdict(parsed.answer);
      const lp: number[] = [];
      for (let t = 0; t < res.lengths[i]!; t++) lp.push(res.rawLogprobs[i * res.maxNewTokens + t]!);
      return { verdict: label === null ? null : task.verdictFor(label), label, reasoning: parsed.think, raw, formatOk: strict.ok, logprobs: lp };
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}
