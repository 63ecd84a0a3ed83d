// JudgeService: the model worker behind `mtrl-judge serve`. Requests from every client go into one
// bounded FIFO queue; whenever the worker is idle, the head of the queue (up to maxBatch generated
// rows) is sent as one batch, so concurrent clients share prefill and decode. A full queue refuses
// new work at once (the server answers 503 with Retry-After), a request past its deadline is dropped
// from the queue (or its late result discarded), and drain() waits for everything accepted.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EngineOptions } from '../judge/engine.js';
import type { ItemOutcome, ItemResult, ServeItem } from './serve-engine.js';

export interface JudgeServiceOptions extends EngineOptions {
  /** Most generated rows (requests × samples) per batch. Default 16. */
  maxBatch?: number;
  /** Most requests waiting (not counting the batch being judged). Default 256. */
  maxQueue?: number;
  /** Called after every batch with its size in rows and its duration. */
  onBatch?: (rows: number, requests: number, seconds: number) => void;
}

/** The queue was full; retry later. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}
/** The request's deadline passed before its result came. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}
/** The request itself was invalid (bad task, image count, missing prompt, too long). */
export class RequestError extends Error {
  override name = 'RequestError';
}
/** The service is closing or the worker died. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
}

interface Pending {
  item: ServeItem;
  rows: number;
  resolve: (v: ItemResult) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  done: boolean;
}

function startWorker(workerData: unknown): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(fileURLToPath(new URL('./serve-worker.js', here)), { workerData });
  // From TypeScript sources (tests, tsx): load the worker through tsx's loader.
  const tsxRoot = path.dirname(createRequire(here).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(path.join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./serve-worker.ts', here).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export class JudgeService {
  readonly imageSize: number;
  readonly taskNames: readonly string[];
  readonly maxBatch: number;
  readonly maxQueue: number;
  #worker: Worker;
  #queue: Pending[] = [];
  #inFlight: Pending[] | null = null;
  #nextId = 1;
  #closed = false;
  #dead: Error | null = null;
  #idleWaiters: Array<() => void> = [];
  #onBatch: JudgeServiceOptions['onBatch'];
  #batchStart = 0;

  private constructor(worker: Worker, info: { imageSize: number; tasks: string[] }, opts: JudgeServiceOptions) {
    this.#worker = worker;
    this.imageSize = info.imageSize;
    this.taskNames = Object.freeze([...info.tasks]);
    this.maxBatch = opts.maxBatch ?? 16;
    this.maxQueue = opts.maxQueue ?? 256;
    this.#onBatch = opts.onBatch;
    worker.on('message', (m: { type: string; outcomes?: ItemOutcome[]; seconds?: number }) => {
      if (m.type !== 'result') return;
      const batch = this.#inFlight ?? [];
      this.#inFlight = null;
      this.#onBatch?.(batch.reduce((a, p) => a + p.rows, 0), batch.length, (performance.now() - this.#batchStart) / 1000);
      batch.forEach((p, i) => {
        const o = m.outcomes![i]!;
        if (o.ok) this.#settle(p, null, o.value);
        else this.#settle(p, new RequestError(o.error.message));
      });
      this.#pump();
    });
    worker.on('error', (e) => this.#die(new UnavailableError(`the judge worker failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#die(new UnavailableError(`the judge worker exited (code ${code})`));
    });
  }

  /** Loads the checkpoint on a worker thread. */
  static async start(dir: string, opts: JudgeServiceOptions = {}): Promise<JudgeService> {
    const { maxBatch = 16, maxQueue = 256, onBatch: _onBatch, ...engineOpts } = opts;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`JudgeService: maxBatch must be an integer ≥ 1, got ${maxBatch}`);
    if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new RangeError(`JudgeService: maxQueue must be an integer ≥ 1, got ${maxQueue}`);
    const worker = startWorker({ dir, opts: engineOpts });
    const info = await new Promise<{ imageSize: number; tasks: string[] }>((resolve, reject) => {
      const onMsg = (m: { type: string; imageSize?: number; tasks?: string[]; error?: { message: string } }) => {
        worker.off('error', onErr);
        if (m.type === 'ready') resolve({ imageSize: m.imageSize!, tasks: m.tasks! });
        else reject(new Error(`cannot load ${dir}: ${m.error?.message ?? 'worker failed to start'}`));
      };
      const onErr = (e: Error) => reject(new Error(`cannot load ${dir}: ${e.message}`));
      worker.once('message', onMsg);
      worker.once('error', onErr);
    }).catch(async (e) => {
      await worker.terminate();
      throw e;
    });
    return new JudgeService(worker, info, { ...opts, maxBatch, maxQueue });
  }

  /** Requests waiting (not yet sent to the worker). */
  get queueDepth(): number {
    return this.#queue.length;
  }
  /** Requests in the batch being judged. */
  get inFlight(): number {
    return this.#inFlight?.length ?? 0;
  }
  /** Whether the worker is alive and the service accepts work. */
  get healthy(): boolean {
    return !this.#closed && this.#dead === null;
  }
  /** Free queue slots. */
  get freeSlots(): number {
    return Math.max(0, this.maxQueue - this.#queue.length);
  }

  /**
   * Queues requests (all or none: when fewer than items.length slots are free this throws
   * QueueFullError and queues nothing). Each promise settles with its result, a RequestError,
   * a DeadlineError after timeoutMs (0 = none) or an UnavailableError.
   */
  submitAll(items: readonly ServeItem[], timeoutMs = 0): Promise<ItemResult>[] {
    if (this.#dead) throw this.#dead;
    if (this.#closed) throw new UnavailableError('the server is shutting down');
    if (items.length > this.freeSlots) throw new QueueFullError(`the queue is full (${this.#queue.length}/${this.maxQueue} waiting)`);
    const promises = items.map(
      (item) =>
        new Promise<ItemResult>((resolve, reject) => {
          const p: Pending = { item, rows: Math.max(1, item.samples), resolve, reject, done: false };
          if (timeoutMs > 0) {
            p.timer = setTimeout(() => {
              const i = this.#queue.indexOf(p);
              if (i >= 0) this.#queue.splice(i, 1);
              this.#settle(p, new DeadlineError(`no result within ${timeoutMs} ms`));
              this.#checkIdle();
            }, timeoutMs);
          }
          this.#queue.push(p);
        }),
    );
    this.#pump();
    return promises;
  }

  #settle(p: Pending, err: Error | null, value?: ItemResult): void {
    if (p.done) return;
    p.done = true;
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value!);
  }

  #pump(): void {
    if (this.#inFlight || this.#dead) {
      this.#checkIdle();
      return;
    }
    if (this.#queue.length === 0) {
      this.#checkIdle();
      return;
    }
    const batch: Pending[] = [];
    let rows = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      if (batch.length > 0 && rows + next.rows > this.maxBatch) break;
      batch.push(this.#queue.shift()!);
      rows += next.rows;
    }
    this.#inFlight = batch;
    this.#batchStart = performance.now();
    this.#worker.postMessage({ type: 'run', id: this.#nextId++, items: batch.map((p) => p.item) });
  }

  #checkIdle(): void {
    if (this.#inFlight || this.#queue.length > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #die(e: Error): void {
    if (this.#dead) return;
    this.#dead = e;
    for (const p of [...(this.#inFlight ?? []), ...this.#queue]) this.#settle(p, e);
    this.#inFlight = null;
    this.#queue = [];
    this.#checkIdle();
  }

  /** Resolves when nothing is queued or being judged. */
  drain(): Promise<void> {
    if (!this.#inFlight && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Refuses new work, waits for accepted work (drain), then stops the worker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.drain();
    await this.#worker.terminate();
  }
}
