#!/usr/bin/env node
// One Markdown table row per experiment results.json: mean ID macro-F1, the pairwise OOD tasks,
// mean OOD, mean position-consistent accuracy (PC) and training seconds of one method (default
// mt-rl), so a sweep's runs can be compared at a glance (docs/training.md).
// Usage: node scripts/summarize-runs.mjs [--method mt-rl] runs/sweep/*/results.json
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';

const args = process.argv.slice(2);
let method = 'mt-rl';
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--method') method = args[++i];
  else files.push(args[i]);
}
if (files.length === 0) {
  console.error('usage: node scripts/summarize-runs.mjs [--method NAME] results.json ...');
  process.exit(2);
}
const pct = (x) => (Number.isFinite(x) ? (100 * x).toFixed(1) : 'n/a');
const mean = (scores, field = 'macroF1') => {
  const v = Object.values(scores ?? {}).map((s) => s[field]);
  return v.length && v.every(Number.isFinite) ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};
console.log('| run | method | mean ID | pair-alignment | pair-safety | mean OOD | PC | train s | seeds |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const f of files) {
  const r = JSON.parse(readFileSync(f, 'utf8'));
  for (const m of r.methods.filter((x) => x.method === method || method === 'all')) {
    const ood = m.outOfDistribution ?? {};
    const cells = [
      basename(dirname(f)),
      m.method,
      pct(mean(m.inDistribution)),
      pct(ood['pair-alignment']?.macroF1),
      pct(ood['pair-safety']?.macroF1),
      pct(mean(ood)),
      pct(mean(ood, 'positionConsistentAccuracy')),
      Number.isFinite(m.trainSeconds) ? Math.round(m.trainSeconds) : '–',
      m.seeds ? m.seeds.length : 1,
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}
