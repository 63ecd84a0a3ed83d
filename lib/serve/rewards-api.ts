// The reward bridge for distributed RL engines: completions + task names + labels in, per-completion
// rewards and their components out, computed by the same RewardModel (each task's own reward
// components, e.g. the paper's 0.9·accuracy + 0.1·format) that GrpoTrainer uses by default.
//
// Two request shapes:
// - ours, POST /v1/rewards: { items: [{ completion, task, label, prompt?, num_tokens?, counterpart? }] }
//   or columns { completions: [...], tasks: [...], labels: [...] };
// - OpenRLHF's remote reward model (--remote_rm_url http://host:port/get_reward): { query: [...],
//   prompts: [...], labels: [...] } where query[i] is prompt + response, answered with
//   { rewards: [...], scores: [...], extra_logs: { <component>: [...] } }.
import type { JudgeExample } from '../data/types.js';
import type { RewardInput } from '../rewards/components.js';
import type { RewardBatch, RewardModel } from '../rewards/model.js';
import type { TaskRegistry } from '../tasks/registry.js';
import type { Task } from '../tasks/task.js';
import { HttpError } from './http-error.js';

/** At most this many completions per reward request. */
export const MAX_REWARD_ITEMS = 65_536;

interface RewardItem {
  completion: string;
  task: string;
  label: unknown;
  prompt?: string;
  numTokens?: number;
  counterpart?: { completion: string; label: unknown };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A label as a number: the number itself, or a verdict word of the task ("yes", "unsafe", "B"). */
export function labelValue(task: Task, label: unknown, where: string): number {
  if (typeof label === 'number' && Number.isFinite(label)) {
    if (task.labels !== null && !task.labels.includes(label)) throw new HttpError(400, `${where}: label ${label} is not one of task "${task.name}"'s labels ${task.labels.join(', ')}`);
    return label;
  }
  if (typeof label === 'string' && label.trim() !== '') {
    const asNum = Number(label);
    if (label.trim() !== '' && Number.isFinite(asNum) && (task.labels === null || task.labels.includes(asNum))) return asNum;
    const v = task.parseVerdict(label);
    if (v !== null) return v;
    throw new HttpError(400, `${where}: label ${JSON.stringify(label)} is neither a label of task "${task.name}" (${task.labels?.join(', ') ?? 'a score'}) nor one of its verdicts`);
  }
  throw new HttpError(400, `${where}: label must be a number or a verdict string, got ${label === null ? 'null' : typeof label}`);
}

function taskOf(registry: TaskRegistry, name: unknown, where: string): Task {
  if (typeof name !== 'string' || !registry.has(name)) throw new HttpError(400, `${where} must be one of ${registry.names().join(', ')}, got ${JSON.stringify(name)}`);
  return registry.get(name);
}

function toInputs(registry: TaskRegistry, items: RewardItem[]): RewardInput[] {
  return items.map((it, i) => {
    const where = `items[${i}]`;
    const task = taskOf(registry, it.task, `${where}.task`);
    if (typeof it.completion !== 'string') throw new HttpError(400, `${where}.completion must be a string`);
    const example: JudgeExample = {
      id: `reward-${i}`,
      task: task.name,
      format: task.format,
      images: [],
      label: labelValue(task, it.label, `${where}.label`),
      ...(typeof it.prompt === 'string' ? { prompt: it.prompt } : {}),
    };
    const input: RewardInput = { completion: it.completion, example, task };
    if (it.numTokens !== undefined) {
      if (!(Number.isInteger(it.numTokens) && it.numTokens >= 0)) throw new HttpError(400, `${where}.num_tokens must be an integer ≥ 0`);
      input.numTokens = it.numTokens;
    }
    if (it.counterpart !== undefined) {
      const c = it.counterpart;
      if (!isObject(c) || typeof c.completion !== 'string') throw new HttpError(400, `${where}.counterpart must be { completion, label } (the same pair judged in swapped order)`);
      input.counterpart = { completion: c.completion, example: { ...example, id: `${example.id}~swapped`, label: labelValue(task, c.label, `${where}.counterpart.label`) } };
    }
    return input;
  });
}

async function score(model: RewardModel, inputs: RewardInput[]): Promise<RewardBatch> {
  try {
    return await model.score(inputs);
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
}

function checkCount(n: number, what: string): void {
  if (n === 0) throw new HttpError(400, `${what} is empty`);
  if (n > MAX_REWARD_ITEMS) throw new HttpError(400, `${what} has ${n} entries; at most ${MAX_REWARD_ITEMS} per request`);
}

/** POST /v1/rewards. */
export async function rewardsEndpoint(registry: TaskRegistry, model: RewardModel, body: unknown): Promise<Record<string, unknown>> {
  if (!isObject(body)) throw new HttpError(400, 'body must be a JSON object: { items: [{ completion, task, label }] } or { completions, tasks, labels }');
  let items: RewardItem[];
  if (Array.isArray(body.items)) {
    items = body.items.map((x, i) => {
      if (!isObject(x)) throw new HttpError(400, `items[${i}] must be an object { completion, task, label }`);
      return {
        completion: x.completion as string,
        task: x.task as string,
        label: x.label,
        ...(x.prompt !== undefined ? { prompt: x.prompt as string } : {}),
        ...(x.num_tokens !== undefined ? { numTokens: x.num_tokens as number } : {}),
        ...(x.counterpart !== undefined ? { counterpart: x.counterpart as RewardItem['counterpart'] } : {}),
      };
    });
  } else if (Array.isArray(body.completions)) {
    const n = body.completions.length;
    for (const k of ['tasks', 'labels'] as const) {
      if (!Array.isArray(body[k]) || (body[k] as unknown[]).length !== n) throw new HttpError(400, `${k} must be an array with one entry per completion (${n})`);
    }
    const prompts = Array.isArray(body.prompts) ? (body.prompts as unknown[]) : undefined;
    items = (body.completions as unknown[]).map((c, i) => ({
      completion: c as string,
      task: (body.tasks as unknown[])[i] as string,
      label: (body.labels as unknown[])[i],
      ...(typeof prompts?.[i] === 'string' ? { prompt: prompts[i] as string } : {}),
    }));
  } else {
    throw new HttpError(400, 'body must have items: [{ completion, task, label }] or completions/tasks/labels arrays');
  }
  checkCount(items.length, 'items');
  const r = await score(model, toInputs(registry, items));
  return {
    object: 'rewards',
    rewards: r.totals,
    components: r.components,
    names: r.names,
    mean: Number.isFinite(r.totalSummary.mean) ? r.totalSummary.mean : null,
    by_task: Object.fromEntries(
      Object.entries(r.byTask).map(([t, s]) => [t, { mean: Number.isFinite(s.total.mean) ? s.total.mean : null, count: s.total.count, components: Object.fromEntries(Object.entries(s.components).map(([c, cs]) => [c, cs.mean])) }]),
    ),
  };
}

// End-of-turn markers a policy's chat template appends; they are not part of the judgment.
const END_MARKERS = ['<|im_end|>', '<|endoftext|>', '<|eot_id|>', '<|end|>', '</s>', '<eos>', '<|end_of_text|>'];

/** The response part of an OpenRLHF query (prompt + response), without trailing end-of-turn markers. */
export function responseOf(query: string, prompt: string | undefined): string {
  let r = prompt !== undefined && prompt !== '' && query.startsWith(prompt) ? query.slice(prompt.length) : query;
  for (let changed = true; changed; ) {
    changed = false;
    const t = r.trimEnd();
    for (const m of END_MARKERS) {
      if (t.endsWith(m)) {
        r = t.slice(0, -m.length);
        changed = true;
      }
    }
    if (!changed) r = t;
  }
  return r;
}

/**
 * The label column of our OpenRLHF export is a JSON string {"task", "label"}; a plain label is also
 * accepted when the request names each row's task in `datasources` (newer OpenRLHF sends them).
 */
function openrlhfLabel(raw: unknown, datasource: unknown, i: number): { task: unknown; label: unknown } {
  let v: unknown = raw;
  if (typeof raw === 'string') {
    try {
      v = JSON.parse(raw);
    } catch {
      v = raw;
    }
  }
  if (isObject(v) && 'task' in v) return { task: v.task, label: v.label };
  if (typeof datasource === 'string') return { task: datasource, label: v };
  throw new HttpError(400, `labels[${i}] must be a JSON string {"task": ..., "label": ...} (as written by \`mtrl-judge data export --format openrlhf\`), or datasources[${i}] must name the task`);
}

/** POST /get_reward: OpenRLHF's remote reward model protocol. */
export async function openrlhfEndpoint(registry: TaskRegistry, model: RewardModel, body: unknown): Promise<Record<string, unknown>> {
  if (!isObject(body) || !Array.isArray(body.query)) throw new HttpError(400, 'body must be OpenRLHF\'s remote reward request { query: [...], prompts: [...], labels: [...] }');
  const query = body.query as unknown[];
  const n = query.length;
  checkCount(n, 'query');
  const prompts = body.prompts === undefined || body.prompts === null ? undefined : body.prompts;
  if (prompts !== undefined && (!Array.isArray(prompts) || prompts.length !== n)) throw new HttpError(400, `prompts must be an array with one entry per query (${n})`);
  if (!Array.isArray(body.labels) || body.labels.length !== n) throw new HttpError(400, `labels must be an array with one entry per query (${n}); export the data with \`mtrl-judge data export --format openrlhf\` and pass --label_key label`);
  const ds = Array.isArray(body.datasources) ? (body.datasources as unknown[]) : [];
  const items: RewardItem[] = query.map((q, i) => {
    if (typeof q !== 'string') throw new HttpError(400, `query[${i}] must be a string`);
    const p = prompts?.[i];
    const { task, label } = openrlhfLabel((body.labels as unknown[])[i], ds[i], i);
    return { completion: responseOf(q, typeof p === 'string' ? p : undefined), task: task as string, label };
  });
  const r = await score(model, toInputs(registry, items));
  // OpenRLHF needs a number per sample: a completion no component applies to gets 0.
  const rewards = r.totals.map((v) => v ?? 0);
  const extra: Record<string, number[]> = {};
  for (const name of r.names) extra[name] = r.components[name]!.map((v) => v ?? 0);
  return {
    rewards,
    // "scores" drive OpenRLHF's dynamic filtering (kept in [0, 1]).
    scores: rewards.map((v) => Math.min(1, Math.max(0, v))),
    extra_logs: extra,
  };
}
