// `mtrl-judge serve` on loopback: results equal direct judging, hundreds of concurrent requests are all
// answered with their own results, every error status, the bounded queue, deadlines, the OpenAI chat
// format, metrics, and graceful shutdown (in-process and by SIGTERM through the CLI).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng } from '../lib/data/images.js';
import { JudgeEngine } from '../lib/judge/engine.js';
import { packageRoot } from '../lib/native.js';
import { startServer, type JudgeServer } from '../lib/serve/server.js';
import { judgeBody, makeFixture, post, postSse, type Fixture, type SseEvent } from './serve-fixtures.js';

let f: Fixture;
let srv: JudgeServer;
let expected: string[]; // greedy raw output per fixture example, judged directly

beforeAll(async () => {
  f = await makeFixture();
  srv = await startServer({ checkpoint: f.dir, port: 0, maxBatch: 8, maxQueue: 512, maxNewTokens: 8 });
  const engine = JudgeEngine.load(f.dir, { maxNewTokens: 8 });
  expected = f.examples.map((e) => engine.run([{ task: e.task, images: e.images, ...(e.prompt ? { prompt: e.prompt } : {}) }])[0]!.raw);
  engine.dispose();
});

afterAll(async () => {
  await srv?.close();
});

describe('serve: judging', () => {
  it('/v1/judge returns the Judge API result, equal to direct judging', async () => {
    const engine = JudgeEngine.load(f.dir, { maxNewTokens: 8 });
    const e = f.examples[5]!;
    const direct = engine.run([{ task: e.task, images: e.images, prompt: e.prompt! }])[0]!;
    engine.dispose();
    const r = await post(`${srv.url}/v1/judge`, judgeBody(f, 5));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ object: 'judgment', task: 'alignment', verdict: direct.verdict, label: direct.label, reasoning: direct.reasoning, raw: direct.raw, formatOk: direct.formatOk });
    expect(r.json.logprobs).toHaveLength(direct.logprobs.length);
    (r.json.logprobs as number[]).forEach((x, i) => expect(x).toBeCloseTo(direct.logprobs[i]!, 4));
    expect((r.json.usage as { completion_tokens: number }).completion_tokens).toBe(direct.logprobs.length);
  });

  it('300 concurrent requests from many clients are all answered, each with its own result, in shared batches', async () => {
    const series = () => srv.metrics.batchRows.series.get('');
    const before = { count: series()?.count ?? 0, sum: series()?.sum ?? 0 };
    const n = 300;
    const which = Array.from({ length: n }, (_, i) => (i * 7) % f.examples.length);
    const res = await Promise.all(which.map((i) => post(`${srv.url}/v1/judge`, judgeBody(f, i))));
    expect(res.map((r) => r.status)).toEqual(new Array(n).fill(200));
    res.forEach((r, k) => {
      expect(r.json.raw).toBe(expected[which[k]!]);
      expect(r.json.task).toBe(f.examples[which[k]!]!.task);
    });
    // Requests were batched across clients: every row was judged, in fewer batches than requests (each
    // request is one row from its own client). How many fewer depends on how fast the requests arrive:
    // under half when this file runs alone, 155 batches for 300 in a full-suite run sharing one core.
    const batches = series()!.count - before.count;
    expect(series()!.sum - before.sum).toBe(n);
    expect(batches).toBeLessThan(n * 0.8);
  });

  it('/v1/judge/batch judges each request, and a bad one fails alone', async () => {
    const r = await post(`${srv.url}/v1/judge/batch`, { requests: [judgeBody(f, 0), { task: 'nope', images: [] }, judgeBody(f, 13), judgeBody(f, 1, { images: ['bm90IGFuIGltYWdl'] })] });
    expect(r.status).toBe(200);
    const results = r.json.results as Array<Record<string, unknown>>;
    expect(results[0]!.raw).toBe(expected[0]);
    expect((results[1]!.error as { status: number; message: string }).status).toBe(400);
    expect((results[1]!.error as { message: string }).message).toMatch(/task must be one of naturalness, .*pair-safety/);
    expect(results[2]!.raw).toBe(expected[13]);
    expect((results[3]!.error as { message: string }).message).toMatch(/could not be decoded/);
  });

  it('samples > 1 give a majority vote with the votes', async () => {
    const r = await post(`${srv.url}/v1/judge`, judgeBody(f, 0, { temperature: 1, samples: 5 }));
    expect(r.status).toBe(200);
    const samples = r.json.samples as Array<{ verdict: string | null }>;
    expect(samples).toHaveLength(5);
    const votes = r.json.votes as Record<string, number>;
    expect(Object.values(votes).reduce((a, b) => a + b, 0)).toBe(samples.filter((s) => s.verdict !== null).length);
    if (r.json.verdict !== null) expect(votes[r.json.verdict as string]).toBe(Math.max(...Object.values(votes)));
  });
});

describe('serve: OpenAI-compatible', () => {
  it('/v1/models lists the judge and one model per task', async () => {
    const r = (await (await fetch(`${srv.url}/v1/models`)).json()) as { object: string; data: Array<{ id: string }> };
    expect(r.object).toBe('list');
    expect(r.data.map((m: { id: string }) => m.id)).toContain('mtrl-judge/safety');
  });

  it('/v1/chat/completions: text + image_url parts, n, logprobs', async () => {
    const e = f.examples[5]!;
    const body = {
      model: 'mtrl-judge/alignment',
      messages: [
        { role: 'system', content: 'You are a judge.' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: f.dataUrls[5]![0] } }, { type: 'text', text: e.prompt }] },
      ],
      logprobs: true,
      max_tokens: 8,
    };
    const r = await post(`${srv.url}/v1/chat/completions`, body);
    expect(r.status).toBe(200);
    expect(r.json.object).toBe('chat.completion');
    const choices = r.json.choices as Array<{ message: { role: string; content: string }; logprobs: { content: Array<{ token: string; logprob: number }> }; finish_reason: string }>;
    expect(choices).toHaveLength(1);
    expect(choices[0]!.message).toEqual({ role: 'assistant', content: expected[5] });
    expect(['stop', 'length']).toContain(choices[0]!.finish_reason);
    expect(choices[0]!.logprobs.content.length).toBeGreaterThan(0);
    expect(choices[0]!.logprobs.content.every((t) => typeof t.token === 'string' && t.logprob <= 0)).toBe(true);
    const n3 = await post(`${srv.url}/v1/chat/completions`, { ...body, n: 3, temperature: 1, logprobs: false });
    expect(n3.status).toBe(200);
    expect((n3.json.choices as unknown[]).length).toBe(3);
    // The task may also be the model name itself or a "task" field.
    const t = await post(`${srv.url}/v1/chat/completions`, { model: 'gpt-4o', task: 'safety', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: f.dataUrls[0]![0] } }] }] });
    expect((t.json.choices as Array<{ message: { content: string } }>)[0]!.message.content).toBe(expected[0]);
  });

  it('chat errors name what is wrong', async () => {
    const img = { type: 'image_url', image_url: { url: f.dataUrls[0]![0] } };
    const noTask = await post(`${srv.url}/v1/chat/completions`, { model: 'mtrl-judge', messages: [{ role: 'user', content: [img] }] });
    expect(noTask.status).toBe(400);
    expect((noTask.json.error as { message: string }).message).toMatch(/mtrl-judge\/<task>.*safety/);
    const remote = await post(`${srv.url}/v1/chat/completions`, { model: 'safety', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] });
    expect(remote.status).toBe(400);
    expect((remote.json.error as { message: string }).message).toMatch(/data URL/);
    const stream = await post(`${srv.url}/v1/chat/completions`, { model: 'safety', stream: 'yes', messages: [{ role: 'user', content: [img] }] });
    expect(stream.status).toBe(400);
    expect((stream.json.error as { message: string }).message).toMatch(/stream must be true or false/);
  });

  it('stream: true answers Server-Sent Events in the chunk format, the same completion as without streaming', async () => {
    const e = f.examples[5]!;
    const body = {
      model: 'mtrl-judge/alignment',
      stream: true,
      stream_options: { include_usage: true },
      logprobs: true,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: f.dataUrls[5]![0] } }, { type: 'text', text: e.prompt }] }],
    };
    const plain = await post(`${srv.url}/v1/chat/completions`, { ...body, stream: false, stream_options: undefined });
    const s = await postSse(`${srv.url}/v1/chat/completions`, body);
    expect(s.status).toBe(200);
    expect(s.contentType).toMatch(/^text\/event-stream/);
    expect(s.done).toBe(true); // data: [DONE] came last
    const chunks = s.events;
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'mtrl-judge/alignment')).toBe(true);
    const choice = (plain.json.choices as SseEvent[])[0]!;
    const deltas = chunks.filter((c) => c.choices.length === 1).map((c) => c.choices[0]);
    expect(deltas[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(deltas.map((d) => d.delta.content ?? '').join('')).toBe(choice.message.content); // greedy: deterministic
    expect(deltas.filter((d) => d.delta.content).length).toBeGreaterThan(1); // more than one piece
    const last = deltas.at(-1);
    expect(last.delta).toEqual({});
    expect(last.finish_reason).toBe(choice.finish_reason);
    expect(last.judgment).toEqual(choice.judgment);
    expect(deltas.slice(0, -1).every((d) => d.finish_reason === null)).toBe(true);
    const lp = deltas.flatMap((d) => d.logprobs?.content ?? []);
    expect(lp.map((t: { token: string }) => t.token)).toEqual(choice.logprobs.content.map((t: { token: string }) => t.token));
    lp.forEach((t: { logprob: number }, i: number) => expect(t.logprob).toBeCloseTo(choice.logprobs.content[i].logprob, 4));
    // include_usage: a last chunk with no choices carries the usage; the others have usage null.
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage).toEqual(plain.json.usage);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);

    // n = 2: each chunk names its choice; each choice is a whole stream of its own.
    const two = await postSse(`${srv.url}/v1/chat/completions`, { ...body, n: 2, temperature: 1, stream_options: undefined, logprobs: false });
    expect(two.status).toBe(200);
    for (const index of [0, 1]) {
      const d = two.events.map((c) => c.choices[0]).filter((c) => c.index === index);
      expect(d[0].delta.role).toBe('assistant');
      expect(d.at(-1).finish_reason).toMatch(/^(stop|length)$/);
      expect(d.every((x: { logprobs: unknown }) => x.logprobs === null)).toBe(true);
    }
    expect(two.events.every((c) => !('usage' in c))).toBe(true);

    // Errors come before the first byte: an ordinary JSON error.
    const bad = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, model: 'nope' }) });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/name the judging task/);
  });
});

describe('serve: bad input never takes it down', () => {
  it('400 for bad JSON, unknown task, wrong image count, undecodable image, a path on disk; 404 / 405', async () => {
    const bad = await post(`${srv.url}/v1/judge`, '{"task": "safety", ');
    expect(bad.status).toBe(400);
    expect((bad.json.error as { message: string }).message).toMatch(/not valid JSON/);
    const unknown = await post(`${srv.url}/v1/judge`, { task: 'nope', images: [f.dataUrls[0]![0]] });
    expect(unknown.status).toBe(400);
    expect((unknown.json.error as { message: string }).message).toMatch(/task must be one of naturalness, technical, rationality, alignment, preference, safety, pair-alignment, pair-safety/);
    const count = await post(`${srv.url}/v1/judge`, { task: 'pair-safety', images: [f.dataUrls[0]![0]] });
    expect(count.status).toBe(400);
    const garbage = await post(`${srv.url}/v1/judge`, { task: 'safety', images: ['data:image/png;base64,aGVsbG8gd29ybGQ='] });
    expect(garbage.status).toBe(400);
    expect((garbage.json.error as { message: string }).message).toMatch(/could not be decoded/);
    // A real PNG on the server's disk: its path is refused, never read.
    const file = path.join(f.tmp, 'on-disk.png');
    writeFileSync(file, await encodePng(f.examples[0]!.images[0]!));
    for (const p of [file, `file://${file}`, 'http://127.0.0.1:1/x.png']) {
      const r = await post(`${srv.url}/v1/judge`, { task: 'safety', images: [p] });
      expect(r.status, p).toBe(400);
    }
    const noPrompt = await post(`${srv.url}/v1/judge`, { task: 'alignment', images: [f.dataUrls[5]![0]] });
    expect(noPrompt.status).toBe(400);
    const greedySamples = await post(`${srv.url}/v1/judge`, judgeBody(f, 0, { samples: 3 }));
    expect(greedySamples.status).toBe(400);
    expect((await fetch(`${srv.url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${srv.url}/v1/judge`)).status).toBe(405);
    // A request that passes validation but fails in the model (a prompt longer than the context)
    // fails alone: the requests batched with it are judged.
    const long = judgeBody(f, 5, { prompt: 'a red circle and a blue square '.repeat(80) });
    const mixed = await Promise.all([post(`${srv.url}/v1/judge`, judgeBody(f, 0)), post(`${srv.url}/v1/judge`, long), post(`${srv.url}/v1/judge`, judgeBody(f, 6))]);
    expect(mixed.map((r) => r.status)).toEqual([200, 400, 200]);
    expect(mixed[0]!.json.raw).toBe(expected[0]);
    expect(mixed[2]!.json.raw).toBe(expected[6]);
    // Still serving.
    expect((await post(`${srv.url}/v1/judge`, judgeBody(f, 0))).json.raw).toBe(expected[0]);
  });

  it('/health and /metrics (Prometheus text)', async () => {
    const h = await (await fetch(`${srv.url}/health`)).json();
    expect(h).toMatchObject({ status: 'ok', queue_depth: 0 });
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    expect(m).toMatch(/^# TYPE mtrl_judge_http_requests_total counter$/m);
    expect(m).toMatch(/^mtrl_judge_http_requests_total\{route="\/v1\/judge",code="200"\} \d+$/m);
    expect(m).toMatch(/^mtrl_judge_http_request_duration_seconds_bucket\{route="\/v1\/judge",le="\+Inf"\} \d+$/m);
    expect(m).toMatch(/^mtrl_judge_batch_size_bucket\{le="8"\} \d+$/m);
    expect(m).toMatch(/^mtrl_judge_queue_depth 0$/m);
  });
});

describe('serve: limits, keys, queue, deadlines, shutdown', () => {
  let strict: JudgeServer;
  beforeAll(async () => {
    strict = await startServer({ checkpoint: f.dir, port: 0, apiKey: 's3cret', maxBodyBytes: 20_000, maxQueue: 2, maxBatch: 1, maxNewTokens: 8 });
  });
  afterAll(async () => {
    await strict?.close();
  });
  const auth = { authorization: 'Bearer s3cret' };

  it('401 without or with a wrong key; /health needs none', async () => {
    expect((await post(`${strict.url}/v1/judge`, judgeBody(f, 0))).status).toBe(401);
    expect((await post(`${strict.url}/v1/judge`, judgeBody(f, 0), { authorization: 'Bearer s3creT' })).status).toBe(401);
    expect((await post(`${strict.url}/v1/judge`, judgeBody(f, 0), { 'x-api-key': 's3cre' })).status).toBe(401);
    expect((await fetch(`${strict.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${strict.url}/health`)).status).toBe(200);
    expect((await post(`${strict.url}/v1/judge`, judgeBody(f, 0), auth)).status).toBe(200);
    expect((await post(`${strict.url}/v1/judge`, judgeBody(f, 0), { 'x-api-key': 's3cret' })).status).toBe(200);
  });

  it('413 for a body over the limit', async () => {
    const r = await post(`${strict.url}/v1/judge`, { task: 'safety', images: ['A'.repeat(30_000)] }, auth);
    expect(r.status).toBe(413);
  });

  it('a full queue answers 503 with Retry-After; accepted requests are judged', async () => {
    const res = await Promise.all(Array.from({ length: 12 }, () => post(`${strict.url}/v1/judge`, judgeBody(f, 0), auth)));
    const codes = res.map((r) => r.status);
    expect(codes).toContain(503);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(2);
    expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
    for (const r of res) {
      if (r.status === 503) expect(r.headers.get('retry-after')).toBe('1');
      else expect(r.json.raw).toBe(expected[0]);
    }
  });

  it('504 past the per-request deadline', async () => {
    const quick = await startServer({ checkpoint: f.dir, port: 0, timeoutMs: 1, maxNewTokens: 8 });
    try {
      const r = await post(`${quick.url}/v1/judge`, judgeBody(f, 0));
      expect(r.status).toBe(504);
      expect(await quick.metrics.render({ queueDepth: 0, inFlight: 0, maxQueue: 1, up: true })).toMatch(/mtrl_judge_rejected_total\{reason="timeout"\} 1/);
    } finally {
      await quick.close();
    }
  });

  it('close() finishes every accepted request, then refuses connections', async () => {
    const s = await startServer({ checkpoint: f.dir, port: 0, maxBatch: 2, maxNewTokens: 8 });
    const inflight = Array.from({ length: 10 }, (_, i) => post(`${s.url}/v1/judge`, judgeBody(f, i % 5)));
    while (s.requestsReceived < 10) await new Promise((r) => setTimeout(r, 2));
    await s.close();
    const res = await Promise.all(inflight);
    expect(res.map((r) => r.status)).toEqual(new Array(10).fill(200));
    res.forEach((r, i) => expect(r.json.raw).toBe(expected[i % 5]));
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
  });
});

describe('serve: the CLI', () => {
  it('mtrl-judge serve answers, and SIGTERM finishes in-flight requests and exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'lib', 'cli', 'main.ts'), 'serve', '--checkpoint', f.dir, '--port', '0', '--max-tokens', '8', '--quiet'], {
      cwd: packageRoot,
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (c) => reject(new Error(`serve exited (${c}): ${out}${err}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const inflight = Array.from({ length: 6 }, (_, i) => post(`${url}/v1/judge`, judgeBody(f, i)));
    // SIGTERM once the server has received all six (a request still connecting would be refused).
    while (((await (await fetch(`${url}/health`)).json()) as { requests_received: number }).requests_received < 6) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGTERM');
    const res = await Promise.all(inflight);
    expect(res.map((r) => r.status)).toEqual(new Array(6).fill(200));
    res.forEach((r, i) => expect(r.json.raw).toBe(expected[i]));
    expect(await exited).toBe(0);
    expect(err).toMatch(/SIGTERM: finishing in-flight requests/);
  });
});
