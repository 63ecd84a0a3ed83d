// Small dependency-free SVG charts for reports: line charts (metrics over training steps) and grouped
// bar charts (macro-F1 per task and method). Output is a standalone <svg> string that renders the
// same in a browser, in Markdown viewers and when embedded inline in report.html.

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

export interface LineChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Fixed y range (e.g. [0, 1] for rates); default: fitted to the data. */
  yRange?: [number, number];
}

export interface BarGroup {
  label: string;
  values: Array<{ series: string; value: number }>;
}

export interface BarChartOptions {
  title: string;
  yLabel?: string;
  width?: number;
  height?: number;
  yRange?: [number, number];
}

// Colour-blind-safe palette (Okabe–Ito).
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

function fmt(x: number): string {
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1000) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1).replace(/\.0$/, '');
  return x.toPrecision(2).replace(/\.?0+$/, '');
}

function legend(names: string[], x: number, y: number): string {
  return names
    .map((n, i) => {
      const c = PALETTE[i % PALETTE.length]!;
      const yy = y + i * 16;
      return `<rect x="${x}" y="${yy - 9}" width="10" height="10" fill="${c}"/><text x="${x + 14}" y="${yy}" font-size="11">${esc(n)}</text>`;
    })
    .join('');
}

/** A line chart; series with no points are listed in the legend only. */
export function lineChart(series: Series[], opts: LineChartOptions): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 300;
  const legendW = 150;
  const m = { l: 48, r: legendW + 12, t: 28, b: 40 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  let [y0, y1] = opts.yRange ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const sx = (x: number) => m.l + (x1 === x0 ? pw / 2 : ((x - x0) / (x1 - x0)) * pw);
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${m.l}" y="18" font-size="13" font-weight="bold">${esc(opts.title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${sy(t) + 4}" font-size="10" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    parts.push(`<text x="${sx(t)}" y="${m.t + ph + 14}" font-size="10" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  if (opts.xLabel) parts.push(`<text x="${m.l + pw / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel)
    parts.push(`<text x="12" y="${m.t + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${m.t + ph / 2})">${esc(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (!pts.length) return;
    const c = PALETTE[i % PALETTE.length]!;
    const d = pts.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
    if (pts.length <= 40) for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.2" fill="${c}"/>`);
  });
  parts.push(legend(series.map((s) => s.name), W - legendW, m.t + 10));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">${parts.join('')}</svg>`;
}

/** A grouped bar chart: one group per label (e.g. task), one bar per series (e.g. method). */
export function barChart(groups: BarGroup[], opts: BarChartOptions): string {
  const seriesNames = [...new Set(groups.flatMap((g) => g.values.map((v) => v.series)))];
  const W = opts.width ?? Math.max(420, 90 + groups.length * (seriesNames.length * 14 + 24) + 160);
  const H = opts.height ?? 300;
  const legendW = 150;
  const m = { l: 48, r: legendW + 12, t: 28, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const vals = groups.flatMap((g) => g.values.map((v) => v.value)).filter(Number.isFinite);
  const [y0, y1] = opts.yRange ?? [0, vals.length ? Math.max(...vals) * 1.05 || 1 : 1];
  const sy = (y: number) => m.t + ph - ((Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0)) * ph;
  const gw = pw / Math.max(groups.length, 1);
  const bw = Math.min(18, (gw - 12) / Math.max(seriesNames.length, 1));
  const parts: string[] = [`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`];
  parts.push(`<text x="${m.l}" y="18" font-size="13" font-weight="bold">${esc(opts.title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${sy(t) + 4}" font-size="10" text-anchor="end">${fmt(t)}</text>`);
  }
  groups.forEach((g, gi) => {
    const gx = m.l + gi * gw + (gw - bw * seriesNames.length) / 2;
    g.values.forEach((v) => {
      const si = seriesNames.indexOf(v.series);
      if (!Number.isFinite(v.value)) return;
      const x = gx + si * bw;
      const y = sy(v.value);
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(m.t + ph - y).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${g.label} — ${v.series}: ${fmt(v.value)}`)}</title></rect>`,
      );
    });
    parts.push(`<text x="${(m.l + gi * gw + gw / 2).toFixed(1)}" y="${m.t + ph + 14}" font-size="10" text-anchor="middle">${esc(g.label)}</text>`);
  });
  parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#999"/>`);
  if (opts.yLabel)
    parts.push(`<text x="12" y="${m.t + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 ${m.t + ph / 2})">${esc(opts.yLabel)}</text>`);
  parts.push(legend(seriesNames, W - legendW, m.t + 10));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">${parts.join('')}</svg>`;
}
