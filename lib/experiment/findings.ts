// Plain statements computed from the comparison's numbers for the report — including where MT-RL does
// not win — so the report says what happened rather than what was hoped.
import type { MethodReport } from '../report/report.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}`;

function meanF1(m: MethodReport, key: 'inDistribution' | 'outOfDistribution'): number | undefined {
  const v = Object.values(m[key]).map((s) => s.macroF1);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
}

/** Mean fraction of outputs with a parsable verdict on the OOD tasks (undefined when not recorded). */
function oodVerdictRate(m: MethodReport): number | undefined {
  const v = Object.values(m.outOfDistribution).map((s) => s.verdictRate);
  return v.length && v.every((x): x is number => x !== undefined) ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
}

/** MT-RL vs SFT-Unified on the unseen pairwise format, in words that fit the numbers (a tie at 0 is no contest). */
function oodComparison(mt: MethodReport, sft: MethodReport, mtOod: number, sftOod: number): string {
  if (pct(mtOod) === pct(sftOod)) {
    if (mtOod === 0) {
      const silent = [mt, sft].every((m) => oodVerdictRate(m) === 0);
      return `On the unseen pairwise format neither MT-RL-Judge nor SFT-Unified scores above 0 (mean macro-F1 0.0% each${silent ? ': neither gives a parsable A/B verdict' : ''}), so this run cannot test the paper's generalisation claim.`;
    }
    return `On the unseen pairwise format MT-RL-Judge and SFT-Unified tie (${pct(mtOod)}% mean macro-F1 each).`;
  }
  return mtOod > sftOod
    ? `On the unseen pairwise format MT-RL-Judge beats SFT-Unified by ${pct(mtOod - sftOod)} points of mean macro-F1 (${pct(mtOod)}% vs ${pct(sftOod)}%; the paper's main generalisation claim).`
    : `On the unseen pairwise format MT-RL-Judge is below SFT-Unified (${pct(mtOod)}% vs ${pct(sftOod)}% mean macro-F1), unlike the paper.`;
}

export function findings(methods: readonly MethodReport[]): string[] {
  const out: string[] = [];
  const by = new Map(methods.map((m) => [m.method, m]));
  const mt = by.get('mt-rl');
  for (const key of ['inDistribution', 'outOfDistribution'] as const) {
    const scored = methods.map((m) => ({ m, f: meanF1(m, key) })).filter((x): x is { m: MethodReport; f: number } => x.f !== undefined);
    if (!scored.length) continue;
    scored.sort((a, b) => b.f - a.f);
    const where = key === 'inDistribution' ? 'in-distribution' : 'on the pairwise OOD tasks';
    out.push(`Best mean macro-F1 ${where}: ${scored[0]!.m.label} (${pct(scored[0]!.f)}%)` + (scored.length > 1 ? `, then ${scored.slice(1).map((s) => `${s.m.label} ${pct(s.f)}%`).join(', ')}.` : '.'));
  }
  if (mt) {
    for (const other of methods) {
      if (other === mt) continue;
      const losses = Object.keys(mt.inDistribution).filter((t) => other.inDistribution[t] && other.inDistribution[t]!.macroF1 > mt.inDistribution[t]!.macroF1);
      if (losses.length) out.push(`MT-RL-Judge is below ${other.label} in-distribution on ${losses.join(', ')}.`);
    }
    const sft = by.get('sft-unified');
    const mtOod = meanF1(mt, 'outOfDistribution');
    const sftOod = sft ? meanF1(sft, 'outOfDistribution') : undefined;
    if (mtOod !== undefined && sftOod !== undefined && sft) out.push(oodComparison(mt, sft, mtOod, sftOod));
  }
  return out;
}
