// Worker thread of `mtrl-judge serve`: loads the checkpoint once and judges one batch at a time, so
// the HTTP server's event loop never waits on the model.
import { parentPort, workerData } from 'node:worker_threads';
import { JudgeEngine, type EngineOptions } from '../judge/engine.js';
import { ServeEngine, type ServeItem } from './serve-engine.js';

const port = parentPort!;
let engine: ServeEngine | undefined;
try {
  const init = workerData as { dir: string; opts: EngineOptions };
  const e = JudgeEngine.load(init.dir, init.opts);
  engine = new ServeEngine(e);
  port.postMessage({ type: 'ready', imageSize: e.model.config.imageSize, tasks: e.registry.names() });
} catch (e) {
  port.postMessage({ type: 'fatal', error: { name: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e) } });
}

port.on('message', (msg: { type: 'run'; id: number; items: ServeItem[] }) => {
  if (msg.type !== 'run' || !engine) return;
  const t0 = performance.now();
  const outcomes = engine.run(msg.items);
  port.postMessage({ type: 'result', id: msg.id, outcomes, seconds: (performance.now() - t0) / 1000 });
});
