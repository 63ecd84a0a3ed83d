// `mtrl-judge serve`: an HTTP judge service on Node's own http module.
//
//   POST /v1/judge              { task, images: [data URL | base64], prompt?, temperature?, samples?, max_tokens? }
//   POST /v1/judge/batch        { requests: [ ...the same... ] }
//   POST /v1/chat/completions   OpenAI chat format (text + image_url data-URL parts; stream: true = SSE)
//   GET  /v1/models, GET /health, GET /metrics (Prometheus)
//   POST /v1/rewards            completions + tasks + labels -> rewards and their components
//   POST /get_reward            OpenRLHF's remote reward model protocol (--remote_rm_url)
//
// Judging requests from all clients share one bounded queue and are batched on the model worker
// (JudgeService); a full queue answers 503 with Retry-After, a request past --timeout-ms 504. Bad
// input is a 4xx with a message, never a crash. close() (SIGTERM in the CLI) stops accepting
// connections, finishes every accepted request, then stops the worker.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Device } from '../device.js';
import { RewardModel } from '../rewards/model.js';
import { TaskRegistry } from '../tasks/registry.js';
import type { TaskDefinition } from '../tasks/task.js';
import { HttpError } from './http-error.js';
import { decodeRequestImage } from './images.js';
import { DeadlineError, JudgeService, QueueFullError, RequestError, UnavailableError } from './judge-service.js';
import { ServeMetrics } from './metrics.js';
import { openrlhfEndpoint, rewardsEndpoint } from './rewards-api.js';
import { chatCompletionChunks, sendSse, SseBody } from './sse.js';
import { checkTlsPair, type TlsFiles } from './tls.js';
import type { ItemResult, SampleResult, ServeItem } from './serve-engine.js';

export interface ServeOptions {
  /** Judge checkpoint folder. Without one only the reward endpoints (and health/metrics) are served. */
  checkpoint?: string;
  host?: string;
  /** 0 = any free port. Default 8080. */
  port?: number;
  /** Required as `Authorization: Bearer KEY` (or `x-api-key: KEY`) on every route but /health. */
  apiKey?: string;
  /** Most generated rows (requests × samples) per model batch. Default 16. */
  maxBatch?: number;
  /** Most judging requests waiting; beyond it 503. Default 256. */
  maxQueue?: number;
  /** Per-request deadline in ms (0 = none). Default 60000. */
  timeoutMs?: number;
  /** Largest request body in bytes. Default 20 MB. */
  maxBodyBytes?: number;
  /** Largest max_tokens a request may ask for, and the default. Default 48. */
  maxNewTokens?: number;
  /** Most samples (or OpenAI `n`) per request. Default 16. */
  maxSamples?: number;
  device?: Device;
  seed?: number;
  /** Custom task definitions besides the built-in suite (the same as a run config's `tasks`). */
  tasks?: TaskDefinition[];
  /** One line per request (method, path, status, ms); default none. */
  log?: (line: string) => void;
  /** Serve HTTPS with this PEM certificate and key (checked before the model loads: TlsConfigError). */
  tls?: TlsFiles;
}

export interface JudgeServer {
  /** http://host:port (https:// with tls) */
  readonly url: string;
  readonly port: number;
  readonly metrics: ServeMetrics;
  readonly service: JudgeService | undefined;
  /** Requests received so far, /health excluded (the server has read their headers). */
  readonly requestsReceived: number;
  /** Stops accepting, finishes accepted requests, stops the worker. Idempotent. */
  close(): Promise<void>;
}

const DEFAULTS = { host: '127.0.0.1', port: 8080, maxBatch: 16, maxQueue: 256, timeoutMs: 60_000, maxBodyBytes: 20 * 1024 * 1024, maxNewTokens: 48, maxSamples: 16 };
const MODEL_ID = 'mtrl-judge';

interface Parsed {
  task: string;
  images: unknown[];
  prompt?: string;
  temperature: number;
  samples: number;
  maxNewTokens: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The judgment of several samples: the majority verdict (ties: the one seen first), with the votes. */
export function aggregateSamples(samples: readonly SampleResult[]): Record<string, unknown> {
  const strip = (s: SampleResult) => ({ verdict: s.verdict, label: s.label, reasoning: s.reasoning, raw: s.raw, logprobs: s.logprobs, formatOk: s.formatOk });
  if (samples.length === 1) return strip(samples[0]!);
  const votes: Record<string, number> = {};
  for (const s of samples) if (s.verdict !== null) votes[s.verdict] = (votes[s.verdict] ?? 0) + 1;
  let best: string | null = null;
  for (const [v, c] of Object.entries(votes)) if (best === null || c > votes[best]!) best = v;
  const rep = samples.find((s) => s.verdict === best) ?? samples[0]!;
  return { ...strip(rep), votes, agreement: best === null ? 0 : votes[best]! / samples.length, samples: samples.map(strip) };
}

export async function startServer(opts: ServeOptions = {}): Promise<JudgeServer> {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & ServeOptions;
  for (const k of ['maxBatch', 'maxQueue', 'maxBodyBytes', 'maxNewTokens', 'maxSamples'] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 1)) throw new RangeError(`serve: ${k} must be an integer ≥ 1, got ${String(o[k])}`);
  }
  if (!(Number.isInteger(o.timeoutMs) && o.timeoutMs >= 0)) throw new RangeError(`serve: timeoutMs must be an integer ≥ 0, got ${String(o.timeoutMs)}`);
  if (o.apiKey !== undefined && o.apiKey.length === 0) throw new RangeError('serve: apiKey must not be empty');
  if (o.tls) checkTlsPair(o.tls);

  const registry = new TaskRegistry();
  for (const t of o.tasks ?? []) registry.register(t);
  const rewardModel = new RewardModel();
  const metrics = new ServeMetrics();
  const service = o.checkpoint
    ? await JudgeService.start(o.checkpoint, {
        maxBatch: o.maxBatch,
        maxQueue: o.maxQueue,
        maxNewTokens: o.maxNewTokens,
        ...(o.device !== undefined ? { device: o.device } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.tasks ? { tasks: o.tasks } : {}),
        onBatch: (rows, _n, s) => {
          metrics.batchRows.observe(rows);
          metrics.batchSeconds.observe(s);
        },
      })
    : undefined;
  const keyDigest = o.apiKey !== undefined ? digest(o.apiKey) : undefined;
  let draining = false;
  let active = 0;
  let received = 0;
  let idleResolve: (() => void) | null = null;

  function needService(): JudgeService {
    if (!service) throw new HttpError(404, 'this server was started without --checkpoint: only /v1/rewards, /get_reward, /health and /metrics are served');
    if (!service.healthy) throw new HttpError(503, 'the judge model is not available', 'server_error', { 'Retry-After': '5' });
    return service;
  }

  function authorized(req: http.IncomingMessage): boolean {
    if (!keyDigest) return true;
    const h = req.headers.authorization;
    const given = typeof h === 'string' && /^bearer\s+/i.test(h) ? h.replace(/^bearer\s+/i, '') : typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined;
    // Fixed-length digests: the comparison time does not depend on the key or on how much matched.
    return timingSafeEqual(digest(given ?? ''), keyDigest) && given !== undefined;
  }

  async function readJson(req: http.IncomingMessage): Promise<unknown> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > o.maxBodyBytes) throw new HttpError(413, `the body (${declared} bytes) is larger than the ${o.maxBodyBytes}-byte limit`);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      total += c.length;
      if (total > o.maxBodyBytes) throw new HttpError(413, `the body is larger than the ${o.maxBodyBytes}-byte limit`);
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') throw new HttpError(400, 'the body is empty; send a JSON object');
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`);
    }
  }

  function parseJudge(body: unknown, where: string, defaults: { temperature: number } = { temperature: 0 }): Parsed {
    if (!isObject(body)) throw new HttpError(400, `${where}: expected an object { task, images, prompt?, temperature?, samples?, max_tokens? }`);
    const task = body.task;
    if (typeof task !== 'string' || !registry.has(task)) throw new HttpError(400, `${where}.task must be one of ${registry.names().join(', ')}, got ${JSON.stringify(task ?? null)}`);
    const t = registry.get(task);
    if (!Array.isArray(body.images)) throw new HttpError(400, `${where}.images must be an array of data URLs or base64 strings`);
    if (body.images.length !== t.numImages) throw new HttpError(400, `${where}: task "${task}" needs ${t.numImages} image(s), got ${body.images.length}`);
    if (body.prompt !== undefined && typeof body.prompt !== 'string') throw new HttpError(400, `${where}.prompt must be a string`);
    const prompt = body.prompt as string | undefined;
    if (t.definition.question.includes('{prompt}') && (prompt === undefined || prompt.trim() === ''))
      throw new HttpError(400, `${where}: task "${task}" judges an image against a text prompt: pass prompt`);
    const temperature = body.temperature ?? defaults.temperature;
    if (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 10)) throw new HttpError(400, `${where}.temperature must be a number in [0, 10], got ${JSON.stringify(temperature)}`);
    const samples = body.samples ?? 1;
    if (!Number.isInteger(samples) || (samples as number) < 1 || (samples as number) > o.maxSamples) throw new HttpError(400, `${where}.samples must be an integer in [1, ${o.maxSamples}], got ${JSON.stringify(samples)}`);
    if ((samples as number) > 1 && temperature === 0) throw new HttpError(400, `${where}: samples > 1 needs temperature > 0 (greedy samples are identical)`);
    const maxNewTokens = body.max_tokens ?? o.maxNewTokens;
    if (!Number.isInteger(maxNewTokens) || (maxNewTokens as number) < 1 || (maxNewTokens as number) > o.maxNewTokens)
      throw new HttpError(400, `${where}.max_tokens must be an integer in [1, ${o.maxNewTokens}], got ${JSON.stringify(maxNewTokens)}`);
    return { task, images: body.images, ...(prompt !== undefined ? { prompt } : {}), temperature, samples: samples as number, maxNewTokens: maxNewTokens as number };
  }

  async function toItem(p: Parsed, size: number, where: string): Promise<ServeItem> {
    const images = await Promise.all(p.images.map((img, i) => decodeRequestImage(img, size, `${where}.images[${i}]`)));
    return { task: p.task, images, ...(p.prompt !== undefined ? { prompt: p.prompt } : {}), temperature: p.temperature, maxNewTokens: p.maxNewTokens, samples: p.samples };
  }

  /** Queues items and waits; maps queue errors to HTTP statuses. Per-item failures come back as errors. */
  async function judgeAll(items: ServeItem[], started: number): Promise<Array<ItemResult | HttpError>> {
    const svc = needService();
    const remaining = o.timeoutMs > 0 ? Math.max(1, o.timeoutMs - (performance.now() - started)) : 0;
    let promises: Promise<ItemResult>[];
    try {
      promises = svc.submitAll(items, remaining);
    } catch (e) {
      if (e instanceof QueueFullError) {
        metrics.rejected.inc({ reason: 'queue_full' });
        throw new HttpError(503, `${e.message}; retry later`, 'server_busy', { 'Retry-After': '1' });
      }
      if (e instanceof UnavailableError) throw new HttpError(503, e.message, 'server_error', { 'Retry-After': '5' });
      throw e;
    }
    const settled = await Promise.allSettled(promises);
    return settled.map((s, i) => {
      if (s.status === 'fulfilled') {
        metrics.judged.inc({ task: items[i]!.task });
        return s.value;
      }
      const e = s.reason as Error;
      if (e instanceof DeadlineError) {
        metrics.rejected.inc({ reason: 'timeout' });
        return new HttpError(504, `the judgment did not finish within --timeout-ms ${o.timeoutMs}`, 'timeout');
      }
      if (e instanceof RequestError) return new HttpError(400, e.message);
      return new HttpError(503, e.message, 'server_error', { 'Retry-After': '5' });
    });
  }

  function judgmentBody(p: Parsed, r: ItemResult): Record<string, unknown> {
    const completion = r.samples.reduce((a, s) => a + s.logprobs.length, 0);
    return { id: `judge-${randomUUID()}`, object: 'judgment', task: p.task, ...aggregateSamples(r.samples), usage: { prompt_tokens: r.promptTokens, completion_tokens: completion, total_tokens: r.promptTokens + completion } };
  }

  async function handleJudge(body: unknown, started: number): Promise<unknown> {
    const svc = needService();
    const p = parseJudge(body, 'request');
    const item = await toItem(p, svc.imageSize, 'request');
    const [r] = await judgeAll([item], started);
    if (r instanceof HttpError) throw r;
    return judgmentBody(p, r!);
  }

  async function handleBatch(body: unknown, started: number): Promise<unknown> {
    const svc = needService();
    if (!isObject(body) || !Array.isArray(body.requests)) throw new HttpError(400, 'body must be { requests: [{ task, images, prompt? }, ...] }');
    const reqs = body.requests as unknown[];
    if (reqs.length === 0) throw new HttpError(400, 'requests is empty');
    if (reqs.length > svc.maxQueue) throw new HttpError(400, `requests has ${reqs.length} entries; at most --max-queue (${svc.maxQueue}) per batch`);
    // Each request is checked on its own: a bad one gets its error, the others are judged.
    const prepared = await Promise.all(
      reqs.map(async (r, i) => {
        try {
          const p = parseJudge(r, `requests[${i}]`);
          return { p, item: await toItem(p, svc.imageSize, `requests[${i}]`) };
        } catch (e) {
          if (e instanceof HttpError) return e;
          throw e;
        }
      }),
    );
    const good = prepared.filter((x): x is { p: Parsed; item: ServeItem } => !(x instanceof HttpError));
    const results = good.length > 0 ? await judgeAll(good.map((g) => g.item), started) : [];
    let k = 0;
    return {
      object: 'list',
      results: prepared.map((x) => {
        if (x instanceof HttpError) return { error: { status: x.status, type: x.type, message: x.message } };
        const r = results[k++]!;
        if (r instanceof HttpError) return { error: { status: r.status, type: r.type, message: r.message } };
        return judgmentBody(x.p, r);
      }),
    };
  }

  function chatTask(body: Record<string, unknown>): string {
    const names = registry.names();
    if (body.task !== undefined) {
      if (typeof body.task !== 'string' || !registry.has(body.task)) throw new HttpError(400, `task must be one of ${names.join(', ')}, got ${JSON.stringify(body.task)}`);
      return body.task;
    }
    const m = body.model;
    if (typeof m === 'string') {
      const t = m.startsWith(`${MODEL_ID}/`) ? m.slice(MODEL_ID.length + 1) : m;
      if (registry.has(t)) return t;
    }
    throw new HttpError(400, `name the judging task: model "${MODEL_ID}/<task>" (or "<task>", or a "task" field), one of ${names.join(', ')}; got model ${JSON.stringify(m ?? null)}`);
  }

  async function handleChat(body: unknown, started: number): Promise<unknown> {
    const svc = needService();
    if (!isObject(body)) throw new HttpError(400, 'body must be an OpenAI chat completion request { model, messages, ... }');
    if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw new HttpError(400, `stream must be true or false, got ${JSON.stringify(body.stream)}`);
    const stream = body.stream === true;
    const so = body.stream_options;
    if (so !== undefined && so !== null && !(isObject(so) && (so.include_usage === undefined || typeof so.include_usage === 'boolean')))
      throw new HttpError(400, 'stream_options must be { include_usage?: boolean }');
    const includeUsage = stream && isObject(so) && so.include_usage === true;
    const task = chatTask(body);
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new HttpError(400, 'messages must be a non-empty array');
    const images: string[] = [];
    const texts: string[] = [];
    body.messages.forEach((msg, i) => {
      if (!isObject(msg) || typeof msg.role !== 'string') throw new HttpError(400, `messages[${i}] must be { role, content }`);
      if (msg.role !== 'user') return; // system / assistant turns do not change what the judge reads
      const content = msg.content;
      if (typeof content === 'string') texts.push(content);
      else if (Array.isArray(content)) {
        content.forEach((part, j) => {
          const where = `messages[${i}].content[${j}]`;
          if (!isObject(part)) throw new HttpError(400, `${where} must be an object`);
          if (part.type === 'text') {
            if (typeof part.text !== 'string') throw new HttpError(400, `${where}.text must be a string`);
            texts.push(part.text);
          } else if (part.type === 'image_url') {
            const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
            if (typeof url !== 'string') throw new HttpError(400, `${where}.image_url.url must be a data URL`);
            if (!url.startsWith('data:')) throw new HttpError(400, `${where}.image_url.url must be a data URL (data:image/png;base64,...); remote URLs and paths are refused`);
            images.push(url);
          } else throw new HttpError(400, `${where}.type must be "text" or "image_url", got ${JSON.stringify(part.type)}`);
        });
      } else throw new HttpError(400, `messages[${i}].content must be a string or an array of parts`);
    });
    const n = body.n ?? 1;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > o.maxSamples) throw new HttpError(400, `n must be an integer in [1, ${o.maxSamples}], got ${JSON.stringify(n)}`);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (body.top_logprobs !== undefined && body.top_logprobs !== null && body.top_logprobs !== 0)
      throw new HttpError(400, 'top_logprobs is not supported: the judge reports the logprob of each generated token only (logprobs: true)');
    const text = texts.join('\n').trim();
    const p = parseJudge(
      { task, images, ...(text !== '' ? { prompt: text } : {}), temperature: body.temperature ?? 0, ...(maxTokens !== undefined && maxTokens !== null ? { max_tokens: maxTokens } : {}) },
      'request',
    );
    const needsPrompt = registry.get(task).definition.question.includes('{prompt}');
    const item = await toItem({ ...p, ...(needsPrompt ? {} : { prompt: undefined }) }, svc.imageSize, 'request');
    if (!needsPrompt) delete item.prompt;
    item.samples = n as number;
    const [r] = await judgeAll([item], started);
    if (r instanceof HttpError) throw r;
    const res = r!;
    const wantLogprobs = body.logprobs === true;
    const choices = res.samples.map((s, i) => {
      const toks = s.finished ? s.tokens.slice(0, -1) : s.tokens;
      const lps = s.finished ? s.logprobs.slice(0, -1) : s.logprobs;
      return {
        index: i,
        message: { role: 'assistant', content: s.raw },
        logprobs: wantLogprobs ? { content: toks.map((tok, j) => ({ token: tok, logprob: lps[j]!, bytes: [...Buffer.from(tok, 'utf8')], top_logprobs: [] })) } : null,
        finish_reason: s.finished ? 'stop' : 'length',
        judgment: { verdict: s.verdict, label: s.label, reasoning: s.reasoning, formatOk: s.formatOk },
      };
    });
    const completion = res.samples.reduce((a, s) => a + s.logprobs.length, 0);
    const head = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: `${MODEL_ID}/${task}` };
    const usage = { prompt_tokens: res.promptTokens, completion_tokens: completion, total_tokens: res.promptTokens + completion };
    if (stream) {
      // The completion is finished here (see sse.ts): it goes out as one chunk per token.
      return new SseBody(
        chatCompletionChunks({
          ...head,
          logprobs: wantLogprobs,
          ...(includeUsage ? { usage } : {}),
          choices: res.samples.map((s, i) => ({
            raw: s.raw,
            pieces: s.finished ? s.tokens.slice(0, -1) : s.tokens,
            logprobs: s.finished ? s.logprobs.slice(0, -1) : s.logprobs,
            finishReason: choices[i]!.finish_reason as 'stop' | 'length',
            judgment: choices[i]!.judgment,
          })),
        }),
      );
    }
    return { id: head.id, object: 'chat.completion', created: head.created, model: head.model, choices, usage };
  }

  function models(): unknown {
    const created = Math.floor(metrics.started / 1000);
    const ids = service ? [MODEL_ID, ...registry.names().map((t) => `${MODEL_ID}/${t}`)] : [];
    return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created, owned_by: MODEL_ID })) };
  }

  function health(): { status: number; body: unknown } {
    const up = service ? service.healthy : true;
    const status = draining ? 'draining' : up ? 'ok' : 'down';
    return {
      status: status === 'ok' ? 200 : 503,
      body: {
        status,
        checkpoint: o.checkpoint ?? null,
        tasks: registry.names(),
        queue_depth: service?.queueDepth ?? 0,
        in_flight: service?.inFlight ?? 0,
        max_queue: o.maxQueue,
        max_batch: o.maxBatch,
        active_requests: active,
        requests_received: received,
        uptime_seconds: (Date.now() - metrics.started) / 1000,
      },
    };
  }

  type Route = { method: string; handler: (body: unknown, started: number) => Promise<unknown>; json: boolean };
  // Both reward APIs score with the same reward model and count the rewards they return.
  const rewardRoute = (endpoint: typeof rewardsEndpoint | typeof openrlhfEndpoint, api: string): Route => ({
    method: 'POST',
    json: true,
    handler: async (b) => {
      const r = await endpoint(registry, rewardModel, b);
      metrics.rewards.inc({ api }, (r.rewards as unknown[]).length);
      return r;
    },
  });
  const routes: Record<string, Route> = {
    '/v1/judge': { method: 'POST', handler: handleJudge, json: true },
    '/v1/judge/batch': { method: 'POST', handler: handleBatch, json: true },
    '/v1/chat/completions': { method: 'POST', handler: handleChat, json: true },
    '/v1/rewards': rewardRoute(rewardsEndpoint, 'mtrl'),
    '/get_reward': rewardRoute(openrlhfEndpoint, 'openrlhf'),
    '/v1/models': { method: 'GET', handler: async () => models(), json: false },
  };

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...(draining ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(text);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname.replace(/\/+$/, '') || '/';
    const label = route in routes || route === '/health' || route === '/metrics' ? route : 'other';
    let status = 500;
    try {
      if (route === '/health') {
        const h = health();
        status = h.status;
        send(res, status, h.body);
        return;
      }
      if (!authorized(req)) throw new HttpError(401, 'missing or wrong API key: send Authorization: Bearer <key>', 'authentication_error', { 'WWW-Authenticate': 'Bearer' });
      if (route === '/metrics') {
        status = 200;
        send(res, 200, metrics.render({ queueDepth: service?.queueDepth ?? 0, inFlight: service?.inFlight ?? 0, maxQueue: o.maxQueue, up: service ? service.healthy : true }));
        return;
      }
      const r = routes[route];
      if (!r) throw new HttpError(404, `no route ${req.method} ${url.pathname}; routes: POST /v1/judge, POST /v1/judge/batch, POST /v1/chat/completions, GET /v1/models, POST /v1/rewards, POST /get_reward, GET /health, GET /metrics`);
      if (req.method !== r.method) throw new HttpError(405, `${url.pathname} takes ${r.method}, not ${req.method}`, 'invalid_request_error', { Allow: r.method });
      if (draining) {
        metrics.rejected.inc({ reason: 'shutting_down' });
        throw new HttpError(503, 'the server is shutting down', 'server_busy', { 'Retry-After': '5' });
      }
      const body = r.json ? await readJson(req) : undefined;
      const out = await r.handler(body, started);
      status = 200;
      if (out instanceof SseBody) await sendSse(res, out, draining ? { Connection: 'close' } : {});
      else send(res, 200, out);
    } catch (e) {
      const he = e instanceof HttpError ? e : new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`);
      status = he.status;
      send(res, he.status, { error: { message: he.message, type: he.type, code: he.status } }, he.headers);
      // A body we stopped reading (413) must not be parsed as the next request on this connection.
      if (he.status === 413) res.once('finish', () => req.destroy());
    } finally {
      const seconds = (performance.now() - started) / 1000;
      metrics.requests.inc({ route: label, code: String(status) });
      metrics.latency.observe(seconds, { route: label });
      o.log?.(`${req.method} ${url.pathname} ${status} ${(seconds * 1000).toFixed(1)} ms`);
    }
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    active++;
    if (!req.url?.startsWith('/health')) received++;
    res.once('close', () => {
      active--;
      if (active === 0 && idleResolve) idleResolve();
    });
    handle(req, res).catch((e) => {
      // handle() answers every error itself; this only guards against a bug there.
      send(res, 500, { error: { message: `internal error: ${(e as Error)?.message}`, type: 'server_error', code: 500 } });
    });
  };
  const server = o.tls ? https.createServer({ cert: o.tls.cert, key: o.tls.key }, listener) : http.createServer(listener);
  server.requestTimeout = 0; // the per-request deadline is ours (--timeout-ms)
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await service?.close();
    throw new Error(`serve: cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`);
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let closing: Promise<void> | null = null;
  return {
    url: `${o.tls ? 'https' : 'http'}://${host}:${addr.port}`,
    port: addr.port,
    metrics,
    service,
    get requestsReceived() {
      return received;
    },
    close(): Promise<void> {
      closing ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Every accepted request is answered, including those waiting in the model queue.
        if (active > 0) await new Promise<void>((resolve) => (idleResolve = resolve));
        await service?.close();
        server.closeIdleConnections();
        await closed;
      })();
      return closing;
    },
  };
}
