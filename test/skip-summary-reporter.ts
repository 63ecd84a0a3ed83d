// A vitest reporter that adds one line at the end of a run saying why tests were skipped (the default
// reporter only counts them). A skipped test's reason is the note it gave to ctx.skip(note), else the
// one in its name or its describe block's, which say "… — skipped: REASON" or "… (skipped: REASON)"
// (the CUDA tests put cudaAvailable().reason there); a skipped test with neither is listed by name.
import type { Reporter, TestModule } from 'vitest/node';

export function skipReason(fullName: string): string {
  for (const part of fullName.split(' > ').reverse()) {
    const i = part.indexOf('skipped: ');
    if (i < 0) continue;
    let r = part.slice(i + 'skipped: '.length).trim();
    if (part[i - 1] === '(' && r.endsWith(')')) r = r.slice(0, -1);  // "(skipped: REASON)"
    return r;
  }
  return `"${fullName}" (no reason in its name)`;
}

export default class SkipSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, number>();
    for (const m of testModules)
      for (const t of m.children.allTests()) {
        const res = t.result();
        if (res.state !== 'skipped') continue;
        const r = res.note ? res.note : skipReason(t.fullName);
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      }
    if (reasons.size === 0) return;
    const total = [...reasons.values()].reduce((a, b) => a + b, 0);
    const parts = [...reasons].map(([r, n]) => `${n} × ${r}`);
    process.stdout.write(` Skipped ${total}: ${parts.join('; ')}\n`);
  }
}
