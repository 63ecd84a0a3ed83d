#!/usr/bin/env node
// The mtrl-judge command line: pretrain, train, eval, judge, experiment, data export, bench.
// Every command has --help; long work shows progress bars; Ctrl-C saves a checkpoint and exits.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { packageRoot } from '../native.js';
import { PRETRAIN_DEFAULTS as PRETRAIN } from '../rl/config.js';
import { loadRunConfig, parseRunConfig, type RunConfig } from './config.js';
import { CliError, formatCliError, wantsStack } from './errors.js';
import { onInterrupt } from './interrupt.js';
import { createProgress } from './progress.js';
import { cliDevice, resolveBase } from './resolve.js';

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
}
function num(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
    return n;
  };
}
function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function runConfig(opts: { config?: string; dataSeed?: number; data?: string }, overrides: Partial<Record<string, unknown>>): RunConfig {
  const base = opts.config ? (loadRunConfig(opts.config) as unknown as Record<string, unknown>) : {};
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;
  // --data-seed: the same run on another draw of the generated suite (the acceptance checks ask
  // for several), without a config file per data seed.
  if (opts.dataSeed !== undefined) {
    const data = (merged.data ?? {}) as Record<string, unknown>;
    if (opts.data !== undefined || data.source === 'folder')
      throw new CliError('--data-seed', `seeds the generated suite, but the data come from the folder ${opts.data ?? String(data.dir)}`, 'drop --data-seed, or use the generated suite');
    merged.data = { ...data, seed: opts.dataSeed };
  }
  const cfg = parseRunConfig(merged, opts.config ?? '(command line)');
  return { ...cfg, base: resolveBase(cfg.base) };
}

/** --corpus-mix: a JSON object (its concepts and weights are checked when the corpus is made). */
function corpusMix(v: string): Record<string, number> {
  try {
    const o = JSON.parse(v) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return o as Record<string, number>;
  } catch {
    // fall through to the error below
  }
  throw new InvalidArgumentError(`--corpus-mix must be a JSON object of concept weights, e.g. '{"note-match":0.4}', got ${JSON.stringify(v)}`);
}

const DEVICE_HELP = "'auto' (CUDA when usable, else the CPU; the choice is printed), 'cpu', 'cuda' or 'cuda:N'";

function modelSpec(v: string): 'tiny' | 'small' | Record<string, unknown> {
  if (v === 'tiny' || v === 'small') return v;
  try {
    const o = JSON.parse(v) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return o as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new InvalidArgumentError(`--model must be 'tiny', 'small' or a JSON object of sizes, got ${JSON.stringify(v)}`);
}

const program = new Command('mtrl-judge')
  .description('Train and run multimodal LLM-as-a-judge models with multi-task reinforcement learning (MT-RL-Judge).')
  .version((JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version)
  .option('--verbose', 'print stack traces of errors (also when DEBUG is set)')
  .configureOutput({
    // Commander's own usage errors (unknown option, bad choice, missing argument): one line.
    outputError: (str, write) => write(`mtrl-judge: ${str.trim().replace(/^error: /, '').replace(/\n+/g, ' ')} (see --help)\n`),
  });

program
  .command('pretrain')
  .description('pretrain the base vision-language model on the instruction corpus (captions, VQA and general questions about the judging concepts; never the judge tasks\' prompts or suite items)')
  .option('--out <dir>', 'checkpoint folder to write', 'models/base')
  .option('--steps <n>', 'optimizer steps', int('--steps'), PRETRAIN.maxSteps)
  .option('--batch-size <n>', 'sequences per step', int('--batch-size'), PRETRAIN.batchSize)
  .option('--lr <x>', 'peak learning rate (cosine schedule)', num('--lr'), PRETRAIN.learningRate)
  .option('--seed <n>', 'seed of the corpus, tokenizer and initial weights', int('--seed'), PRETRAIN.seed as number)
  .option('--vocab-size <n>', 'tokenizer vocabulary size', int('--vocab-size'), PRETRAIN.vocabSize)
  .option('--corpus-size <n>', 'instruction items generated (cycled)', int('--corpus-size'), PRETRAIN.corpusSize)
  .option('--model <preset|json>', "model preset ('tiny' | 'small') or a JSON object of sizes laid over 'tiny', e.g. '{\"dModel\":64,\"nLayers\":2}'", 'tiny')
  .option('--corpus-version <n>', 'instruction corpus version: 2, 1 (the shipped base model\'s first stage), 3 (its perception stages) or 4 (3 with marked two-picture notes and note-matching questions)', (v: string) => { if (!['1', '2', '3', '4'].includes(v)) throw new InvalidArgumentError(`--corpus-version must be 1, 2, 3 or 4, got ${JSON.stringify(v)}`); return Number(v); }, PRETRAIN.corpusVersion)
  .option('--corpus-mix <json>', 'replace some concepts\' weights of the corpus version\'s mix, e.g. \'{"note-match":0.4}\' (0 drops a concept; docs/tasks.md lists the concepts)', corpusMix)
  .option('--init <dir>', 'continue from this checkpoint (weights and tokenizer) instead of a fresh model: a second stage')
  .option('--patch-window <n>', 'with --init: widen the checkpoint\'s patch window to n pixels (image tokens read n×n windows centred on their patches; the new border weights start at zero, so the model starts out unchanged)', int('--patch-window'))
  .option('--add-layers <n>', 'with --init: put n new decoder layers on top of the checkpoint (their residual writers start at zero, so the model starts out unchanged)', int('--add-layers'))
  .option('--add-vision-layers <n>', 'with --init: put n new vision-encoder layers over the image patches (zero residual writers; a checkpoint without an encoder gets one of the decoder\'s width, which starts close to, not exactly at, the checkpoint)', int('--add-vision-layers'))
  .option('--device <device>', DEVICE_HELP, 'auto')
  .action(async (o) => {
    const model = modelSpec(o.model);
    if (o.patchWindow !== undefined && !o.init)
      throw new InvalidArgumentError(`--patch-window widens an --init checkpoint; for a fresh model give it in --model, e.g. '{"patchWindow":${o.patchWindow}}'`);
    if (o.addLayers !== undefined && !o.init)
      throw new InvalidArgumentError(`--add-layers deepens an --init checkpoint; for a fresh model give the depth in --model, e.g. '{"nLayers":6}'`);
    if (o.addLayers !== undefined && (o.addLayers < 1 || o.addLayers > 64)) throw new InvalidArgumentError(`--add-layers must be an integer in [1, 64], got ${o.addLayers}`);
    if (o.addVisionLayers !== undefined && !o.init)
      throw new InvalidArgumentError(`--add-vision-layers deepens an --init checkpoint's vision encoder; for a fresh model give it in --model, e.g. '{"visionLayers":2}'`);
    if (o.addVisionLayers !== undefined && (o.addVisionLayers < 1 || o.addVisionLayers > 64))
      throw new InvalidArgumentError(`--add-vision-layers must be an integer in [1, 64], got ${o.addVisionLayers}`);
    if (o.corpusMix) {
      const { resolveMix } = await import('../data/instruct.js');
      try {
        resolveMix(o.corpusVersion as 1 | 2 | 3 | 4, o.corpusMix as Record<string, number>);
      } catch (e) {
        throw new InvalidArgumentError(`--corpus-mix: ${(e as Error).message.replace(/^corpus mix: /, '')}`);
      }
    }
    const device = cliDevice(o.device);
    const { pretrainBase } = await import('../experiment/pretrain.js');
    const progress = createProgress();
    const stop = onInterrupt('saving a checkpoint', (line) => progress.log(line));
    progress.start('pretraining base model', o.steps);
    const r = await pretrainBase({
      seed: o.seed,
      steps: o.steps,
      batchSize: o.batchSize,
      learningRate: o.lr,
      vocabSize: o.vocabSize,
      corpusSize: o.corpusSize,
      model,
      ...(o.init ? { init: o.init } : {}),
      ...(o.patchWindow !== undefined ? { patchWindow: o.patchWindow } : {}),
      ...(o.addLayers !== undefined ? { addLayers: o.addLayers } : {}),
      ...(o.addVisionLayers !== undefined ? { addVisionLayers: o.addVisionLayers } : {}),
      corpusVersion: o.corpusVersion as 1 | 2 | 3 | 4,
      ...(o.corpusMix ? { corpusMix: o.corpusMix } : {}),
      device,
      metricsFile: path.join(o.out + '.metrics.jsonl'),
      onStep: (step, loss, tps) => progress.update(step, { loss, 'tok/s': tps }),
      shouldStop: () => stop.stopped,
      out: o.out,
      stateFields: {
        command: `mtrl-judge pretrain --out ${o.out} --steps ${o.steps} --batch-size ${o.batchSize} --lr ${o.lr} --seed ${o.seed} --vocab-size ${o.vocabSize} --corpus-size ${o.corpusSize} --model '${o.model}' --corpus-version ${o.corpusVersion}${o.corpusMix ? ` --corpus-mix '${JSON.stringify(o.corpusMix)}'` : ''}${o.init ? ` --init ${o.init}` : ''}${o.patchWindow !== undefined ? ` --patch-window ${o.patchWindow}` : ''}${o.addLayers !== undefined ? ` --add-layers ${o.addLayers}` : ''}${o.addVisionLayers !== undefined ? ` --add-vision-layers ${o.addVisionLayers}` : ''}`,
      },
    });
    progress.stop();
    console.log(`saved ${o.out}: ${r.model.numParameters().toLocaleString()} parameters, ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${r.seconds.toFixed(0)} s`);
    if (stop.stopped) process.exit(130);
  });

program
  .command('train')
  .description('train one judge (or one per task for the -single methods) from a base checkpoint')
  .addOption(new Option('--method <method>', 'training method').choices(['mt-rl', 'rl-single', 'sft-unified', 'sft-single']).default('mt-rl'))
  .option('--config <file>', 'run config (.json or .yaml); see the README for every field and its default')
  .option('--data <dir>', 'a folder in the JSONL format (default: the generated suite)')
  .option('--base <dir>', 'base checkpoint folder')
  .option('--out <dir>', 'output folder')
  .option('--data-seed <n>', "seed of the generated suite (overrides the config's data.seed)", int('--data-seed'))
  .option('--steps <n>', 'optimizer steps (overrides the config)', int('--steps'))
  .option('--resume', 'continue from <out>/last')
  .option('--device <device>', `${DEVICE_HELP} (default: the config's device, 'auto')`)
  .action(async (o) => {
    const { trainCommand } = await import('./train-command.js');
    const cfg = runConfig(o, { base: o.base, out: o.out, device: o.device });
    await trainCommand(cfg, { method: o.method, data: o.data, steps: o.steps, resume: !!o.resume });
  });

program
  .command('eval')
  .description('evaluate a checkpoint: per-task macro-F1, accuracy, format rate, position consistency')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder')
  .option('--tasks <list>', 'comma-separated tasks (default: the six in-distribution and two OOD tasks)', list)
  .addOption(new Option('--split <split>', 'which split').choices(['validation', 'test']).default('test'))
  .option('--data <dir>', 'a folder in the JSONL format (default: the generated suite)')
  .option('--config <file>', 'run config (data and evaluation sections are used)')
  .option('--data-seed <n>', "seed of the generated suite (overrides the config's data.seed)", int('--data-seed'))
  .option('--max-per-task <n>', 'examples per task (0 = all)', int('--max-per-task'))
  .option('--samples <k>', 'sampled judgments per example (majority vote); needs --temperature > 0', int('--samples'))
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', num('--temperature'))
  .option('--json', 'print JSON instead of a table')
  .option('--device <device>', `${DEVICE_HELP} (default: the config's device, 'auto')`)
  .action(async (o) => {
    const { evalCommand } = await import('./eval-command.js');
    const cfg = runConfig(o, { device: o.device });
    await evalCommand(cfg, o);
  });

program
  .command('judge')
  .description('judge images from the command line (prints the reasoning and the verdict)')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder of a trained judge')
  .requiredOption('--task <name>', 'task, e.g. safety, alignment, pair-safety')
  .option('--image <file>', 'the image (PNG/JPEG/WebP) for single-image tasks')
  .option('--images <files...>', 'two images for pairwise tasks (A then B)')
  .option('--prompt <text>', 'the text-to-image prompt, for tasks that judge against one')
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', num('--temperature'), 0)
  .option('--json', 'print JSON for machines')
  .option('--device <device>', DEVICE_HELP, 'auto')
  .action(async (o) => {
    const { judgeCommand } = await import('./judge-command.js');
    await judgeCommand(o);
  });

program
  .command('experiment')
  .description("the paper's comparison (base, SFT-Single, SFT-Unified, RL-Single, MT-RL) with one budget, then a report")
  .option('--config <file>', 'run config (.json or .yaml)')
  .option('--methods <list>', 'comma-separated methods (default from the config: off-the-shelf,sft-unified,mt-rl)', list)
  .option('--base <dir>', 'base checkpoint folder (default models/base)')
  .option('--out <dir>', 'output folder (default runs/default)')
  .option('--data-seed <n>', "seed of the generated suite (overrides the config's data.seed)", int('--data-seed'))
  .option('--seeds <n>', 'training runs per method with different training seeds (default from the config: 1); the report gives means with 95 % bootstrap intervals', int('--seeds'))
  .option('--device <device>', `${DEVICE_HELP} (default: the config's device, 'auto')`)
  .action(async (o) => {
    const { experimentCommand } = await import('./experiment-command.js');
    const cfg = runConfig(o, { methods: o.methods, base: o.base, out: o.out, device: o.device, seeds: o.seeds });
    await experimentCommand(cfg);
  });

const data = program.command('data').description('judging data utilities');
data
  .command('export')
  .description('write the generated judging suite to a folder (PNG images + JSONL per split), or (--format verl|verl-jsonl|openrlhf) the suite or a JSONL folder in an RL engine\'s dataset layout')
  .requiredOption('--out <dir>', 'output folder')
  .addOption(new Option('--preset <name>', 'suite sizes').choices(['small', 'paper']).default('small'))
  .option('--seed <n>', 'suite seed', int('--seed'), 1)
  .option('--image-size <n>', 'image side in pixels (16..128)', int('--image-size'), 32)
  .addOption(new Option('--format <name>', 'mtrl (our JSONL), or the dataset layout of verl (parquet; verl-jsonl: JSONL) / OpenRLHF (JSONL), written to <out>/<format>/').choices(['mtrl', 'verl', 'verl-jsonl', 'openrlhf']).default('mtrl'))
  .option('--data <dir>', 'verl/openrlhf: convert this JSONL folder instead of the generated suite')
  .option('--config <file>', 'verl/openrlhf: run config (custom tasks, inDistribution, grpo.strategy/batchSize/seed)')
  .option('--tasks <list>', 'verl/openrlhf: only these tasks', list)
  .option('--strategy <name>', 'verl/openrlhf: task mixing of the training stream: proportional | uniform | temperature | custom')
  .option('--strategy-temperature <t>', 'verl/openrlhf: τ of the temperature strategy', num('--strategy-temperature'))
  .option('--weights <list>', 'verl/openrlhf: custom task weights, e.g. safety=2,technical=1')
  .option('--batch-size <n>', 'verl/openrlhf: prompts per batch of the training stream', int('--batch-size'))
  .option('--steps <n>', 'verl/openrlhf: batches written (default: one pass over the training data)', int('--steps'))
  .option('--reward-url <url>', 'verl: the mtrl-judge serve URL reward_fn.py calls (default http://127.0.0.1:8080)')
  .addOption(new Option('--verl-images <mode>', 'verl parquet: embed the image bytes in the rows, or store absolute paths').choices(['embed', 'path']).default('embed'))
  .option('--overwrite', 'replace files of an earlier export')
  .action(async (o) => {
    if (o.format !== 'mtrl') {
      const { rlExportCommand } = await import('./export-rl-command.js');
      await rlExportCommand(o);
      return;
    }
    const { exportCommand } = await import('./data-command.js');
    await exportCommand(o);
  });

program
  .command('serve')
  .description('HTTP judge service (OpenAI-compatible chat completions, /v1/judge, /v1/rewards, OpenRLHF /get_reward, /metrics); SIGTERM finishes in-flight requests')
  .option('--checkpoint <dir>', 'judge checkpoint folder (without one, only the reward endpoints are served)')
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--port <n>', 'port (0 = any free port)', int('--port'), 8080)
  .option('--api-key <key>', 'require Authorization: Bearer <key> (default: $MTRL_API_KEY, else no key)')
  .option('--max-batch <n>', 'most generated rows (requests × samples) per model batch', int('--max-batch'), 16)
  .option('--max-queue <n>', 'most requests waiting; beyond it 503 + Retry-After', int('--max-queue'), 256)
  .option('--timeout-ms <n>', 'per-request deadline in ms (0 = none); past it 504', int('--timeout-ms'), 60000)
  .option('--max-body-mb <n>', 'largest request body in MB; beyond it 413', num('--max-body-mb'), 20)
  .option('--max-tokens <n>', 'largest (and default) max_tokens per judgment', int('--max-tokens'), 48)
  .option('--config <file>', 'run config whose custom tasks are served too')
  .option('--device <device>', "'cpu' or 'cuda:N'", 'cpu')
  .option('--quiet', 'no per-request log lines on stderr')
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key')
  .option('--tls-key <file>', 'the PEM private key (unencrypted) of --tls-cert')
  .action(async (o) => {
    const { serveCommand } = await import('./serve-command.js');
    await serveCommand(o);
  });

program
  .command('bench')
  .description('run the benchmarks (from a source checkout) and print their tables')
  .option('--only <list>', 'comma-separated: gemm, attention, sampling, policy-loss, model', list)
  .option('--quick', 'small grids')
  .action(async (o) => {
    const { spawnSync } = await import('node:child_process');
    const names: string[] = o.only ?? ['gemm', 'attention', 'sampling', 'policy-loss', 'model'];
    for (const n of names) {
      const file = path.join(packageRoot, 'benchmarks', `${n}.ts`);
      if (!existsSync(file)) {
        console.error(`bench: ${file} not found (benchmarks ship with the source repository, not the npm package)`);
        process.exitCode = 1;
        continue;
      }
      const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...(o.quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: packageRoot });
      if (r.status !== 0) process.exitCode = 1;
    }
  });

export async function main(argv = process.argv): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    // Every error ends in one line (the flag, what is wrong, what to do) and a non-zero exit code;
    // the stack only with --verbose or DEBUG.
    const { line, exitCode } = formatCliError(e);
    process.stderr.write(`mtrl-judge: ${line}\n`);
    if (wantsStack(argv)) {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      const cause = e instanceof Error ? e.cause : undefined;
      if (cause !== undefined) process.stderr.write(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`);
    }
    process.exitCode = exitCode;
  }
}

await main();
