// Integration of the built-in tasks with the generated judging suite (lib/data): every suite task has
// a task of the same name and format, every example builds a prompt, label conventions agree (an
// oracle completion written from the label earns full reward), and pairwise swapping round-trips.
import { describe, expect, it } from 'vitest';
import { SUITE_TASKS, TASK_INFO, generateExamples } from '../lib/data/suite.js';
import type { JudgeExample } from '../lib/data/types.js';
import { RewardModel } from '../lib/rewards/index.js';
import { TaskRegistry, swapPair } from '../lib/tasks/index.js';

const N = 24;

describe('built-in tasks on the generated suite', () => {
  const reg = new TaskRegistry();
  const examples = new Map<string, JudgeExample[]>(SUITE_TASKS.map((t) => [t, [...generateExamples(t, 'test', { seed: 3, sizes: 'small' }, N)]]));

  it('cover every suite task with the same format and image count', () => {
    for (const name of SUITE_TASKS) {
      const task = reg.get(name);
      expect(task.format).toBe(TASK_INFO[name].format);
      expect(task.numImages).toBe(TASK_INFO[name].images);
      expect(task.definition.question.includes('{prompt}')).toBe(TASK_INFO[name].hasPrompt);
    }
  });

  it('build a prompt for every example and agree with the label conventions', async () => {
    const rewards = new RewardModel();
    for (const name of SUITE_TASKS) {
      const task = reg.get(name);
      const exs = examples.get(name)!;
      const labels = new Set<number>();
      for (const ex of exs) {
        const p = task.buildPrompt(ex);
        if (ex.prompt !== undefined && TASK_INFO[name].hasPrompt) expect(p).toContain(ex.prompt);
        expect(task.labels).toContain(ex.label);
        labels.add(ex.label);
      }
      expect([...labels].sort(), `${name}: both labels occur in ${N} examples`).toEqual([0, 1]);
      // The canonical verdict for the suite's positive label names the suite's positive side.
      if (task.format === 'binary') {
        const positive = TASK_INFO[name].positive;
        const verdict = task.verdictFor(1);
        expect(verdict === 'yes' || positive.includes(verdict), `${name}: label 1 = "${positive}", verdict "${verdict}"`).toBe(true);
      }
      // An oracle that writes the right verdict gets the full paper reward; the wrong one gets α.
      const right = exs.map((ex) => ({ completion: task.targetText(ex.label, { reasoning: 'checked' }), example: ex, task }));
      const wrong = exs.map((ex) => ({ completion: task.targetText(1 - ex.label, { reasoning: 'checked' }), example: ex, task }));
      const r = await rewards.score([...right, ...wrong]);
      r.totals.forEach((t, i) => expect(t, `${name} #${i}`).toBeCloseTo(i < N ? 1 : 0.1, 12));
    }
  });

  it('pairwise examples swap cleanly', () => {
    for (const name of ['pair-alignment', 'pair-safety']) {
      for (const ex of examples.get(name)!) {
        const s = swapPair(ex);
        expect(s.label).toBe(1 - ex.label);
        expect(s.images[0]).toBe(ex.images[1]);
        expect(reg.get(name).buildPrompt(s)).toBe(reg.get(name).buildPrompt(ex)); // the text does not depend on the order
      }
    }
  });
});
