// The judge-output parser: finds the reasoning and the answer in `<think>…</think><answer>…</answer>`.
//
// Two modes, because they answer two different questions:
// - strict: "did the judge follow the output format?" (the format reward). Exactly one think block,
//   then exactly one answer block, whitespace only around them, lower-case tags, a non-empty answer,
//   no stray tags inside. The trainer strips end-of-sequence/padding tokens before decoding.
// - lenient: "what did the judge decide?" (accuracy, evaluation of zero-shot models). Tags in any case,
//   think optional, text after the answer ignored, an answer cut off by the length limit
//   (`<answer>yes` at the very end) accepted, several answer blocks accepted only if they agree, and,
//   without answer tags, a final "Answer: …" line or a short bare reply.

import { normalizeVerdictText } from '../tasks/verdicts.js';

export type ParseMode = 'strict' | 'lenient';

export interface JudgeParseOptions {
  mode?: ParseMode;
  /** Strict mode: also require non-whitespace reasoning inside <think>. Default false. */
  requireReasoning?: boolean;
}

export interface ParsedOutput {
  mode: ParseMode;
  /** Strict: the structure is valid. Lenient: an answer was found. */
  ok: boolean;
  /** The reasoning (trimmed), or null when there is no think block. */
  think: string | null;
  /** The answer text (trimmed), or null when none could be taken. */
  answer: string | null;
  /** How many answer blocks the text has (closed ones, plus one unclosed at the end). */
  answerCount: number;
  /** Why strict parsing failed, or what lenient parsing had to forgive; empty when clean. */
  issues: string[];
}

const TAG = /<(\/?)(think|answer)\s*>/gi;
// A lenient reply without tags is taken whole only when it is this short (a bare "Yes." or "B").
const MAX_BARE_WORDS = 8;

interface TagHit {
  index: number;
  end: number;
  close: boolean;
  name: 'think' | 'answer';
  exact: boolean;
}

function scanTags(text: string): TagHit[] {
  const hits: TagHit[] = [];
  for (const m of text.matchAll(TAG)) {
    hits.push({
      index: m.index,
      end: m.index + m[0].length,
      close: m[1] === '/',
      name: m[2]!.toLowerCase() as 'think' | 'answer',
      exact: m[0] === `<${m[1]}${m[2]!.toLowerCase()}>`,
    });
  }
  return hits;
}

function isBlank(s: string): boolean {
  return s.trim() === '';
}

function parseStrict(text: string, requireReasoning: boolean): ParsedOutput {
  const hits = scanTags(text);
  const issues: string[] = [];
  const count = (name: string, close: boolean) => hits.filter((h) => h.name === name && h.close === close).length;
  const answerCount = count('answer', true) + (hits.length > 0 && hits[hits.length - 1]!.name === 'answer' && !hits[hits.length - 1]!.close ? 1 : 0);
  const shapeOk =
    hits.length === 4 &&
    hits[0]!.name === 'think' && !hits[0]!.close &&
    hits[1]!.name === 'think' && hits[1]!.close &&
    hits[2]!.name === 'answer' && !hits[2]!.close &&
    hits[3]!.name === 'answer' && hits[3]!.close;
  let think: string | null = null;
  let answer: string | null = null;
  if (shapeOk) {
    const [t0, t1, a0, a1] = hits as [TagHit, TagHit, TagHit, TagHit];
    think = text.slice(t0.end, t1.index).trim();
    answer = text.slice(a0.end, a1.index).trim();
    if (!hits.every((h) => h.exact)) issues.push('tags must be lower case: <think>, </think>, <answer>, </answer>');
    if (!isBlank(text.slice(0, t0.index))) issues.push('text before <think>');
    if (!isBlank(text.slice(t1.end, a0.index))) issues.push('text between </think> and <answer>');
    if (!isBlank(text.slice(a1.end))) issues.push('text after </answer>');
    if (answer === '') issues.push('empty answer');
    if (requireReasoning && think === '') issues.push('empty reasoning');
  } else {
    const thinkOpen = count('think', false);
    const thinkClose = count('think', true);
    const ansOpen = count('answer', false);
    const ansClose = count('answer', true);
    if (thinkOpen === 0 && thinkClose === 0) issues.push('missing <think> block');
    else if (thinkOpen !== 1 || thinkClose !== 1) issues.push(`expected one <think> block, found ${thinkOpen} open and ${thinkClose} close tags`);
    if (ansOpen === 0 && ansClose === 0) issues.push('missing <answer> block');
    else if (ansOpen > 1 || ansClose > 1) issues.push(`expected one <answer> block, found ${Math.max(ansOpen, ansClose)}`);
    else if (ansOpen !== ansClose) issues.push('unclosed or unopened <answer> tag');
    if (issues.length === 0) issues.push('blocks out of order or nested: expected <think>…</think> then <answer>…</answer>');
  }
  const ok = issues.length === 0;
  return { mode: 'strict', ok, think: ok ? think : null, answer: ok ? answer : null, answerCount, issues };
}

function parseLenient(text: string): ParsedOutput {
  const hits = scanTags(text);
  const issues: string[] = [];

  // Reasoning: the first think block (an unclosed one runs to the next tag or the end).
  let think: string | null = null;
  const thinkOpenIdx = hits.findIndex((h) => h.name === 'think' && !h.close);
  if (thinkOpenIdx >= 0) {
    const open = hits[thinkOpenIdx]!;
    const next = hits[thinkOpenIdx + 1];
    think = text.slice(open.end, next?.index ?? text.length).trim();
    if (next === undefined || next.name !== 'think' || !next.close) issues.push('unclosed <think>');
  } else {
    issues.push('missing <think> block');
  }

  // Answers: each <answer> up to its </answer>; an unclosed one at the end counts (truncated output).
  const answers: string[] = [];
  for (let i = 0; i < hits.length; i++) {
    const h = hits[i]!;
    if (h.name !== 'answer' || h.close) continue;
    const next = hits[i + 1];
    if (next !== undefined && next.name === 'answer' && next.close) {
      answers.push(text.slice(h.end, next.index).trim());
      i++;
    } else if (next === undefined) {
      answers.push(text.slice(h.end).trim());
      issues.push('unclosed <answer> at the end');
    } else {
      issues.push('<answer> not closed before the next tag');
    }
  }
  const nonEmpty = answers.filter((a) => a !== '');
  let answer: string | null = null;
  if (nonEmpty.length > 0) {
    const distinct = new Set(nonEmpty.map(normalizeVerdictText));
    if (distinct.size === 1) {
      answer = nonEmpty[nonEmpty.length - 1]!;
      if (nonEmpty.length > 1) issues.push(`${nonEmpty.length} answer blocks (they agree)`);
    } else {
      issues.push(`${nonEmpty.length} answer blocks that disagree`);
    }
    const lastClose = [...hits].reverse().find((h) => h.name === 'answer' && h.close);
    if (lastClose !== undefined && !isBlank(text.slice(lastClose.end))) issues.push('text after </answer> (ignored)');
  } else if (answers.length > 0) {
    issues.push('empty answer');
  } else {
    // No answer tags: a final "Answer: …" line, else a short bare reply after the reasoning. Both are
    // looked for after a closed think block, so "the answer: maybe" inside the reasoning is not read.
    const lastThinkClose = [...hits].reverse().find((h) => h.name === 'think' && h.close);
    const region = lastThinkClose !== undefined ? text.slice(lastThinkClose.end) : text;
    const rest = (lastThinkClose !== undefined || thinkOpenIdx < 0 ? region : '').trim();
    const lines = [...region.matchAll(/(?:final answer|answer|verdict)\s*[:：]\s*([^\n]+)/gi)];
    const lastLine = lines[lines.length - 1];
    if (lastLine !== undefined && lastLine[1]!.trim() !== '') {
      answer = lastLine[1]!.replace(/<\/?(think|answer)\s*>/gi, '').trim() || null;
      issues.push('no <answer> tags; took an "Answer:" line');
    } else if (rest !== '' && rest.split(/\s+/).length <= MAX_BARE_WORDS) {
      answer = rest;
      issues.push('no <answer> tags; took the bare reply');
    } else {
      issues.push('missing <answer> block');
    }
  }
  return { mode: 'lenient', ok: answer !== null, think, answer, answerCount: answers.length, issues };
}

/** Parses one judge completion. See the file comment for what each mode accepts. */
export function parseJudgeOutput(text: string, opts: JudgeParseOptions = {}): ParsedOutput {
  if (typeof text !== 'string') throw new TypeError(`parseJudgeOutput: text: expected a string, got ${text === null ? 'null' : typeof text}`);
  const mode = opts.mode ?? 'strict';
  if (mode === 'strict') return parseStrict(text, opts.requireReasoning ?? false);
  if (mode === 'lenient') return parseLenient(text);
  throw new RangeError(`parseJudgeOutput: opts.mode: expected "strict" or "lenient", got ${JSON.stringify(mode)}`);
}

/** Formats a completion in the expected shape (for SFT targets and tests). */
export function formatJudgeOutput(reasoning: string, answer: string): string {
  return `<think>${reasoning}</think><answer>${answer}</answer>`;
}
