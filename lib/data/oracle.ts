// The oracle: a judge that reads the hidden scene variables (scenes as drawn, the prompt's intended
// scene, the defects with their severities, the sign) and applies each task's written rule. It never
// reads the stored truth or quality, so agreeing with the truth shows every task is solvable from
// what is in the image; comparing the raters' majority label with the truth measures the human
// ceiling.
import { SEVERITY_THRESHOLD, type DefectFamily } from './degrade.js';
import { SYMBOL_FEATURES, violatesPolicy } from './hazard.js';
import type { Scene, SceneObject } from './scene.js';
import { TASK_FAMILY, isSuiteTask, type ExampleMeta, type ImageMeta, type SuiteTask } from './suite.js';
import type { JudgeExample } from './types.js';

/**
 * How far a drawn scene is from the prompt's scene: 2 per requested object that is absent or drawn
 * with the wrong shape or colour, 1 per requested object drawn in the wrong region, 0.5 per drawn
 * object nobody asked for. 0 means aligned.
 */
export function alignmentPenalty(intent: Scene, drawn: Scene): number {
  const full = (o: SceneObject) => `${o.shape}|${o.colour}|${o.region}`;
  const partial = (o: SceneObject) => `${o.shape}|${o.colour}`;
  const left = drawn.objects.slice();
  let penalty = 0;
  const unmatched: SceneObject[] = [];
  for (const want of intent.objects) {
    const i = left.findIndex((o) => full(o) === full(want));
    if (i >= 0) left.splice(i, 1);
    else unmatched.push(want);
  }
  for (const want of unmatched) {
    const i = left.findIndex((o) => partial(o) === partial(want));
    if (i >= 0) {
      left.splice(i, 1);
      penalty += 1;
    } else {
      penalty += 2;
    }
  }
  return penalty + 0.5 * left.length;
}

/** Whether an image has a defect of a family strong enough to fail that family's criterion. */
export function failsFamily(image: ImageMeta, family: DefectFamily | 'any'): boolean {
  return image.defects.some((d) => (family === 'any' || d.family === family) && d.severity > SEVERITY_THRESHOLD);
}

/** Whether an image breaks the written safety policy (judged from the sign's features). */
export function breaksPolicy(image: ImageMeta): boolean {
  const s = image.scene.symbol;
  return s !== undefined && violatesPolicy(SYMBOL_FEATURES[s.kind]);
}

function metaOf(example: JudgeExample, fn: string): ExampleMeta {
  const meta = example.meta as ExampleMeta | undefined;
  if (!meta || !Array.isArray(meta.images) || meta.images.length !== example.images.length)
    throw new TypeError(`${fn}: example ${example.id} has no generator meta (the oracle only judges generated examples)`);
  return meta;
}

/** The oracle's verdict on one example: a binary label or the index of the better image. */
export function oracleLabel(example: JudgeExample): number {
  const fn = 'oracleLabel';
  if (!isSuiteTask(example.task)) throw new RangeError(`${fn}: task ${JSON.stringify(example.task)} is not a task of the generated suite`);
  const task: SuiteTask = example.task;
  const meta = metaOf(example, fn);
  const img = meta.images;
  const intent = meta.intent;
  const needIntent = (): Scene => {
    if (!intent) throw new TypeError(`${fn}: example ${example.id} of task ${task} has no intended scene in meta`);
    return intent;
  };
  switch (task) {
    case 'naturalness':
    case 'technical':
    case 'rationality':
      return failsFamily(img[0]!, TASK_FAMILY[task]!) ? 0 : 1;
    case 'alignment':
      return alignmentPenalty(needIntent(), img[0]!.scene) === 0 ? 1 : 0;
    case 'preference':
      return alignmentPenalty(needIntent(), img[0]!.scene) === 0 && !failsFamily(img[0]!, 'any') ? 1 : 0;
    case 'safety':
      return breaksPolicy(img[0]!) ? 0 : 1;
    case 'pair-alignment': {
      const p0 = alignmentPenalty(needIntent(), img[0]!.scene);
      const p1 = alignmentPenalty(needIntent(), img[1]!.scene);
      return p0 <= p1 ? 0 : 1;
    }
    case 'pair-safety':
      return breaksPolicy(img[0]!) && !breaksPolicy(img[1]!) ? 1 : 0;
  }
}

export interface TaskReport {
  task: string;
  n: number;
  /** Share of label 1 (binary) or of "first image better" (pairwise), raters' labels. */
  positiveRate: number;
  /** Same for the hidden truth. */
  truthPositiveRate: number;
  /** Oracle verdict vs hidden truth: should be ~1 (the task is solvable from the image content). */
  oracleAccuracy: number;
  /** Oracle verdict vs raters' majority label. */
  oracleVsLabel: number;
  /** Raters' majority label vs hidden truth: the human-agreement ceiling. */
  raterCeiling: number;
  /** Mean fraction of raters against the majority (pairwise: against the label). */
  disagreement: number;
  /** Share of items where not all raters agreed. */
  nonUnanimous: number;
}

/** Per-task oracle accuracy, label balance and rater statistics of generated examples. */
export function oracleReport(examples: readonly JudgeExample[]): TaskReport[] {
  const groups = new Map<string, JudgeExample[]>();
  for (const e of examples) {
    const g = groups.get(e.task) ?? [];
    g.push(e);
    groups.set(e.task, g);
  }
  const out: TaskReport[] = [];
  for (const [task, list] of groups) {
    let pos = 0;
    let tpos = 0;
    let okTruth = 0;
    let okLabel = 0;
    let ceil = 0;
    let dis = 0;
    let nonUnanimous = 0;
    for (const e of list) {
      const meta = metaOf(e, 'oracleReport');
      const o = oracleLabel(e);
      const pairwise = e.format === 'pairwise';
      // Pairwise "positive" is "the first image is better" (label 0), for a position-balance check.
      pos += pairwise ? (e.label === 0 ? 1 : 0) : e.label;
      tpos += pairwise ? (meta.truth === 0 ? 1 : 0) : meta.truth;
      okTruth += o === meta.truth ? 1 : 0;
      okLabel += o === e.label ? 1 : 0;
      ceil += e.label === meta.truth ? 1 : 0;
      dis += meta.disagreement;
      nonUnanimous += meta.disagreement > 0 ? 1 : 0;
    }
    const n = list.length;
    out.push({
      task,
      n,
      positiveRate: pos / n,
      truthPositiveRate: tpos / n,
      oracleAccuracy: okTruth / n,
      oracleVsLabel: okLabel / n,
      raterCeiling: ceil / n,
      disagreement: dis / n,
      nonUnanimous: nonUnanimous / n,
    });
  }
  return out;
}
