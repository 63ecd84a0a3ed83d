// `mtrl-judge serve`: the HTTP judge service (lib/serve/server.ts) until SIGTERM / Ctrl-C, which
// stop accepting connections, finish the requests already accepted, and exit.
import { readFileSync } from 'node:fs';
import { parseDevice } from '../device.js';
import type { TaskDefinition } from '../tasks/task.js';
import { CliError } from './errors.js';

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
  tlsCert?: string;
  tlsKey?: string;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new CliError(flag, `cannot read ${file}: ${why}`, 'pass a PEM file');
  }
}

/** The --tls-cert / --tls-key pair read and checked (before the model loads), or undefined for plain HTTP. */
async function tlsFiles(o: ServeFlags): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (o.tlsCert === undefined && o.tlsKey === undefined) return undefined;
  if (o.tlsCert === undefined) throw new CliError('--tls-key', 'needs --tls-cert too', 'pass both, e.g. --tls-cert cert.pem --tls-key key.pem');
  if (o.tlsKey === undefined) throw new CliError('--tls-cert', 'needs --tls-key too', 'pass both, e.g. --tls-cert cert.pem --tls-key key.pem');
  const files = { cert: readPem('--tls-cert', o.tlsCert), key: readPem('--tls-key', o.tlsKey) };
  const { checkTlsPair, TlsConfigError } = await import('../serve/tls.js');
  try {
    const cert = checkTlsPair(files);
    if (Date.parse(cert.validTo) < Date.now()) console.error(`mtrl-judge serve: warning: the certificate ${o.tlsCert} expired on ${cert.validTo}`);
  } catch (e) {
    if (!(e instanceof TlsConfigError)) throw e;
    const flag = e.which === 'cert' ? '--tls-cert' : e.which === 'key' ? '--tls-key' : '--tls-cert/--tls-key';
    const file = e.which === 'cert' ? o.tlsCert : e.which === 'key' ? o.tlsKey : `${o.tlsCert} and ${o.tlsKey}`;
    throw new CliError(flag, `${file}: ${e.message}`);
  }
  return files;
}

export async function serveCommand(o: ServeFlags): Promise<void> {
  const tls = await tlsFiles(o);
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
    ...(tls ? { tls } : {}),
    ...(o.quiet ? {} : { log: (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`) }),
  });
  // Signal handlers first: a supervisor may send SIGTERM as soon as it reads the line below.
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
  console.log(`mtrl-judge serve: listening on ${server.url}${o.checkpoint ? ` (judge ${o.checkpoint})` : ' (rewards only: no --checkpoint)'}${apiKey ? ', API key required' : ''}`);
  if (!tls && o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') {
    console.error('mtrl-judge serve: warning: plain HTTP beyond loopback (--tls-cert/--tls-key serve HTTPS)');
  }
  if (!apiKey && o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') {
    console.error('mtrl-judge serve: warning: listening beyond loopback without --api-key');
  }
}
