// A tiny judge checkpoint and request helpers for the serve tests (loopback only).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePng } from '../lib/data/images.js';
import { generateExamples } from '../lib/data/suite.js';
import type { JudgeExample } from '../lib/data/types.js';
import { trainBpe } from '../lib/model/bpe-train.js';
import { saveCheckpoint } from '../lib/model/checkpoint.js';
import { makeConfig, TINY_CONFIG } from '../lib/model/config.js';
import { JudgeModel } from '../lib/model/judge-model.js';
import { TaskRegistry } from '../lib/tasks/registry.js';

export interface Fixture {
  dir: string;
  tmp: string;
  examples: JudgeExample[];
  /** Per example: its images as data URLs. */
  dataUrls: string[][];
}

export async function makeFixture(): Promise<Fixture> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-serve-'));
  const dir = path.join(tmp, 'judge');
  const registry = new TaskRegistry();
  const opts = { seed: 7, sizes: 'small' as const, corpus: false };
  const examples = [
    ...generateExamples('safety', 'test', opts, 5),
    ...generateExamples('alignment', 'test', opts, 5),
    ...generateExamples('technical', 'test', opts, 3),
    ...generateExamples('pair-safety', 'test', opts, 3),
  ];
  const texts = examples.map((e) => registry.get(e.task).buildPrompt(e));
  texts.push('<think>a red circle</think><answer>yes</answer>', 'no', 'safe unsafe A B');
  const tokenizer = trainBpe(texts, { vocabSize: 300 });
  const config = makeConfig(
    { ...TINY_CONFIG, visionDim: undefined, visionHeads: undefined, visionFF: undefined, dModel: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, dFF: 64, maxSeqLen: 400 },
    { vocabSize: tokenizer.vocabSize, imageTokenId: tokenizer.imageId },
  );
  const model = new JudgeModel(config, { seed: 11 });
  saveCheckpoint(dir, { model, tokenizer });
  model.dispose();
  const dataUrls = await Promise.all(examples.map((e) => Promise.all(e.images.map(async (img) => `data:image/png;base64,${(await encodePng(img)).toString('base64')}`))));
  return { dir, tmp, examples, dataUrls };
}

/** The /v1/judge body of example i. */
export function judgeBody(f: Fixture, i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const e = f.examples[i]!;
  return { task: e.task, images: f.dataUrls[i], ...(e.prompt ? { prompt: e.prompt } : {}), ...extra };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json, headers: res.headers };
}

// SSE events are free-form JSON objects; the tests check their fields.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SseEvent = Record<string, any>;

/**
 * POSTs and reads a Server-Sent Events answer as a client does: the body as it arrives, split into
 * events at blank lines, the `data:` lines of an event joined with newlines, until `data: [DONE]`.
 */
export async function postSse(url: string, body: unknown): Promise<{ status: number; contentType: string | null; events: SseEvent[]; done: boolean; reads: number }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(body) });
  const events: SseEvent[] = [];
  let done = false;
  let reads = 0;
  let buf = '';
  let data: string[] = [];
  const decoder = new TextDecoder();
  const line = (l: string) => {
    if (l === '') {
      if (data.length > 0) {
        const text = data.join('\n');
        if (done) throw new Error(`an event after [DONE]: ${text}`);
        if (text === '[DONE]') done = true;
        else events.push(JSON.parse(text) as SseEvent);
      }
      data = [];
    } else if (l.startsWith('data:')) data.push(l.slice(5).replace(/^ /, ''));
    else if (!l.startsWith(':') && !/^(event|id|retry):/.test(l)) throw new Error(`not an SSE line: ${l}`);
  };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    reads++;
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      line(buf.slice(0, nl));
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
    }
  }
  if (buf !== '') line(buf);
  line('');
  return { status: res.status, contentType: res.headers.get('content-type'), events, done, reads };
}
