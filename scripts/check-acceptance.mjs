#!/usr/bin/env node
// Prints the MT-RL acceptance criteria of the default comparison (issue 12) for an experiment's
// results.json: MT-RL mean in-distribution macro-F1 ≥ SFT-Unified − 1 pt; MT-RL mean pairwise OOD
// macro-F1 ≥ SFT-Unified + 10 pts and ≥ base − 2 pts; MT-RL more position-consistent than
// SFT-Unified (mean position-consistent accuracy over the pairwise tasks). Exit code 1 if one fails.
// Usage: node scripts/check-acceptance.mjs runs/default/results.json
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'runs/default/results.json';
const r = JSON.parse(readFileSync(file, 'utf8'));
const by = Object.fromEntries(r.methods.map((m) => [m.method, m]));
const mean = (m, key, field = 'macroF1') => {
  const v = Object.values(m?.[key] ?? {}).map((s) => s[field]);
  return v.length && v.every((x) => Number.isFinite(x)) ? (100 * v.reduce((a, b) => a + b, 0)) / v.length : NaN;
};
const mt = by['mt-rl'];
const sft = by['sft-unified'];
const base = by['off-the-shelf'];
const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const checks = [
  ['MT-RL mean ID macro-F1 >= SFT-Unified - 1', mean(mt, 'inDistribution'), mean(sft, 'inDistribution') - 1],
  ['MT-RL mean OOD macro-F1 >= SFT-Unified + 10', mean(mt, 'outOfDistribution'), mean(sft, 'outOfDistribution') + 10],
  ['MT-RL mean OOD macro-F1 >= base - 2', mean(mt, 'outOfDistribution'), mean(base, 'outOfDistribution') - 2],
  ['MT-RL position-consistent accuracy > SFT-Unified', mean(mt, 'outOfDistribution', 'positionConsistentAccuracy'), mean(sft, 'outOfDistribution', 'positionConsistentAccuracy')],
];
let ok = true;
for (const [name, value, bound] of checks) {
  const strict = name.includes(' > ');
  const pass = Number.isFinite(value) && Number.isFinite(bound) && (strict ? value > bound : value >= bound);
  ok &&= pass;
  console.log(`${pass ? 'PASS' : 'FAIL'}  ${name}: ${f(value)} vs ${f(bound)}`);
}
process.exit(ok ? 0 : 1);
