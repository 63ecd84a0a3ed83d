// The judging API for applications: `const judge = await Judge.load(dir)`, then
// `await judge.evaluate({ task, images, prompt })`. Work runs on a worker thread; concurrent calls
// are queued and batched (up to maxBatch per generate call), never interleaved.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkMaxInputPixels, decodeImage } from '../data/images.js';
import { checkRgbImage } from '../data/images.js';
import type { RgbImage } from '../data/types.js';
import type { EngineOptions, EngineRequest, JudgeVerdict } from './engine.js';

export type { JudgeVerdict } from './engine.js';

/** An image: decoded pixels, a file path, or encoded PNG/JPEG/WebP bytes. */
export type ImageInput = RgbImage | string | Uint8Array;

export interface JudgeRequest {
  task: string;
  images: ImageInput[];
  prompt?: string;
}

export interface JudgeLoadOptions extends EngineOptions {
  /** Most requests per generate call. Default 16. */
  maxBatch?: number;
  /**
   * Image files or bytes with more pixels (width × height, read from the header before decoding) are
   * refused. Default 8192 × 8192 (DEFAULT_MAX_INPUT_PIXELS); images are decoded straight to the
   * model's imageSize.
   */
  maxInputPixels?: number;
}

type ErrorInfo = { name: string; message: string } | undefined;

interface WorkerReply {
  type: string;
  outcomes?: Array<{ ok: true; value: unknown } | { ok: false; error: ErrorInfo }>;
  error?: ErrorInfo;
}

function toError(e: ErrorInfo): Error {
  const E = e?.name === 'RangeError' ? RangeError : e?.name === 'TypeError' ? TypeError : Error;
  return new E(e?.message ?? 'judge worker failed');
}

interface Pending {
  req: EngineRequest;
  resolve: (v: JudgeVerdict) => void;
  reject: (e: Error) => void;
}

/** Starts the worker: plain JS from dist/; from TypeScript sources (tests, tsx) through tsx's loader. */
function startWorker(workerData: unknown): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(fileURLToPath(new URL('./judge-worker.js', here)), { workerData });
  const tsxRoot = path.dirname(createRequire(here).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(path.join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./judge-worker.ts', here).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

async function toRgb(img: ImageInput, size: number, i: number, maxInputPixels: number): Promise<RgbImage> {
  if (typeof img === 'string' || img instanceof Uint8Array) {
    try {
      return await decodeImage(img, { width: size, height: size }, 'fill', { maxInputPixels });
    } catch (e) {
      throw new TypeError(`Judge.evaluate: images[${i}] could not be decoded: ${(e as Error).message}`);
    }
  }
  checkRgbImage(img, `Judge.evaluate: images[${i}]`);
  return img;
}

export class Judge {
  #worker: Worker;
  #queue: Pending[] = [];
  #inFlight: Pending[] | null = null;
  #nextId = 1;
  #maxBatch: number;
  #closed = false;
  #imageSize: number;
  #maxInputPixels: number;

  private constructor(worker: Worker, maxBatch: number, imageSize: number, maxInputPixels: number) {
    this.#worker = worker;
    this.#maxBatch = maxBatch;
    this.#imageSize = imageSize;
    this.#maxInputPixels = maxInputPixels;
    worker.on('message', (m: WorkerReply) => {
      const batch = this.#inFlight;
      this.#inFlight = null;
      if (!batch) return;
      if (m.type === 'result') {
        batch.forEach((p, i) => {
          const o = m.outcomes![i]!;
          if (o.ok) p.resolve(o.value as JudgeVerdict);
          else p.reject(toError(o.error));
        });
      } else {
        batch.forEach((p) => p.reject(toError(m.error)));
      }
      this.#pump();
    });
    worker.on('error', (e) => this.#failAll(new Error(`Judge: the worker thread failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#failAll(new Error(`Judge: the worker thread exited (code ${code})`));
    });
  }

  /** Loads a judge checkpoint folder on a worker thread. */
  static async load(dir: string, opts: JudgeLoadOptions = {}): Promise<Judge> {
    const { maxBatch = 16, maxInputPixels: maxPixels, ...engineOpts } = opts;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`Judge.load: maxBatch must be an integer ≥ 1, got ${maxBatch}`);
    const maxInputPixels = checkMaxInputPixels(maxPixels, 'Judge.load');
    const worker = startWorker({ dir, opts: engineOpts });
    // The worker loads through loadCheckpoint (with its crash recovery) and reports the image size.
    const imageSize = await new Promise<number>((resolve, reject) => {
      const onMsg = (m: { type: string; imageSize?: number; error?: { message: string } }) => {
        worker.off('error', onErr);
        if (m.type === 'ready') resolve(m.imageSize!);
        else reject(new Error(`Judge.load: ${m.error?.message ?? 'worker failed to start'}`));
      };
      const onErr = (e: Error) => reject(new Error(`Judge.load: ${e.message}`));
      worker.once('message', onMsg);
      worker.once('error', onErr);
    }).catch(async (e) => {
      await worker.terminate();
      throw e;
    });
    return new Judge(worker, maxBatch, imageSize, maxInputPixels);
  }

  /** Judges one request: { verdict, label, reasoning, raw, logprobs, formatOk }. */
  async evaluate(req: JudgeRequest): Promise<JudgeVerdict> {
    if (this.#closed) throw new Error('Judge.evaluate: the judge was closed');
    if (!req || typeof req !== 'object' || !Array.isArray(req.images))
      throw new TypeError('Judge.evaluate: request must be { task, images: [...], prompt? }');
    const images = await Promise.all(req.images.map((img, i) => toRgb(img, this.#imageSize, i, this.#maxInputPixels)));
    // close() may have run while the images were decoding: nothing would ever answer this request.
    if (this.#closed) throw new Error('Judge.evaluate: the judge was closed before the request was queued');
    return new Promise<JudgeVerdict>((resolve, reject) => {
      this.#queue.push({ req: { task: req.task, images, ...(req.prompt !== undefined ? { prompt: req.prompt } : {}) }, resolve, reject });
      this.#pump();
    });
  }

  /** Judges many requests (batched). */
  evaluateBatch(reqs: readonly JudgeRequest[]): Promise<JudgeVerdict[]> {
    return Promise.all(reqs.map((r) => this.evaluate(r)));
  }

  #pump(): void {
    if (this.#inFlight || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#maxBatch);
    this.#inFlight = batch;
    this.#worker.postMessage({ type: 'run', id: this.#nextId++, requests: batch.map((p) => p.req) });
  }

  #failAll(e: Error): void {
    for (const p of [...(this.#inFlight ?? []), ...this.#queue]) p.reject(e);
    this.#inFlight = null;
    this.#queue = [];
  }

  /** Stops the worker (pending requests are rejected). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new Error('Judge.close: the judge was closed'));
    await this.#worker.terminate();
  }
}
