// Report writer: tables hold the numbers given (best per column in bold), charts are valid SVG, and
// the HTML is self-contained (no external references).
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReport, scoreTable, type MethodReport } from '../lib/report/report.js';
import { lineChart, barChart } from '../lib/report/svg-chart.js';

const methods: MethodReport[] = [
  {
    method: 'sft-unified',
    label: 'SFT-Unified',
    inDistribution: { safety: { macroF1: 0.8, accuracy: 0.81, n: 100, formatRate: 1 }, technical: { macroF1: 0.6, accuracy: 0.62, n: 100 } },
    outOfDistribution: { 'pair-safety': { macroF1: 0.5, accuracy: 0.5, n: 50, positionConsistentAccuracy: 0.3, flipRate: 0.4 } },
  },
  {
    method: 'mt-rl',
    label: 'MT-RL',
    inDistribution: { safety: { macroF1: 0.75, accuracy: 0.76, n: 100, formatRate: 0.98 }, technical: { macroF1: 0.7, accuracy: 0.7, n: 100 } },
    outOfDistribution: { 'pair-safety': { macroF1: 0.8, accuracy: 0.8, n: 50, positionConsistentAccuracy: 0.7, flipRate: 0.1 } },
    curves: [
      { step: 1, task: 'safety', metric: 'reward', value: 0.4 },
      { step: 2, task: 'safety', metric: 'reward', value: 0.6 },
    ],
  },
];

describe('report', () => {
  it('score table has one row per method, values in %, best in bold, and a mean', () => {
    const t = scoreTable(methods, 'inDistribution');
    expect(t).toContain('| method | safety | technical | mean |');
    expect(t).toContain('| SFT-Unified | **80.0** | 60.0 | 70.0 |');
    expect(t).toContain('| MT-RL | 75.0 | **70.0** | **72.5** |');
  });

  it('charts are SVG documents with the data', () => {
    const l = lineChart([{ name: 'a', points: [[0, 1], [1, 2]] }], { title: 'T' });
    expect(l.startsWith('<svg')).toBe(true);
    expect(l).toContain('<path');
    const b = barChart([{ label: 'x', values: [{ series: 's', value: 50 }] }], { title: 'B', yRange: [0, 100] });
    expect(b).toContain('x — s: 50');
  });

  it('writes report.md, self-contained report.html and chart files', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mtrl-report-'));
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const out = writeReport(dir, {
      title: 'Test run',
      createdAt: '2026-01-01',
      machine: 'test machine',
      settings: { seed: 1 },
      methods,
      examples: [{ method: 'mt-rl', task: 'safety', imagesPng: [png], output: '<think>x</think><answer>yes</answer>', verdict: 'yes', label: 'yes', correct: true }],
      findings: ['MT-RL loses on safety.'],
    });
    const md = readFileSync(out.markdown, 'utf8');
    expect(md).toContain('## Out-of-distribution');
    expect(md).toContain('| MT-RL | **70.0** |'); // position consistency table
    const html = readFileSync(out.html, 'utf8');
    expect(html).toContain('<table>');
    expect(html).toContain('data:image/png;base64,');
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(out.charts.every((c) => existsSync(c))).toBe(true);
  });
});

describe('moving average', () => {
  it('averages the trailing window', async () => {
    const { movingAverage } = await import('../lib/report/report.js');
    expect(movingAverage([[1, 1], [2, 3], [3, 5], [4, 7]], 2)).toEqual([[1, 1], [2, 2], [3, 4], [4, 6]]);
  });
});

describe('report says what it measures (issue 15)', () => {
  const pair = (f1: number, flip: number | undefined, verdictRate = 1): MethodReport['outOfDistribution'][string] => ({
    macroF1: f1,
    accuracy: f1,
    n: 10,
    positionConsistentAccuracy: 0.2,
    ...(flip !== undefined ? { flipRate: flip } : {}),
    verdictRate,
  });
  const ms = (flips: Array<number | undefined>, f1s: number[]): MethodReport[] =>
    flips.map((flip, i) => ({ method: `m${i}`, label: `M${i}`, inDistribution: {}, outOfDistribution: { 'pair-safety': pair(f1s[i]!, flip) } }));

  it('flip rate: the lowest value is bold (lower is better)', () => {
    const t = scoreTable(ms([1, 0.25], [0.5, 0.5]), 'outOfDistribution', 'flipRate');
    expect(t).toContain('| M0 | 100.0 | 100.0 |');
    expect(t).toContain('| M1 | **25.0** | **25.0** |');
  });

  it('nothing is bold where all methods tie or only one has a value', () => {
    const tie = scoreTable(ms([0.5, 0.5], [0, 0]), 'outOfDistribution');
    expect(tie).not.toContain('**');
    const lone = scoreTable(ms([1, undefined], [0.3, 0.1]), 'outOfDistribution', 'flipRate');
    expect(lone).toContain('| M0 | 100.0 | 100.0 |');
    expect(lone).toContain('| M1 | – | – |');
  });

  it('the format-rate table is titled with the strict format; a verdict-rate table says what parses', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mtrl-report-'));
    const sft: MethodReport = {
      method: 'sft-unified',
      label: 'SFT-Unified',
      inDistribution: { safety: { macroF1: 0.8, accuracy: 0.8, n: 10, formatRate: 0, verdictRate: 1 } },
      outOfDistribution: {},
      curves: [1, 2, 3].map((step) => ({ step, task: 'all', metric: 'loss', value: 1 / step })),
    };
    const out = writeReport(dir, { title: 't', createdAt: 'now', machine: 'm', settings: {}, methods: [sft], examples: [] });
    const md = readFileSync(out.markdown, 'utf8');
    expect(md).toMatch(/### Strict format rate \(outputs with one `<think>…<\/think>` block then one `<answer>…<\/answer>`/);
    expect(md).not.toContain('outputs with one parsable verdict, %)');
    expect(md).toContain('### Verdict rate (outputs with a parsable verdict, %)');
    const chart = readFileSync(path.join(dir, 'charts', 'curve-sft-unified-loss.svg'), 'utf8');
    expect(chart).toContain('SFT-Unified: loss, all tasks pooled');
    expect(chart).not.toContain('per task');
    expect(chart).toContain('all tasks (mixed batches)');
  });

  it('findings: a 0.0% vs 0.0% tie is reported as no contest, not as "does not beat"', async () => {
    const { findings } = await import('../lib/experiment/findings.js');
    const mk = (method: string, label: string, f1: number, verdictRate: number): MethodReport => ({
      method,
      label,
      inDistribution: { safety: { macroF1: 0.5, accuracy: 0.5, n: 10 } },
      outOfDistribution: { 'pair-safety': pair(f1, undefined, verdictRate) },
    });
    const f = findings([mk('sft-unified', 'SFT-Unified', 0, 0), mk('mt-rl', 'MT-RL-Judge', 0, 0)]).join('\n');
    expect(f).not.toMatch(/does not beat/);
    expect(f).toMatch(/neither MT-RL-Judge nor SFT-Unified scores above 0 .*neither gives a parsable A\/B verdict/);
    const g = findings([mk('sft-unified', 'SFT-Unified', 0.4, 1), mk('mt-rl', 'MT-RL-Judge', 0.2, 1)]).join('\n');
    expect(g).toMatch(/MT-RL-Judge is below SFT-Unified \(20\.0% vs 40\.0%/);
  });
});
