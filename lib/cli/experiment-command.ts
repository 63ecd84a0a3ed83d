// `mtrl-judge experiment` (and `npm start`): the paper's comparison on one budget, then report.md and
// a self-contained report.html with tables and charts in the output folder.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDevice } from '../device.js';
import { METHODS, machineLine, runExperiment, type MethodName } from '../experiment/methods.js';
import { writeReport } from '../report/report.js';
import { registryFor, type RunConfig } from './config.js';
import { loadData } from './load-data.js';
import { createProgress } from './progress.js';
import { findings } from '../experiment/findings.js';

export async function experimentCommand(cfg: RunConfig): Promise<void> {
  const device = parseDevice(cfg.device, '--device');
  if (!existsSync(path.join(cfg.base, 'config.json')))
    throw new RangeError(`base checkpoint ${cfg.base} not found: run \`mtrl-judge pretrain --out ${cfg.base}\` first (or pass --base)`);
  for (const m of cfg.methods) if (!(METHODS as readonly string[]).includes(m)) throw new RangeError(`--methods: unknown method "${m}" (allowed: ${METHODS.join(', ')})`);
  const registry = registryFor(cfg);
  const t0 = Date.now();
  const data = await loadData(cfg);
  const progress = createProgress();
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    progress.log('\ninterrupted: stopping after the current step; the report covers what finished');
  });
  progress.log(`data: ${data.description}; ${data.train.length} train / ${data.validation.length} validation / ${data.test.length} test examples`);
  let current = '';
  const result = await runExperiment({
    base: cfg.base,
    methods: cfg.methods as MethodName[],
    tasks: [...cfg.inDistribution, ...cfg.outOfDistribution].map((t) => registry.get(t)),
    inDistribution: cfg.inDistribution,
    outOfDistribution: cfg.outOfDistribution,
    data,
    grpo: cfg.grpo,
    sft: cfg.sft,
    ...(cfg.singleTaskSteps !== undefined ? { singleTaskSteps: cfg.singleTaskSteps } : {}),
    evaluation: cfg.evaluation,
    outDir: cfg.out,
    device,
    shouldStop: () => stop,
    onProgress: (p) => {
      const key = `${p.method}/${p.task ?? ''}/${p.phase}`;
      if (key !== current) {
        current = key;
        progress.start(`${p.phase === 'train' ? 'training' : 'evaluating'} ${p.method}${p.task ? ` (${p.task})` : ''}`, p.total);
      }
      progress.update(p.step, { reward: p.reward, acc: p.accuracy, loss: p.loss });
    },
  });
  progress.stop();
  mkdirSync(cfg.out, { recursive: true });
  const report = {
    title: 'MT-RL-Judge on the generated judging suite',
    createdAt: new Date().toISOString(),
    machine: `${machineLine(device)} · ${((Date.now() - t0) / 60000).toFixed(1)} min in all`,
    settings: cfg as unknown as Record<string, unknown>,
    methods: result.methods,
    examples: result.examples,
    findings: findings(result.methods),
  };
  writeFileSync(path.join(cfg.out, 'results.json'), JSON.stringify({ ...report, examples: undefined }, null, 2));
  const files = writeReport(cfg.out, report);
  const { scoreTable } = await import('../report/report.js');
  console.log('\nIn-distribution macro-F1 (%)\n' + scoreTable(result.methods, 'inDistribution'));
  if (cfg.outOfDistribution.length) console.log('\nOut-of-distribution (pairwise) macro-F1 (%)\n' + scoreTable(result.methods, 'outOfDistribution'));
  for (const f of report.findings) console.log(`- ${f}`);
  console.log(`\nreport: ${files.html}\n        ${files.markdown}`);
  if (stop) process.exit(130);
}
