// Experiment report: the paper-style comparison (methods × tasks macro-F1, the pairwise OOD table,
// position consistency), training curves and example judgments, written as report.md (+ SVG files)
// and a self-contained report.html (inline SVG, images as data URIs: opens offline).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { barChart, lineChart, type Series } from './svg-chart.js';

/** Evaluation of one method on one task. Rates are fractions in [0, 1]. */
export interface TaskScore {
  macroF1: number;
  accuracy: number;
  n: number;
  /**
   * Fraction of outputs in the strict format the paper's format reward accepts: one
   * <think>…</think> block, then one <answer>…</answer> block holding exactly one verdict. Answer-only
   * outputs (the SFT baselines' target) score 0 here even when their verdict parses.
   */
  formatRate?: number;
  /** Fraction of outputs with a parsable verdict (read leniently, as the accuracy reward reads it). */
  verdictRate?: number;
  /** Pairwise tasks: right in both presentation orders (J1's position-consistent accuracy). */
  positionConsistentAccuracy?: number;
  /** Pairwise tasks: verdict changes when the two images are swapped. */
  flipRate?: number;
  /** Tasks with graded human scores: correlation of the judge's P(yes) with the rater mean. */
  spearman?: number;
  /** Every example's verdict (null = none), label and, for pairs, the verdict in the other order: what intervals resample. */
  raw?: { pred: (number | null)[]; gold: number[]; swapped?: (number | null)[]; labels?: number[] };
  /** Over training seeds: how many, and 95 % bootstrap intervals (lib/metrics/bootstrap.ts). */
  seeds?: number;
  interval?: { macroF1?: [number, number]; positionConsistentAccuracy?: [number, number] };
}

/** A mean over tasks with its interval and what it rests on (lib/metrics/bootstrap.ts's Interval). */
export interface MeanInterval {
  estimate: number;
  lo: number;
  hi: number;
  seeds: number;
  n: number;
}

export interface CurvePoint {
  step: number;
  task: string;
  metric: string;
  value: number;
}

export interface MethodReport {
  /** 'off-the-shelf' | 'sft-single' | 'sft-unified' | 'rl-single' | 'mt-rl' or a custom name. */
  method: string;
  label: string;
  inDistribution: Record<string, TaskScore>;
  outOfDistribution: Record<string, TaskScore>;
  curves?: CurvePoint[];
  trainSeconds?: number;
  trainSteps?: number;
  /** Training seeds aggregated into this report (absent: one run). */
  seeds?: number[];
  /** Means over tasks with their bootstrap intervals, keyed 'inDistribution' / 'outOfDistribution' / 'positionConsistentAccuracy'. */
  meanIntervals?: Partial<Record<'inDistribution' | 'outOfDistribution' | 'positionConsistentAccuracy', MeanInterval>>;
}

export interface ExampleJudgment {
  method: string;
  task: string;
  prompt?: string;
  /** PNG bytes of each image shown to the judge. */
  imagesPng: Uint8Array[];
  output: string;
  verdict: string | null;
  label: string;
  correct: boolean;
}

export interface ExperimentReport {
  title: string;
  createdAt: string;
  machine: string;
  /** The settings that define the run (methods, budgets, sizes, seed), shown verbatim. */
  settings: Record<string, unknown>;
  methods: MethodReport[];
  examples: ExampleJudgment[];
  /** Free-text observations computed from the numbers (e.g. where MT-RL does not win). */
  findings?: string[];
}

const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : (100 * x).toFixed(1));

function tasksOf(methods: MethodReport[], key: 'inDistribution' | 'outOfDistribution'): string[] {
  return [...new Set(methods.flatMap((m) => Object.keys(m[key])))];
}

/** "62.3 [58.1, 66.0]" when an interval is known, else "62.3". */
function withInterval(v: number | undefined, iv: [number, number] | undefined): string {
  return iv && v !== undefined && Number.isFinite(v) ? `${pct(v)} [${pct(iv[0])}, ${pct(iv[1])}]` : pct(v);
}

/** "3×64": training seeds × test examples per seed behind each cell of a row. */
function nOf(m: MethodReport, key: 'inDistribution' | 'outOfDistribution'): string {
  const scores = Object.values(m[key]);
  if (scores.length === 0) return '–';
  const ns = [...new Set(scores.map((s) => s.n))];
  const seeds = scores[0]?.seeds ?? 1;
  return ns.length === 1 ? `${seeds}×${ns[0]}` : `${seeds}×(${ns.join('/')})`;
}

/**
 * Markdown table: rows = methods, columns = tasks (+ mean), cells = % with the 95 % bootstrap
 * interval when the methods were aggregated over seeds (lib/experiment/seeds.ts), best per column in
 * bold (lowest for flipRate; nothing is bold in a column where fewer than two methods have a value
 * or all of them tie), and the n behind each cell (seeds × test examples).
 */
export function scoreTable(
  methods: MethodReport[],
  key: 'inDistribution' | 'outOfDistribution',
  field: keyof TaskScore = 'macroF1',
  better: 'higher' | 'lower' = field === 'flipRate' ? 'lower' : 'higher',
): string {
  const tasks = tasksOf(methods, key);
  const intervalField = field === 'macroF1' || field === 'positionConsistentAccuracy' ? field : undefined;
  const meanKey = field === 'macroF1' ? key : field === 'positionConsistentAccuracy' ? 'positionConsistentAccuracy' : undefined;
  const rows = methods.map((m) => {
    const vals = tasks.map((t) => m[key][t]?.[field] as number | undefined);
    const ivs = tasks.map((t) => (intervalField ? m[key][t]?.interval?.[intervalField] : undefined));
    const finite = vals.filter((v): v is number => v !== undefined && Number.isFinite(v));
    const mi = meanKey ? m.meanIntervals?.[meanKey] : undefined;
    const mean = mi ? mi.estimate : finite.length === tasks.length && finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : undefined;
    return { label: m.label, vals: [...vals, mean], ivs: [...ivs, mi ? ([mi.lo, mi.hi] as [number, number]) : undefined], n: nOf(m, key) };
  });
  const showN = methods.some((m) => Object.values(m[key]).some((s) => s.seeds !== undefined));
  const cols = [...tasks, 'mean'];
  const best = cols.map((_, j) => {
    const vals = rows.map((r) => r.vals[j]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (vals.length < 2 || vals.every((v) => pct(v) === pct(vals[0]!))) return NaN; // nothing to single out
    return better === 'lower' ? Math.min(...vals) : Math.max(...vals);
  });
  const lines = [`| method | ${cols.join(' | ')} |${showN ? ' n |' : ''}`, `|---|${cols.map(() => '---:').join('|')}|${showN ? '---:|' : ''}`];
  for (const r of rows) {
    const cells = r.vals.map((v, j) => {
      const text = withInterval(v, r.ivs[j]);
      return v !== undefined && Number.isFinite(best[j]) && pct(v) === pct(best[j]) ? `**${text}**` : text;
    });
    lines.push(`| ${r.label} | ${cells.join(' | ')} |${showN ? ` ${r.n} |` : ''}`);
  }
  return lines.join('\n');
}

/** Trailing moving average over `w` points (the first points average what exists so far). */
export function movingAverage(points: Array<[number, number]>, w: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i]![1];
    if (i >= w) sum -= points[i - w]![1];
    out.push([points[i]![0], sum / Math.min(i + 1, w)]);
  }
  return out;
}

function curveCharts(methods: MethodReport[]): Array<{ name: string; svg: string }> {
  const charts: Array<{ name: string; svg: string }> = [];
  const metrics = [...new Set(methods.flatMap((m) => (m.curves ?? []).map((c) => c.metric)))];
  for (const metric of metrics) {
    for (const m of methods) {
      const pts = (m.curves ?? []).filter((c) => c.metric === metric);
      if (!pts.length) continue;
      const byTask = new Map<string, Array<[number, number]>>();
      for (const p of pts) {
        if (!byTask.has(p.task)) byTask.set(p.task, []);
        byTask.get(p.task)!.push([p.step, p.value]);
      }
      // Per-task values of one step come from a few prompts each: show a trailing moving average.
      const window = Math.max(1, Math.round(Math.max(...[...byTask.values()].map((p) => p.length)) / 10));
      const series: Series[] = [...byTask].map(([name, points]) => ({ name, points: movingAverage(points, window) }));
      const rate = /accuracy|reward|rate|f1/i.test(metric);
      // One pooled series ('all': e.g. SFT-Unified's loss over its mixed batches) is not "per task".
      const pooled = byTask.size === 1 && byTask.has('all');
      if (pooled) series[0]!.name = 'all tasks (mixed batches)';
      const what = pooled ? `${metric}, all tasks pooled` : byTask.size === 1 ? `${metric} (${[...byTask.keys()][0]})` : `${metric} per task`;
      charts.push({
        name: `curve-${m.method}-${metric}`.replace(/[^a-z0-9_-]+/gi, '-'),
        svg: lineChart(series, { title: `${m.label}: ${what}${window > 1 ? ` (moving average of ${window} steps)` : ''}`, xLabel: 'step', yLabel: metric, ...(rate ? { yRange: [0, 1] as [number, number] } : {}) }),
      });
    }
  }
  return charts;
}

function f1Chart(methods: MethodReport[], key: 'inDistribution' | 'outOfDistribution', title: string): string {
  const tasks = tasksOf(methods, key);
  return barChart(
    tasks.map((t) => ({ label: t, values: methods.map((m) => ({ series: m.label, value: 100 * (m[key][t]?.macroF1 ?? NaN) })) })),
    { title, yLabel: 'macro-F1 (%)', yRange: [0, 100] },
  );
}

function settingsBlock(r: ExperimentReport): string {
  return '```json\n' + JSON.stringify(r.settings, null, 2) + '\n```';
}

/** Writes report.md, report.html and charts/*.svg into `dir`; returns the paths. */
export function writeReport(dir: string, r: ExperimentReport): { markdown: string; html: string; charts: string[] } {
  mkdirSync(path.join(dir, 'charts'), { recursive: true });
  const charts = [
    { name: 'macro-f1-in-distribution', svg: f1Chart(r.methods, 'inDistribution', 'In-distribution macro-F1 per task') },
    { name: 'macro-f1-ood', svg: f1Chart(r.methods, 'outOfDistribution', 'Out-of-distribution (pairwise) macro-F1') },
    ...curveCharts(r.methods),
  ];
  const chartPaths = charts.map((c) => {
    const p = path.join(dir, 'charts', `${c.name}.svg`);
    writeFileSync(p, c.svg);
    return p;
  });
  const hasPair = r.methods.some((m) => Object.values(m.outOfDistribution).some((s) => s.positionConsistentAccuracy !== undefined));
  const timing = r.methods.map((m) => `| ${m.label} | ${m.trainSteps ?? '–'} | ${m.trainSeconds !== undefined ? m.trainSeconds.toFixed(0) : '–'} |`);
  const md: string[] = [
    `# ${r.title}`,
    '',
    `${r.createdAt} · ${r.machine}`,
    '',
    '## In-distribution (macro-F1 %, binary pointwise tasks)',
    '',
    ...(r.methods.some((m) => m.seeds)
      ? [
          `Cells: mean over the training seeds [95 % bootstrap interval, resampling seeds and test examples]; n = training seeds × test examples per seed. Seeds per method: ${r.methods.map((m) => `${m.label} ${m.seeds?.length ?? 1}`).join(', ')}.`,
          '',
        ]
      : []),
    scoreTable(r.methods, 'inDistribution'),
    '',
    '![in-distribution macro-F1](charts/macro-f1-in-distribution.svg)',
    '',
    '## Out-of-distribution (pairwise, a format never used in training; macro-F1 %)',
    '',
    scoreTable(r.methods, 'outOfDistribution'),
    '',
    '![OOD macro-F1](charts/macro-f1-ood.svg)',
    '',
  ];
  if (hasPair) {
    md.push('### Position consistency (right in both image orders, %)', '', scoreTable(r.methods, 'outOfDistribution', 'positionConsistentAccuracy'), '');
    md.push('### Flip rate (verdict changes when the images are swapped, %; lower is better; – = no pair got a verdict in both orders)', '', scoreTable(r.methods, 'outOfDistribution', 'flipRate'), '');
  }
  const hasVerdictRate = r.methods.some((m) => Object.values(m.inDistribution).some((s) => s.verdictRate !== undefined));
  if (hasVerdictRate) md.push('### Verdict rate (outputs with a parsable verdict, %)', '', scoreTable(r.methods, 'inDistribution', 'verdictRate'), '');
  md.push(`### ${FORMAT_HEADING}`, '', scoreTable(r.methods, 'inDistribution', 'formatRate'), '');
  if (r.findings?.length) md.push('## Findings', '', ...r.findings.map((f) => `- ${f}`), '');
  md.push('## Training', '', '| method | steps | seconds |', '|---|---:|---:|', ...timing, '');
  for (const c of charts.slice(2)) md.push(`![${c.name}](charts/${c.name}.svg)`, '');
  if (r.examples.length) {
    md.push('## Example judgments', '');
    for (const e of r.examples) {
      md.push(
        `- **${e.method} / ${e.task}** — label \`${e.label}\`, verdict \`${e.verdict ?? 'none'}\` ${e.correct ? '✓' : '✗'}${e.prompt ? ` — prompt: “${e.prompt}”` : ''}`,
        '',
        '  ```',
        ...e.output.split('\n').map((l) => '  ' + l),
        '  ```',
      );
    }
    md.push('');
  }
  md.push('## Settings', '', settingsBlock(r), '');
  const markdown = path.join(dir, 'report.md');
  writeFileSync(markdown, md.join('\n'));

  const html = path.join(dir, 'report.html');
  writeFileSync(html, renderHtml(r, charts));
  return { markdown, html, charts: chartPaths };
}

/** What the format-rate table measures (the strict format, not merely a parsable verdict). */
const FORMAT_HEADING =
  'Strict format rate (outputs with one `<think>…</think>` block then one `<answer>…</answer>` holding exactly one verdict, %; answer-only outputs score 0 even when their verdict parses)';

function escHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function mdTableToHtml(md: string): string {
  const lines = md.split('\n').filter((l) => l.startsWith('|'));
  const cells = (l: string) => l.slice(1, -1).split('|').map((c) => c.trim());
  const head = cells(lines[0] ?? '');
  const body = lines.slice(2).map(cells);
  const td = (c: string, i: number) => {
    const bold = /^\*\*(.*)\*\*$/.exec(c);
    const text = escHtml(bold ? bold[1]! : c);
    return `<td${i ? ' class="num"' : ''}>${bold ? `<b>${text}</b>` : text}</td>`;
  };
  return `<table><thead><tr>${head.map((h) => `<th>${escHtml(h)}</th>`).join('')}</tr></thead><tbody>${body
    .map((r) => `<tr>${r.map(td).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function renderHtml(r: ExperimentReport, charts: Array<{ name: string; svg: string }>): string {
  const b64 = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  const examples = r.examples
    .map(
      (e) => `<div class="ex ${e.correct ? 'ok' : 'bad'}"><div class="imgs">${e.imagesPng
        .map((p) => `<img src="${b64(p)}" width="96" height="96" alt="input image">`)
        .join('')}</div><div><div class="meta"><b>${escHtml(e.method)}</b> · ${escHtml(e.task)} · label <code>${escHtml(e.label)}</code> · verdict <code>${escHtml(
        e.verdict ?? 'none',
      )}</code> ${e.correct ? '✓' : '✗'}</div>${e.prompt ? `<div class="prompt">“${escHtml(e.prompt)}”</div>` : ''}<pre>${escHtml(e.output)}</pre></div></div>`,
    )
    .join('');
  const hasPair = r.methods.some((m) => Object.values(m.outOfDistribution).some((s) => s.positionConsistentAccuracy !== undefined));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escHtml(r.title)}</title><style>
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}.charts svg{margin:6px 12px 6px 0;border:1px solid #eee}
.ex{display:flex;gap:12px;border:1px solid #ddd;border-left:4px solid #999;padding:8px;margin:8px 0}.ex.ok{border-left-color:#009E73}.ex.bad{border-left-color:#D55E00}
.ex img{image-rendering:pixelated;margin-right:4px;border:1px solid #ccc}.ex pre{white-space:pre-wrap;font-size:12px;margin:4px 0}.meta{font-size:13px}.prompt{font-size:12px;color:#555}
.sub{color:#666;font-size:13px}</style></head><body>
<h1>${escHtml(r.title)}</h1><div class="sub">${escHtml(r.createdAt)} · ${escHtml(r.machine)}</div>
<h2>In-distribution (macro-F1 %)</h2>${mdTableToHtml(scoreTable(r.methods, 'inDistribution'))}
<h2>Out-of-distribution: pairwise, never seen in training (macro-F1 %)</h2>${mdTableToHtml(scoreTable(r.methods, 'outOfDistribution'))}
${hasPair ? `<h3>Position-consistent accuracy (%)</h3>${mdTableToHtml(scoreTable(r.methods, 'outOfDistribution', 'positionConsistentAccuracy'))}<h3>Flip rate (verdict changes when the images are swapped, %; lower is better; – = no pair got a verdict in both orders)</h3>${mdTableToHtml(scoreTable(r.methods, 'outOfDistribution', 'flipRate'))}` : ''}
${
  r.methods.some((m) => Object.values(m.inDistribution).some((s) => s.verdictRate !== undefined))
    ? `<h3>Verdict rate (outputs with a parsable verdict, %)</h3>${mdTableToHtml(scoreTable(r.methods, 'inDistribution', 'verdictRate'))}`
    : ''
}
<h3>${escHtml(FORMAT_HEADING.replace(/`/g, ''))}</h3>${mdTableToHtml(scoreTable(r.methods, 'inDistribution', 'formatRate'))}
${r.findings?.length ? `<h2>Findings</h2><ul>${r.findings.map((f) => `<li>${escHtml(f)}</li>`).join('')}</ul>` : ''}
<h2>Charts</h2><div class="charts">${charts.map((c) => c.svg).join('')}</div>
${examples ? `<h2>Example judgments</h2>${examples}` : ''}
<h2>Settings</h2><pre>${escHtml(JSON.stringify(r.settings, null, 2))}</pre>
</body></html>`;
}
