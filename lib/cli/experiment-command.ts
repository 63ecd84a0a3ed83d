// `mtrl-judge experiment` (and `npm start`): the paper's comparison on one budget, then report.md and
// a self-contained report.html with tables and charts in the output folder.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { METHODS, machineLine, runExperiment, type MethodName } from '../experiment/methods.js';
import { writeReport } from '../report/report.js';
import { registryFor, type RunConfig } from './config.js';
import { CliError, datasetFor } from './errors.js';
import { onInterrupt } from './interrupt.js';
import { loadData } from './load-data.js';
import { createProgress } from './progress.js';
import { cliDevice } from './resolve.js';
import { findings } from '../experiment/findings.js';
import { aggregateSeedRuns, type SeedRun } from '../experiment/seeds.js';
import type { ExampleJudgment } from '../report/report.js';

export async function experimentCommand(cfg: RunConfig): Promise<void> {
  for (const m of cfg.methods) if (!(METHODS as readonly string[]).includes(m)) throw new CliError('--methods', `unknown method "${m}"`, `use some of ${METHODS.join(', ')}`);
  if (!existsSync(path.join(cfg.base, 'config.json')))
    throw new CliError('--base', `no checkpoint at ${cfg.base} (no config.json there)`, `pass --base <checkpoint folder>, or run \`mtrl-judge pretrain --out ${cfg.base}\` first`, { exitCode: 1 });
  const device = cliDevice(cfg.device);
  const registry = registryFor(cfg);
  const t0 = Date.now();
  const data = await datasetFor('config data.dir', () => loadData(cfg));
  const progress = createProgress();
  const interrupt = onInterrupt('writing the report of what finished', (line) => progress.log(line));
  progress.log(`data: ${data.description}; ${data.train.length} train / ${data.validation.length} validation / ${data.test.length} test examples; base: ${cfg.base}`);
  let current = '';
  // Seed k trains every method with training seeds grpo.seed + k and sft.seed + k; with one seed the
  // checkpoints go straight under <out>/<method>, with more under <out>/seed-<k>/<method>. The base
  // model is evaluated greedily, so it is deterministic: it is evaluated in the first run only.
  let lastStep = -1;
  let currentMethod = '';
  let evalPass = 0;
  const runs: SeedRun[] = [];
  const examples: ExampleJudgment[] = [];
  for (let k = 0; k < cfg.seeds && !interrupt.stopped; k++) {
    const grpoSeed = cfg.grpo.seed + k;
    const sftSeed = cfg.sft.seed + k;
    const methods = (cfg.methods as MethodName[]).filter((m) => k === 0 || m !== 'off-the-shelf');
    if (cfg.seeds > 1) progress.log(`seed ${k + 1} of ${cfg.seeds}: training seeds grpo ${grpoSeed}, sft ${sftSeed}`);
    const result = await runExperiment({
      base: cfg.base,
      methods,
      tasks: [...cfg.inDistribution, ...cfg.outOfDistribution].map((t) => registry.get(t)),
      inDistribution: cfg.inDistribution,
      outOfDistribution: cfg.outOfDistribution,
      data,
      grpo: { ...cfg.grpo, seed: grpoSeed },
      sft: { ...cfg.sft, seed: sftSeed },
      ...(cfg.singleTaskSteps !== undefined ? { singleTaskSteps: cfg.singleTaskSteps } : {}),
      evaluation: cfg.evaluation,
      outDir: cfg.seeds > 1 ? path.join(cfg.out, `seed-${k}`) : cfg.out,
      device,
      shouldStop: () => interrupt.stopped,
      onProgress: (p) => {
        // A new bar for each training run and each evaluation pass (in-distribution, then the OOD pairs:
        // same method and phase, so a restart of the count or a new total marks the next pass).
        const key = `${k}/${p.method}/${p.task ?? ''}/${p.phase}/${p.total}`;
        if (key !== current || p.step <= lastStep) {
          if (p.method !== currentMethod) [currentMethod, evalPass] = [p.method, 0];
          const what = p.phase === 'train' || p.task ? '' : ++evalPass === 1 ? ' (in-distribution)' : ' (OOD pairs, both orders)';
          current = key;
          progress.start(`${cfg.seeds > 1 ? `[seed ${k + 1}/${cfg.seeds}] ` : ''}${p.phase === 'train' ? 'training' : 'evaluating'} ${p.method}${p.task ? ` (${p.task})` : ''}${what}`, p.total);
        }
        lastStep = p.step;
        progress.update(p.step, { reward: p.reward, acc: p.accuracy, loss: p.loss });
      },
    });
    runs.push({ seed: k, methods: result.methods });
    if (k === 0) examples.push(...result.examples);
  }
  const methods = aggregateSeedRuns(runs, { seed: 0, resamples: 1000 });
  progress.stop();
  mkdirSync(cfg.out, { recursive: true });
  const report = {
    title: 'MT-RL-Judge on the generated judging suite',
    createdAt: new Date().toISOString(),
    machine: `${machineLine(device)} · ${((Date.now() - t0) / 60000).toFixed(1)} min in all`,
    // The effective settings: the config has every trainer default filled in.
    settings: { ...cfg, device } as unknown as Record<string, unknown>,
    methods,
    examples,
    findings: findings(methods),
  };
  // results.json keeps every seed's per-example verdicts, so the intervals can be recomputed.
  writeFileSync(path.join(cfg.out, 'results.json'), JSON.stringify({ ...report, examples: undefined, runs: runs.map((r) => ({ seed: r.seed, methods: r.methods.map(({ curves: _curves, ...m }) => m) })) }, null, 2));
  const files = writeReport(cfg.out, report);
  const { scoreTable } = await import('../report/report.js');
  console.log('\nIn-distribution macro-F1 (%)\n' + scoreTable(methods, 'inDistribution'));
  if (cfg.outOfDistribution.length) console.log('\nOut-of-distribution (pairwise) macro-F1 (%)\n' + scoreTable(methods, 'outOfDistribution'));
  for (const f of report.findings) console.log(`- ${f}`);
  console.log(`\nreport: ${files.html}\n        ${files.markdown}`);
  if (interrupt.stopped) process.exit(130);
}
