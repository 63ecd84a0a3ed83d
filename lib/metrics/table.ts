// formatTable: readable fixed-width text tables for per-task results (terminal output, logs, docs).
// Numbers are right-aligned with a fixed number of digits; NaN/undefined print as "—" so a missing
// metric is visible rather than a misleading 0.

export interface TableColumn {
  /** Key in each row. */
  key: string;
  /** Header text (default: the key). */
  header?: string;
  /** Digits after the decimal point for numbers (default: the table's `digits`). */
  digits?: number;
  /** Multiply by 100 and print as a percentage (e.g. accuracy 0.8163 → 81.63). */
  percent?: boolean;
}

export interface FormatTableOptions {
  /** Columns in order (strings are keys). Default: the keys of the first row. */
  columns?: readonly (string | TableColumn)[];
  /** Default digits for numbers (default 3). */
  digits?: number;
  /** Output style: aligned plain text (default) or a Markdown table. */
  style?: 'text' | 'markdown';
}

// A column whose numbers are all integers (counts) prints them without decimals, unless its digits
// are set; any other numeric column prints every number with the same digits so decimals line up.
function cell(v: unknown, col: TableColumn, digits: number, integerColumn: boolean): { text: string; numeric: boolean } {
  if (v === undefined || v === null) return { text: '—', numeric: false };
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { text: '—', numeric: true };
    const x = col.percent ? v * 100 : v;
    const d = col.digits ?? digits;
    return { text: integerColumn ? String(x) : x.toFixed(d), numeric: true };
  }
  return { text: String(v), numeric: false };
}

/** Formats rows as an aligned table with a header line and a rule. */
export function formatTable(rows: readonly Record<string, unknown>[], opts: FormatTableOptions = {}): string {
  if (!Array.isArray(rows)) throw new TypeError('formatTable: rows: expected an array of objects');
  const digits = opts.digits ?? 3;
  if (!(Number.isInteger(digits) && digits >= 0 && digits <= 12)) throw new RangeError(`formatTable: opts.digits: expected an integer in [0, 12], got ${digits}`);
  const style = opts.style ?? 'text';
  if (style !== 'text' && style !== 'markdown') throw new RangeError(`formatTable: opts.style: expected "text" or "markdown", got ${JSON.stringify(style)}`);
  const cols: TableColumn[] = (opts.columns ?? Object.keys(rows[0] ?? {})).map((c) => (typeof c === 'string' ? { key: c } : c));
  if (cols.length === 0) return '';
  const headers = cols.map((c) => c.header ?? c.key);
  const integerColumn = cols.map(
    (c) => !c.percent && c.digits === undefined && rows.every((r) => typeof r[c.key] !== 'number' || Number.isInteger(r[c.key])),
  );
  const body = rows.map((r) => cols.map((c, j) => cell(r[c.key], c, digits, integerColumn[j]!)));
  const numericCol = cols.map((_, j) => body.length > 0 && body.every((r) => r[j]!.numeric || r[j]!.text === '—'));
  const widths = cols.map((_, j) => Math.max(headers[j]!.length, ...body.map((r) => r[j]!.text.length)));
  const pad = (s: string, j: number) => (numericCol[j] ? s.padStart(widths[j]!) : s.padEnd(widths[j]!));
  if (style === 'markdown') {
    const line = (cells: string[]) => `| ${cells.map((s, j) => pad(s, j)).join(' | ')} |`;
    const rule = `|${widths.map((w, j) => (numericCol[j] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
    return [line(headers), rule, ...body.map((r) => line(r.map((c) => c.text)))].join('\n');
  }
  const line = (cells: string[]) => cells.map((s, j) => pad(s, j)).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...body.map((r) => line(r.map((c) => c.text)))].join('\n');
}
