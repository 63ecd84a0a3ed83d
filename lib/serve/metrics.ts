// Prometheus metrics of `mtrl-judge serve`, rendered in the text exposition format (version 0.0.4):
// request counts by route and status, latency histograms, queue depth, batch sizes and durations.

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels);
  return keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}
function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

class Counter {
  readonly values = new Map<string, { labels: Record<string, string>; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Record<string, string> = {}, by = 1): void {
    const key = labelText(labels);
    const e = this.values.get(key) ?? { labels, value: 0 };
    e.value += by;
    this.values.set(key, e);
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, e] of this.values) out.push(`${this.name}${k} ${num(e.value)}`);
    return out;
  }
}

class Histogram {
  readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(v: number, labels: Record<string, string> = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** The server's metrics; gauges are read at render time. */
export class ServeMetrics {
  readonly requests = new Counter('mtrl_judge_http_requests_total', 'HTTP requests answered, by route and status code.');
  readonly latency = new Histogram('mtrl_judge_http_request_duration_seconds', 'Time from request start to response end, by route.', LATENCY_BUCKETS);
  readonly batchRows = new Histogram('mtrl_judge_batch_size', 'Generated rows (requests x samples) per model batch.', BATCH_BUCKETS);
  readonly batchSeconds = new Histogram('mtrl_judge_batch_duration_seconds', 'Time the model worker took per batch.', LATENCY_BUCKETS);
  readonly judged = new Counter('mtrl_judge_judgments_total', 'Judging requests completed by the model, by task.');
  readonly rejected = new Counter('mtrl_judge_rejected_total', 'Requests refused before judging, by reason (queue_full, timeout, shutting_down).');
  readonly rewards = new Counter('mtrl_judge_rewards_scored_total', 'Completions scored by the reward endpoints.');
  readonly started = Date.now();

  render(gauges: { queueDepth: number; inFlight: number; maxQueue: number; up: boolean }): string {
    const g = (name: string, help: string, v: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${num(v)}`];
    return [
      ...this.requests.render(),
      ...this.latency.render(),
      ...this.batchRows.render(),
      ...this.batchSeconds.render(),
      ...this.judged.render(),
      ...this.rejected.render(),
      ...this.rewards.render(),
      ...g('mtrl_judge_queue_depth', 'Requests waiting for the model.', gauges.queueDepth),
      ...g('mtrl_judge_queue_capacity', 'Most requests that may wait (--max-queue).', gauges.maxQueue),
      ...g('mtrl_judge_in_flight_requests', 'Requests in the batch being judged.', gauges.inFlight),
      ...g('mtrl_judge_up', '1 when the model worker is alive and accepting work.', gauges.up ? 1 : 0),
      ...g('mtrl_judge_uptime_seconds', 'Seconds since the server started.', (Date.now() - this.started) / 1000),
      '',
    ].join('\n');
  }
}
