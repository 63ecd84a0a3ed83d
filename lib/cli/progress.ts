// Progress bars for long CLI work (step, ETA, reward/accuracy/loss), quiet when stdout is not a TTY
// (CI, pipes): then one plain line every few percent instead.
import cliProgress from 'cli-progress';

export interface Progress {
  start(label: string, total: number): void;
  update(step: number, fields?: Record<string, number | string | undefined>): void;
  stop(): void;
  log(line: string): void;
}

function fmt(v: number | string | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3)) : '–';
}

export function createProgress(opts: { quiet?: boolean } = {}): Progress {
  const tty = process.stderr.isTTY && !opts.quiet;
  let bar: cliProgress.SingleBar | null = null;
  let label = '';
  let total = 0;
  let lastPrinted = -1;
  const started = Date.now();
  return {
    start(l, t) {
      this.stop();
      label = l;
      total = t;
      lastPrinted = -1;
      if (tty) {
        bar = new cliProgress.SingleBar(
          {
            format: `${l.padEnd(28)} {bar} {value}/{total} | ETA {eta_formatted} | {info}`,
            barsize: 24,
            hideCursor: true,
            stream: process.stderr,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(t, 0, { info: '' });
      }
    },
    update(step, fields = {}) {
      const info = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(' | ');
      if (bar) bar.update(step, { info });
      else if (!opts.quiet) {
        const pct = total > 0 ? Math.floor((100 * step) / total / 10) : 0;
        if (pct !== lastPrinted || step === total) {
          lastPrinted = pct;
          process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${label} ${step}/${total} ${info}\n`);
        }
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
    log(line) {
      if (bar) {
        bar.stop();
        bar = null;
      }
      process.stderr.write(line + '\n');
    },
  };
}
