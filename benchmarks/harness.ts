// Shared benchmark helpers: timing with warm-up (median, p20, p80), a printed table, CSV rows
// (op,impl,mode,shape,p50_ms,p20_ms,p80_ms,metric,value,device,commit) and an optional PyTorch
// baseline run through python3 when torch is installed. Speed is measured here, never asserted.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const resultsDir = path.join(benchDir, 'results');

/**
 * The clock every timing uses: 'wall' (default) or 'cpu' (`--clock cpu`, or MTRL_BENCH_CLOCK=cpu):
 * CPU time of the process (Node: process.cpuUsage; torch: time.process_time). On a core shared
 * with other processes, CPU time leaves out the time slices other processes take; it is only
 * meaningful with one thread (OMP_NUM_THREADS=1), where it equals the work's own time.
 */
export const clock: 'wall' | 'cpu' = (() => {
  const i = process.argv.indexOf('--clock');
  const v = i >= 0 ? process.argv[i + 1] : process.env.MTRL_BENCH_CLOCK;
  return v === 'cpu' ? 'cpu' : 'wall';
})();

/** Current time in ms on the benchmark clock. */
export function nowMs(): number {
  if (clock === 'cpu') {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  }
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface Timing {
  p50: number;
  p20: number;
  p80: number;
  samples: number;
}

export interface TimeOptions {
  /** Untimed calls first (caches, lazy init, thread pools). */
  warmup?: number;
  /**
   * Keep making untimed calls until this many milliseconds have passed (after `warmup`). On this VM
   * a thread pool that sleeps between calls wakes slowly for ~50 ms after the machine was idle (e.g.
   * while a baseline ran in a child process): 256³ on 2 threads measured 0.21 ms right after one,
   * 0.13 ms after 100 ms of calls. Baselines that spin (OpenBLAS) do not see this.
   */
  warmupMs?: number;
  /** Minimum timed repetitions. */
  minReps?: number;
  /** Stop adding repetitions after this many milliseconds of timed work (after minReps). */
  budgetMs?: number;
  maxReps?: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Times `fn` (synchronous) in milliseconds. */
export function time(fn: () => unknown, opts: TimeOptions = {}): Timing {
  const warmup = opts.warmup ?? 2;
  const minReps = opts.minReps ?? 5;
  const budget = opts.budgetMs ?? 1500;
  const maxReps = opts.maxReps ?? 200;
  for (let i = 0; i < warmup; i++) fn();
  const w0 = nowMs();
  while (nowMs() - w0 < (opts.warmupMs ?? 0)) fn();
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < minReps || (spent < budget && samples.length < maxReps)) {
    const t0 = nowMs();
    fn();
    const ms = nowMs() - t0;
    samples.push(ms);
    spent += ms;
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p20: quantile(samples, 0.2), p80: quantile(samples, 0.8), samples: samples.length };
}

/** Times an async `fn` the same way. */
export async function timeAsync(fn: () => Promise<unknown>, opts: TimeOptions = {}): Promise<Timing> {
  const warmup = opts.warmup ?? 2;
  const minReps = opts.minReps ?? 5;
  const budget = opts.budgetMs ?? 1500;
  const maxReps = opts.maxReps ?? 200;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < minReps || (spent < budget && samples.length < maxReps)) {
    const t0 = nowMs();
    await fn();
    const ms = nowMs() - t0;
    samples.push(ms);
    spent += ms;
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p20: quantile(samples, 0.2), p80: quantile(samples, 0.8), samples: samples.length };
}

export interface Row {
  op: string;
  impl: string;
  mode: string;
  shape: string;
  timing: Timing;
  /** e.g. 'GFLOP/s', 'GB/s', 'peak_MB', 'ratio_vs_naive' */
  metric: string;
  value: number;
  device?: string;
}

let commitCache: string | undefined;
export function commit(): string {
  if (commitCache === undefined) {
    try {
      commitCache = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: benchDir, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    } catch {
      commitCache = 'unknown';
    }
  }
  return commitCache;
}

/** One line describing the machine, for tables and the README. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
  return `${cpu}, ${os.cpus().length} threads, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

/** Appends rows to benchmarks/results/<name>.csv (header written when the file is new). */
export function writeCsv(name: string, rows: Row[]): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.csv`);
  if (!existsSync(file)) writeFileSync(file, 'op,impl,mode,shape,p50_ms,p20_ms,p80_ms,metric,value,device,commit\n');
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = rows.map((r) =>
    [
      r.op,
      r.impl,
      r.mode,
      r.shape,
      r.timing.p50.toFixed(4),
      r.timing.p20.toFixed(4),
      r.timing.p80.toFixed(4),
      r.metric,
      Number.isFinite(r.value) ? r.value.toPrecision(6) : String(r.value),
      r.device ?? 'cpu',
      commit(),
    ]
      .map((x) => esc(String(x)))
      .join(','),
  );
  appendFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Prints an aligned text table (first row is the header). */
export function printTable(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  console.log(`\n${title}\n(${machine()}, commit ${commit()})`);
  cells.forEach((r, idx) => {
    console.log(r.map((c, i) => String(c ?? '').padStart(widths[i]!)).join('  '));
    if (idx === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

/** Markdown version of a table, for pasting into the README. */
export function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const fmt = (c: string | number) => (typeof c === 'number' ? formatNumber(c) : c);
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
  ].join('\n');
}

export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

let torchCache: { python: string; version: string; blas: string } | null | undefined;
/**
 * The Python that can import torch (the optional baseline; never required): $MTRL_PYTHON, then
 * /usr/bin/python3 (where Debian's python3-torch installs), then python3 on PATH.
 */
export function torchPython(): { python: string; version: string; blas: string } | null {
  if (torchCache === undefined) {
    torchCache = null;
    for (const py of [process.env.MTRL_PYTHON, '/usr/bin/python3', 'python3']) {
      if (!py) continue;
      const r = spawnSync(py, ['-c', torchProbe], { encoding: 'utf8', timeout: 60_000 });
      if (r.status === 0) {
        const [version, blas] = r.stdout.trim().split('\n');
        torchCache = { python: py, version: version!, blas: blas ?? 'unknown' };
        break;
      }
    }
  }
  return torchCache;
}

// Which BLAS library torch's matmul runs in: the shared objects mapped after one matmul (Debian's
// torch links the generic libblas.so.3, which the alternatives system points at OpenBLAS or at the
// ~80x slower reference BLAS).
const torchProbe = `import torch
a = torch.randn(64, 64); a @ a
libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if '/' in l})
names = [l for l in libs if any(s in l.lower() for s in ('openblas', 'mkl', 'blis', 'libblas', 'atlas'))]
print(torch.__version__)
print(' '.join(sorted({n.split('/')[-1] for n in names})) or 'builtin')`;

/**
 * 'openblas', 'mkl', 'blis' when torch's BLAS is an optimised one; 'reference' when it is the
 * reference BLAS (libblas.so.3 without an optimised library); 'unknown' otherwise.
 */
export function torchBlas(): string {
  const t = torchPython();
  if (!t) return 'none';
  const b = t.blas.toLowerCase();
  for (const n of ['openblas', 'mkl', 'blis']) if (b.includes(n)) return n;
  if (b.includes('libblas') || b.includes('atlas')) return 'reference';
  return 'unknown';
}

/** Whether ratios against torch may be quoted: torch runs an optimised BLAS (prints why not). */
export function torchBlasOk(): boolean {
  const b = torchBlas();
  if (b === 'reference')
    console.log(`torch uses the reference BLAS (${torchPython()!.blas}): no ratio against it is quoted; install libopenblas0-pthread`);
  return b !== 'reference' && b !== 'none';
}

/** One line naming torch, its BLAS, the threads and the clock, for every benchmark's header. */
export function torchLine(): string {
  const t = torchPython();
  if (!t) return 'PyTorch: not available';
  return `PyTorch ${t.version} (${t.python}), BLAS ${torchBlas()} (${t.blas}), ${benchThreads()} thread(s) on both sides, ${clock} clock`;
}

/** True when some Python can import torch. */
export function torchAvailable(): boolean {
  return torchPython() !== null;
}

/**
 * Runs a Python script that uses torch and prints one JSON document on its last stdout line; returns
 * it parsed, or undefined when torch is not installed. The script gets `torch.set_num_threads` equal to
 * benchThreads() (the count our OpenMP uses) so comparisons are fair.
 */
export function runTorch<T = unknown>(script: string, timeoutMs = 600_000): T | undefined {
  if (!torchAvailable()) return undefined;
  const prelude = `import torch, json, time, statistics\ntorch.set_num_threads(${benchThreads()})\n`;
  const r = spawnSync(torchPython()!.python, ['-c', prelude + script], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`torch baseline failed (status ${r.status}, signal ${r.signal ?? 'none'}${r.error ? `, ${r.error.message}` : ''}): ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/** Threads both sides use: OMP_NUM_THREADS when set (our OpenMP reads it too), else every core. */
export function benchThreads(): number {
  const n = Number(process.env.OMP_NUM_THREADS);
  return Number.isInteger(n) && n > 0 ? n : os.cpus().length;
}

/** Python helper source for timing in torch baselines: `bench(fn) -> {"p50":..,"p20":..,"p80":..}` in ms. */
export const torchTimer = `
_clock = time.${clock === 'cpu' ? 'process_time' : 'perf_counter'}
def bench(fn, warmup=2, min_reps=5, budget_ms=1500, max_reps=200):
    for _ in range(warmup): fn()
    s = []; spent = 0.0
    while len(s) < min_reps or (spent < budget_ms and len(s) < max_reps):
        t0 = _clock(); fn(); ms = (_clock() - t0) * 1e3
        s.append(ms); spent += ms
    s.sort()
    q = lambda p: s[int(round((len(s) - 1) * p))]
    return {"p50": q(0.5), "p20": q(0.2), "p80": q(0.8), "samples": len(s)}
`;

/** Command-line flags shared by the benchmark scripts. */
export const args = {
  quick: process.argv.includes('--quick'),
  noTorch: process.argv.includes('--no-torch'),
};

