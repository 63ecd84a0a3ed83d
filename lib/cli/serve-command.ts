// `mtrl-judge serve`: the HTTP judge service (lib/serve/server.ts) until SIGTERM / Ctrl-C, which
// stop accepting connections, finish the requests already accepted, and exit.
import { parseDevice } from '../device.js';
import type { TaskDefinition } from '../tasks/task.js';

export interface ServeFlags {
  checkpoint?: string;
  host: string;
  port: number;
  apiKey?: string;
  maxBatch: number;
  maxQueue: number;
  timeoutMs: number;
  maxBodyMb: number;
  maxTokens: number;
  config?: string;
  device: string;
  quiet?: boolean;
}

export async function serveCommand(o: ServeFlags): Promise<void> {
  const { startServer } = await import('../serve/server.js');
  let tasks: TaskDefinition[] | undefined;
  if (o.config) {
    const { loadRunConfig, registryFor } = await import('./config.js');
    const cfg = loadRunConfig(o.config);
    registryFor(cfg); // validates the custom tasks with errors that name the field
    tasks = cfg.tasks as unknown as TaskDefinition[];
  }
  const apiKey = o.apiKey ?? process.env.MTRL_API_KEY;
  const server = await startServer({
    ...(o.checkpoint ? { checkpoint: o.checkpoint } : {}),
    host: o.host,
    port: o.port,
    ...(apiKey ? { apiKey } : {}),
    maxBatch: o.maxBatch,
    maxQueue: o.maxQueue,
    timeoutMs: o.timeoutMs,
    maxBodyBytes: Math.round(o.maxBodyMb * 1024 * 1024),
    maxNewTokens: o.maxTokens,
    device: parseDevice(o.device, '--device'),
    ...(tasks ? { tasks } : {}),
    ...(o.quiet ? {} : { log: (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`) }),
  });
  console.log(`mtrl-judge serve: listening on ${server.url}${o.checkpoint ? ` (judge ${o.checkpoint})` : ' (rewards only: no --checkpoint)'}${apiKey ? ', API key required' : ''}`);
  if (!apiKey && o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') {
    console.error('mtrl-judge serve: warning: listening beyond loopback without --api-key');
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`${signal}: finishing in-flight requests, then exiting (${signal} again to quit now)\n`);
    server.close().then(
      () => process.exit(0),
      (e) => {
        console.error(`mtrl-judge serve: shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
