// The model side of `mtrl-judge serve`: judges a batch of requests that may differ in temperature,
// token budget and number of samples, on one loaded JudgeEngine (model + tokenizer + tasks).
// Requests with the same decoding settings share one generate call (one prefill, batched decode);
// a request that makes its generate call fail is retried alone, so one bad request never fails the
// others. Runs on the serve worker thread (serve-worker.ts).
import type { RgbImage } from '../data/types.js';
import { completionText, promptTokens } from '../judging/encode.js';
import type { JudgeEngine, JudgeVerdict } from '../judge/engine.js';
import { parseJudgeOutput } from '../rewards/parse.js';

/** One request as the worker receives it (images already decoded). */
export interface ServeItem {
  task: string;
  images: RgbImage[];
  prompt?: string;
  /** 0 = greedy. */
  temperature: number;
  maxNewTokens: number;
  /** Independent completions to draw (≥ 1). */
  samples: number;
}

/** One sampled judgment: the Judge API's verdict plus the generated tokens as text pieces. */
export interface SampleResult extends JudgeVerdict {
  /** Each generated token decoded on its own, aligned with `logprobs` (the last is EOS when `finished`). */
  tokens: string[];
  /** Whether generation stopped at end-of-sequence (false: it hit the token budget). */
  finished: boolean;
}

export interface ItemResult {
  samples: SampleResult[];
  /** Prompt length in text tokens (image patches not counted). */
  promptTokens: number;
}

export type ItemOutcome = { ok: true; value: ItemResult } | { ok: false; error: { name: string; message: string } };

function serializeError(e: unknown): { name: string; message: string } {
  return e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
}

export class ServeEngine {
  readonly engine: JudgeEngine;
  #calls = 0;

  constructor(engine: JudgeEngine) {
    this.engine = engine;
  }

  /** Judges a batch; every item gets its own outcome. */
  run(items: readonly ServeItem[]): ItemOutcome[] {
    const out: ItemOutcome[] = new Array(items.length);
    const groups = new Map<string, number[]>();
    items.forEach((it, i) => {
      try {
        this.engine.check({ task: it.task, images: it.images, ...(it.prompt !== undefined ? { prompt: it.prompt } : {}) });
        if (!(Number.isFinite(it.temperature) && it.temperature >= 0)) throw new RangeError(`temperature must be a number ≥ 0, got ${it.temperature}`);
        if (!(Number.isInteger(it.maxNewTokens) && it.maxNewTokens >= 1)) throw new RangeError(`max_tokens must be an integer ≥ 1, got ${it.maxNewTokens}`);
        if (!(Number.isInteger(it.samples) && it.samples >= 1)) throw new RangeError(`samples must be an integer ≥ 1, got ${it.samples}`);
      } catch (e) {
        out[i] = { ok: false, error: serializeError(e) };
        return;
      }
      const key = `${it.temperature}|${it.maxNewTokens}`;
      const g = groups.get(key) ?? [];
      g.push(i);
      groups.set(key, g);
    });
    for (const idx of groups.values()) {
      try {
        const res = this.#generate(idx.map((i) => items[i]!));
        idx.forEach((i, j) => (out[i] = { ok: true, value: res[j]! }));
      } catch (e) {
        if (idx.length === 1) {
          out[idx[0]!] = { ok: false, error: serializeError(e) };
          continue;
        }
        // Isolate the failure: judge each request of the group on its own.
        for (const i of idx) {
          try {
            out[i] = { ok: true, value: this.#generate([items[i]!])[0]! };
          } catch (e2) {
            out[i] = { ok: false, error: serializeError(e2) };
          }
        }
      }
    }
    return out;
  }

  /** One generate call for items sharing temperature and token budget (samples expand to rows). */
  #generate(items: readonly ServeItem[]): ItemResult[] {
    const { model, tokenizer, registry } = this.engine;
    const rows: Array<{ item: number; images: RgbImage[]; tokens: number[] }> = [];
    const promptLens: number[] = [];
    items.forEach((it, k) => {
      const task = registry.get(it.task);
      const example = { id: 'request', task: it.task, format: task.format, images: it.images, label: 0, ...(it.prompt !== undefined ? { prompt: it.prompt } : {}) };
      const tokens = promptTokens(example, task, tokenizer);
      promptLens.push(tokens.length);
      for (let s = 0; s < it.samples; s++) rows.push({ item: k, images: it.images, tokens });
    });
    const first = items[0]!;
    const res = model.generate(
      rows.map((r) => ({ images: r.images, tokens: r.tokens })),
      {
        maxNewTokens: first.maxNewTokens,
        eosId: tokenizer.eosId,
        temperature: first.temperature,
        seed: this.engine.opts.seed,
        offset: this.#calls++ * 1_000_003,
      },
    );
    const results: ItemResult[] = items.map((_, k) => ({ samples: [], promptTokens: promptLens[k]! }));
    rows.forEach((r, n) => {
      const task = registry.get(items[r.item]!.task);
      const ids = res.completion(n);
      const raw = completionText(ids, tokenizer);
      const strict = parseJudgeOutput(raw, { mode: 'strict' });
      const parsed = strict.ok ? strict : parseJudgeOutput(raw, { mode: 'lenient' });
      const label = parsed.answer === null ? null : task.parseVerdict(parsed.answer);
      const logprobs: number[] = [];
      const pieces: string[] = [];
      for (let t = 0; t < res.lengths[n]!; t++) {
        logprobs.push(res.rawLogprobs[n * res.maxNewTokens + t]!);
        pieces.push(tokenizer.decode([ids[t]!]));
      }
      results[r.item]!.samples.push({
        verdict: label === null ? null : task.verdictFor(label),
        label,
        reasoning: parsed.think,
        raw,
        formatOk: strict.ok,
        logprobs,
        tokens: pieces,
        finished: res.finishedByEos[n] === 1,
      });
    });
    return results;
  }
}
