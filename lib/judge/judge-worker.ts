// Worker-thread side of the Judge API: loads a JudgeEngine and answers one batch at a time, so the
// main thread (a server) stays responsive and requests are never interleaved.
import { parentPort, workerData } from 'node:worker_threads';
import { JudgeEngine, type EngineOptions, type EngineRequest } from './engine.js';

interface Init {
  dir: string;
  opts: EngineOptions;
}

const port = parentPort!;
let engine: JudgeEngine | undefined;
try {
  const init = workerData as Init;
  engine = JudgeEngine.load(init.dir, init.opts);
  port.postMessage({ type: 'ready', imageSize: engine.model.config.imageSize });
} catch (e) {
  port.postMessage({ type: 'fatal', error: serializeError(e) });
}

function serializeError(e: unknown): { name: string; message: string } {
  return e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
}

port.on('message', (msg: { type: 'run'; id: number; requests: EngineRequest[] } | { type: 'close' }) => {
  if (msg.type === 'close') {
    engine?.dispose();
    port.close();
    return;
  }
  // A bad request fails alone: the others of its batch are still judged.
  const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: { name: string; message: string } }> = [];
  const good: number[] = [];
  msg.requests.forEach((r, i) => {
    try {
      engine!.check(r);
      good.push(i);
      outcomes.push({ ok: true, value: null });
    } catch (e) {
      outcomes.push({ ok: false, error: serializeError(e) });
    }
  });
  try {
    const results = engine!.run(good.map((i) => msg.requests[i]!));
    good.forEach((i, j) => (outcomes[i] = { ok: true, value: results[j] }));
  } catch {
    // Something check() did not foresee failed the batch: judge the requests one at a time, so
    // only the ones that fail on their own are rejected.
    for (const i of good) {
      try {
        outcomes[i] = { ok: true, value: engine!.run([msg.requests[i]!])[0] };
      } catch (e) {
        outcomes[i] = { ok: false, error: serializeError(e) };
      }
    }
  }
  port.postMessage({ type: 'result', id: msg.id, outcomes });
});
