// CLI errors: every expected failure ends in one line that names the flag (or config field) at fault
// and says what to do; the stack trace is shown only with --verbose or DEBUG set.
import { CheckpointError } from '../model/checkpoint-files.js';
import { DatasetError } from '../data/jsonl.js';
import { ConfigError } from './config.js';

/** A user mistake the CLI can explain: which flag, what is wrong, what to do. */
export class CliError extends Error {
  override name = 'CliError';
  readonly flag: string | undefined;
  readonly hint: string | undefined;
  /** 2 = bad usage (flags, config), 1 = the work failed. */
  readonly exitCode: number;
  constructor(flag: string | undefined, message: string, hint?: string, opts: { exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.flag = flag;
    this.hint = hint;
    this.exitCode = opts.exitCode ?? 2;
  }
}

const oneLine = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('; ');

/** The one line printed for an error (after "mtrl-judge: "). */
export function formatCliError(e: unknown): { line: string; exitCode: number } {
  if (e instanceof CliError) {
    const parts = [e.flag ? `${e.flag}: ${oneLine(e.message)}` : oneLine(e.message)];
    if (e.hint) parts.push(e.hint);
    return { line: parts.join(' — '), exitCode: e.exitCode };
  }
  if (e instanceof ConfigError) return { line: `${oneLine(e.message)} — fix the config (the README's "Config reference" lists every field)`, exitCode: 2 };
  // Commander's InvalidArgumentError thrown from an action (e.g. a bad --model): its message names the flag.
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  if (e instanceof Error && typeof code === 'string' && code.startsWith('commander.'))
    return { line: oneLine(e.message.replace(/^error: /, '')), exitCode: 2 };
  if (e instanceof CheckpointError) return { line: `${oneLine(e.message)} — pass a checkpoint folder (config.json, model.safetensors, tokenizer.json)`, exitCode: 1 };
  if (e instanceof DatasetError) return { line: `${oneLine(e.message)} — see docs/data-format.md for the folder layout`, exitCode: 1 };
  if (e instanceof RangeError || e instanceof TypeError) return { line: oneLine(e.message), exitCode: 2 };
  const msg = e instanceof Error ? oneLine(e.message) : String(e);
  return { line: `${msg} (run with --verbose for the stack trace)`, exitCode: 1 };
}

/** True when the user asked for stack traces: --verbose anywhere on the command line, or DEBUG set. */
export function wantsStack(argv: readonly string[] = process.argv): boolean {
  const d = process.env.DEBUG;
  const m = process.env.MTRL_DEBUG;
  const on = (v: string | undefined) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
  return argv.includes('--verbose') || on(d) || on(m);
}

/** Runs `fn`, turning a missing/corrupt checkpoint into a CliError for `flag` with `hint`. */
export function checkpointFor<T>(flag: string, dir: string, hint: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CheckpointError) throw new CliError(flag, e.message, hint, { exitCode: 1, cause: e });
    throw e;
  }
}

/** Awaits `fn`, turning a dataset error into a CliError for `flag`. */
export async function datasetFor<T>(flag: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof DatasetError)
      throw new CliError(flag, e.message, 'pass a folder in the JSONL format (docs/data-format.md), or leave it out to use the generated suite', { exitCode: 1, cause: e });
    throw e;
  }
}
