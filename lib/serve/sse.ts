// Streaming chat completions (`"stream": true`): Server-Sent Events in OpenAI's chunk format.
//
// The judge's generate call produces the whole completion of a batch at once (one prefill, then
// batched decode inside the native model), so the server streams a finished completion: one chunk per
// generated token (or run of tokens, where token pieces do not line up with the decoded text), sent
// right after generation. Every error happens before the first byte and is an ordinary JSON error.
//
//   data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}
//   data: {... "delta":{"content":"<think>"} ...}           one per token (logprobs per chunk if asked)
//   data: {... "delta":{},"finish_reason":"stop","judgment":{...}}
//   data: {... "choices":[],"usage":{...}}                   only with stream_options.include_usage
//   data: [DONE]
import type http from 'node:http';

/** A route's answer to send as Server-Sent Events. */
export class SseBody {
  constructor(readonly events: readonly unknown[]) {}
}

/** Text chunks of `raw` along token boundaries: each chunk is one or more consecutive `pieces`; the chunks join to `raw`. */
export function textChunks(raw: string, pieces: readonly string[]): Array<{ text: string; tokens: number[] }> {
  const out: Array<{ text: string; tokens: number[] }> = [];
  let pos = 0;
  let acc = '';
  let toks: number[] = [];
  pieces.forEach((p, i) => {
    acc += p;
    toks.push(i);
    // A piece that is part of a multi-byte character decodes to U+FFFD on its own: wait until the
    // pieces so far spell the next part of `raw`.
    if (acc !== '' && raw.startsWith(acc, pos)) {
      out.push({ text: acc, tokens: toks });
      pos += acc.length;
      acc = '';
      toks = [];
    }
  });
  if (pos < raw.length || toks.length > 0) {
    if (pos < raw.length || out.length === 0) out.push({ text: raw.slice(pos), tokens: toks });
    else out.at(-1)!.tokens.push(...toks); // tokens that added no text (e.g. padding)
  }
  return out;
}

export interface StreamChoice {
  raw: string;
  /** Generated tokens as text pieces, end-of-sequence excluded. */
  pieces: readonly string[];
  logprobs: readonly number[];
  finishReason: 'stop' | 'length';
  judgment: Record<string, unknown>;
}

/** The chunk events of a chat completion, choice after choice (each chunk names its choice's index). */
export function chatCompletionChunks(o: {
  id: string;
  created: number;
  model: string;
  choices: readonly StreamChoice[];
  logprobs: boolean;
  usage?: Record<string, number>;
}): unknown[] {
  const withUsage = o.usage !== undefined;
  const chunk = (choices: unknown[]) => ({ id: o.id, object: 'chat.completion.chunk', created: o.created, model: o.model, choices, ...(withUsage ? { usage: null } : {}) });
  const events: unknown[] = [];
  o.choices.forEach((c, index) => {
    events.push(chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
    for (const t of textChunks(c.raw, c.pieces)) {
      const logprobs = o.logprobs
        ? { content: t.tokens.map((k) => ({ token: c.pieces[k]!, logprob: c.logprobs[k]!, bytes: [...Buffer.from(c.pieces[k]!, 'utf8')], top_logprobs: [] })) }
        : null;
      events.push(chunk([{ index, delta: { content: t.text }, logprobs, finish_reason: null }]));
    }
    events.push(chunk([{ index, delta: {}, logprobs: null, finish_reason: c.finishReason, judgment: c.judgment }]));
  });
  if (withUsage) events.push({ ...chunk([]), usage: o.usage });
  return events;
}

/** Writes the events as `data: <json>` lines, then `data: [DONE]`. */
export async function sendSse(res: http.ServerResponse, body: SseBody, headers: Record<string, string> = {}): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no', ...headers });
  res.flushHeaders();
  for (const e of [...body.events.map((x) => JSON.stringify(x)), '[DONE]']) {
    if (res.destroyed) return; // the client went away
    if (!res.write(`data: ${e}\n\n`)) await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.once('drain', done);
      res.once('close', done);
    });
  }
  res.end();
}
