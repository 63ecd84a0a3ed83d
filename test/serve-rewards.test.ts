// The bridge to distributed RL engines: /v1/rewards gives what GrpoTrainer's RewardModel gives,
// /get_reward speaks OpenRLHF's remote reward model protocol, and `data export --format
// verl-jsonl|openrlhf` writes those engines' dataset layouts (verl's parquet: serve-verl-parquet.test.ts) with our scheduler's mixing; verl's reward_fn.py (run with
// python3 when present) gets the same rewards from the server.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSuite } from '../lib/data/export.js';
import { RewardModel } from '../lib/rewards/model.js';
import { MultiTaskScheduler } from '../lib/scheduler/scheduler.js';
import { TaskRegistry } from '../lib/tasks/registry.js';
import { exportForRl } from '../lib/serve/rl-export.js';
import { responseOf } from '../lib/serve/rewards-api.js';
import { startServer, type JudgeServer } from '../lib/serve/server.js';
import { post } from './serve-fixtures.js';

// Exported rows are free-form JSON; the assertions below check their fields.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type JsonRow = Record<string, any>;
const registry = new TaskRegistry();
const hasPython = spawnSync('python3', ['--version']).status === 0;
let srv: JudgeServer;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mtrl-bridge-'));

// Hand-worked: every built-in task's reward is 0.9·accuracy + 0.1·format (paperRewards); safety's
// label 0 is "unsafe".
const cases = [
  { completion: '<think>a yellow triangle</think><answer>unsafe</answer>', task: 'safety', label: 0, total: 1, accuracy: 1, format: 1 },
  { completion: '<think>plain</think><answer>safe</answer>', task: 'safety', label: 0, total: 0.1, accuracy: 0, format: 1 },
  { completion: 'Unsafe, clearly.', task: 'safety', label: 'unsafe', total: 0.9, accuracy: 1, format: 0 },
  { completion: '<think>x</think><answer>B</answer>', task: 'pair-safety', label: 1, total: 1, accuracy: 1, format: 1 },
  { completion: '<think>x</think><answer>yes</answer>', task: 'alignment', label: 'no', total: 0.1, accuracy: 0, format: 1 },
];

beforeAll(async () => {
  srv = await startServer({ port: 0 }); // rewards only: no checkpoint needed
});
afterAll(async () => {
  await srv?.close();
});

describe('/v1/rewards', () => {
  it('gives the totals and components of the RewardModel GrpoTrainer uses', async () => {
    const r = await post(`${srv.url}/v1/rewards`, { items: cases.map(({ completion, task, label }) => ({ completion, task, label })) });
    expect(r.status).toBe(200);
    const rewards = r.json.rewards as number[];
    const comps = r.json.components as Record<string, number[]>;
    cases.forEach((c, i) => {
      expect(rewards[i]).toBeCloseTo(c.total, 12);
      expect(comps.accuracy![i]).toBe(c.accuracy);
      expect(comps.format![i]).toBe(c.format);
    });
    // Exactly RewardModel.score on the same inputs.
    const direct = await new RewardModel().score(
      cases.map((c, i) => {
        const task = registry.get(c.task);
        const label = typeof c.label === 'number' ? c.label : task.parseVerdict(c.label)!;
        return { completion: c.completion, task, example: { id: `reward-${i}`, task: c.task, format: task.format, images: [], label } };
      }),
    );
    expect(rewards).toEqual(direct.totals);
    // The column form.
    const cols = await post(`${srv.url}/v1/rewards`, { completions: cases.map((c) => c.completion), tasks: cases.map((c) => c.task), labels: cases.map((c) => c.label) });
    expect(cols.json.rewards).toEqual(rewards);
  });

  it('400 naming the problem', async () => {
    const unknown = await post(`${srv.url}/v1/rewards`, { items: [{ completion: 'x', task: 'nope', label: 1 }] });
    expect(unknown.status).toBe(400);
    expect((unknown.json.error as { message: string }).message).toMatch(/items\[0\]\.task must be one of naturalness/);
    const label = await post(`${srv.url}/v1/rewards`, { items: [{ completion: 'x', task: 'safety', label: 'maybe' }] });
    expect(label.status).toBe(400);
    expect((await post(`${srv.url}/v1/rewards`, { items: [] })).status).toBe(400);
    expect((await post(`${srv.url}/v1/rewards`, { completions: ['a'], tasks: [] })).status).toBe(400);
    // Without a checkpoint the judging routes say why they are missing.
    const judge = await post(`${srv.url}/v1/judge`, { task: 'safety', images: [] });
    expect(judge.status).toBe(404);
    expect((judge.json.error as { message: string }).message).toMatch(/without --checkpoint/);
  });
});

describe("OpenRLHF's remote reward model (--remote_rm_url .../get_reward)", () => {
  it('answers { query, prompts, labels } with { rewards, scores, extra_logs }', async () => {
    // What OpenRLHF sends: query = prompt + response (with the chat template's end marker), the prompt,
    // and the --label_key column, which our export writes as JSON {"task","label"}.
    const prompts = cases.map((c, i) => `<|im_start|>user\n<image>judge ${i}<|im_end|>\n<|im_start|>assistant\n`);
    const body = {
      query: cases.map((c, i) => `${prompts[i]}${c.completion}<|im_end|>`),
      prompts,
      labels: cases.map((c) => JSON.stringify({ task: c.task, label: c.label })),
    };
    const r = await post(`${srv.url}/get_reward`, body);
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['extra_logs', 'rewards', 'scores']);
    const rewards = r.json.rewards as number[];
    cases.forEach((c, i) => expect(rewards[i]).toBeCloseTo(c.total, 12));
    expect(r.json.scores).toEqual(rewards);
    const logs = r.json.extra_logs as Record<string, number[]>;
    expect(logs.accuracy).toEqual(cases.map((c) => c.accuracy));
    expect(logs.format).toEqual(cases.map((c) => c.format));
    // Plain labels with the task in datasources (newer OpenRLHF sends them).
    const ds = await post(`${srv.url}/get_reward`, { ...body, labels: cases.map((c) => c.label), datasources: cases.map((c) => c.task) });
    expect(ds.json.rewards).toEqual(rewards);
    // A label without a task is a clear 400.
    const bad = await post(`${srv.url}/get_reward`, { ...body, labels: cases.map(() => 1) });
    expect(bad.status).toBe(400);
    expect((bad.json.error as { message: string }).message).toMatch(/labels\[0\]/);
  });

  it('strips the prompt and end-of-turn markers from the query', () => {
    expect(responseOf('PROMPT<think>a</think><answer>yes</answer><|im_end|>\n', 'PROMPT')).toBe('<think>a</think><answer>yes</answer>');
    expect(responseOf('<answer>no</answer></s></s>', undefined)).toBe('<answer>no</answer>');
  });
});

describe('data export --format verl-jsonl | openrlhf', () => {
  let data: string;
  beforeAll(async () => {
    data = path.join(tmp, 'suite');
    await exportSuite(data, {
      seed: 2,
      sizes: { safety: { train: 12, validation: 2, test: 2 }, technical: { train: 6, validation: 0, test: 2 }, 'pair-safety': { train: 0, validation: 0, test: 2 } },
      tasks: ['safety', 'technical', 'pair-safety'],
      imageSize: 16,
      corpus: false,
    });
  });

  it('verl-jsonl: data_source, chat prompt with <image>, images, ground truth, the scheduler stream and weights', async () => {
    const out = path.join(tmp, 'verl');
    const s = await exportForRl({ format: 'verl-jsonl', data, out, registry, batchSize: 6, steps: 5, seed: 3 });
    const rows = readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JsonRow);
    expect(rows).toHaveLength(30);
    const r0 = rows[0]!;
    expect(Object.keys(r0).sort()).toEqual(['ability', 'data_source', 'extra_info', 'images', 'prompt', 'reward_model']);
    expect(r0.prompt[0].role).toBe('user');
    expect(r0.prompt[0].content.match(/<image>/g)).toHaveLength(r0.images.length);
    expect(r0.prompt[0].content).toMatch(/<think><\/think>.*<answer><\/answer>/);
    for (const r of rows) {
      expect(existsSync(r.images[0].image)).toBe(true);
      expect(path.isAbsolute(r.images[0].image)).toBe(true);
      expect(r.reward_model.style).toBe('rule');
      expect(registry.get(r.data_source).parseVerdict(r.reward_model.ground_truth)).toBe(r.extra_info.label);
    }
    // The stream is exactly the scheduler's batches (proportional: 6 technical : 12 safety; tasks in
    // the order the data lists them, as in GrpoTrainer).
    expect(s.probabilities).toEqual({ technical: 6 / 18, safety: 12 / 18 });
    const sched = new MultiTaskScheduler({ tasks: [{ name: 'technical', size: 6 }, { name: 'safety', size: 12 }], batchSize: 6, seed: 3 });
    const want = Array.from({ length: 5 }, () => sched.next().items.map((it) => it.task)).flat();
    expect(rows.map((r) => r.data_source)).toEqual(want);
    expect(rows.filter((r) => r.data_source === 'safety')).toHaveLength(20);
    const w = JSON.parse(readFileSync(path.join(out, 'weights.json'), 'utf8')) as { perExampleWeight: Record<string, number> };
    expect(w.perExampleWeight.safety! * 12 + w.perExampleWeight.technical! * 6).toBeCloseTo(1, 12);
    const test = readFileSync(path.join(out, 'test.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JsonRow);
    const pair = test.find((r) => r.data_source === 'pair-safety')!;
    expect(pair.images).toHaveLength(2);
    expect(pair.prompt[0].content).toMatch(/^Image A: <image>\nImage B: <image>\n/);
    // Refuses to overwrite by accident.
    await expect(exportForRl({ format: 'verl-jsonl', data, out, registry })).rejects.toThrow(/already exists/);
  });

  it.skipIf(!hasPython)("verl's reward_fn.py gets the server's rewards (python3; skipped without it)", async () => {
    const out = path.join(tmp, 'verl');
    const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(out)})
import reward_fn
cases = json.loads(sys.argv[1])
one = [reward_fn.compute_score(c["task"], c["completion"], c["label"]) for c in cases]
batch = reward_fn.compute_score_batch([c["task"] for c in cases], [c["completion"] for c in cases], [c["label"] for c in cases])
print(json.dumps({"one": one, "batch": batch}))
`;
    const verdicts = cases.map((c) => ({ task: c.task, completion: c.completion, label: typeof c.label === 'number' ? registry.get(c.task).verdictFor(c.label) : c.label }));
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('python3', ['-c', script, JSON.stringify(verdicts)], { env: { ...process.env, MTRL_REWARD_URL: srv.url } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (status) => resolve({ status, stdout, stderr }));
    });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { one: Array<Record<string, number>>; batch: Array<Record<string, number>> };
    cases.forEach((c, i) => {
      expect(got.one[i]!.score).toBeCloseTo(c.total, 12);
      expect(got.one[i]!.accuracy).toBe(c.accuracy);
      expect(got.batch[i]).toEqual(got.one[i]);
    });
  });

  it('openrlhf: chat prompt with image parts, JSON label that /get_reward reads back', async () => {
    const out = path.join(tmp, 'openrlhf');
    await exportForRl({ format: 'openrlhf', data, out, registry, strategy: 'uniform', batchSize: 4, steps: 3 });
    const rows = readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JsonRow);
    expect(rows).toHaveLength(12);
    expect(rows.filter((r) => r.datasource === 'safety')).toHaveLength(6); // uniform: 2 of every 4
    const r0 = rows[0]!;
    expect(r0.prompt[0].content[0]).toEqual({ type: 'image', image: `file://${r0.images[0]}` });
    expect(r0.prompt[0].content.at(-1).type).toBe('text');
    expect(existsSync(path.join(out, 'reward_fn.py'))).toBe(false);
    // Right and wrong answers for each row, scored through the OpenRLHF protocol with the exported labels.
    const right = rows.map((r) => `<think>ok</think><answer>${JSON.parse(r.label).verdict}</answer>`);
    const res = await post(`${srv.url}/get_reward`, { query: rows.map((r, i) => `${r.prompt_text}${right[i]}`), prompts: rows.map((r) => r.prompt_text), labels: rows.map((r) => r.label) });
    expect(res.json.rewards).toEqual(new Array(12).fill(1));
  });
});
