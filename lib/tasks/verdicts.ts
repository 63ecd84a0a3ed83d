// Verdict vocabularies: how the text inside <answer>…</answer> maps to a label and back.
//
// A judge writes free text; a task needs a label. Normalisation (case, punctuation, markdown, quotes)
// and synonyms ("yes" / "true" / "correct") are handled here, once, so that rewards, metrics and SFT
// targets all agree on what a verdict means. Two modes:
// - strict: the whole normalised answer must be one of the vocabulary's terms ("Yes." → yes);
// - lenient: additionally accepts a term at the start of the answer ("Yes, it matches." → yes),
//   after an optional lead-in ("the answer is B" → B). Lenient is for zero-shot base models and
//   evaluation of free-form output; it is never used to decide the format reward.

/** One label and the words that mean it. */
export interface VerdictEntry {
  /** The label this verdict stands for (JudgeExample.label). */
  label: number;
  /** The canonical verdict string, written in SFT targets and shown in the prompt. */
  verdict: string;
  /** Other spellings that mean the same label (matched after normalisation). */
  synonyms?: readonly string[];
}

export interface VerdictParseOptions {
  /** Accept a vocabulary term at the start of a longer answer. Default false. */
  lenient?: boolean;
}

/**
 * Normalises verdict text for matching: Unicode NFKC, lower case, and only the word and number tokens
 * kept, joined by one space. Markdown, quotes, brackets and punctuation disappear:
 * `"**Image A.**"` → `image a`, `(B)` → `b`, `Not safe!` → `not safe`, `3.5/5` → `3.5 5`.
 */
export function normalizeVerdictText(text: string): string {
  const tokens = text.normalize('NFKC').toLowerCase().match(/[+-]?\d+(?:\.\d+)?|\p{L}+/gu);
  return tokens === null ? '' : tokens.join(' ');
}

// Lead-ins a lenient parse skips before looking for a term ("my final answer is: yes").
const LEAD_INS: readonly string[] = [
  'my final answer is',
  'the final answer is',
  'final answer is',
  'final answer',
  'my answer is',
  'the answer is',
  'answer is',
  'answer',
  'verdict is',
  'verdict',
  'the better image is',
  'the better one is',
];

/** A label space with its verdict strings. Immutable; ambiguous vocabularies are rejected at construction. */
export class VerdictVocabulary {
  /** Labels in the order given. */
  readonly labels: readonly number[];
  /** Canonical verdicts in the order of `labels`. */
  readonly verdicts: readonly string[];
  private readonly byTerm = new Map<string, number>();
  private readonly canonicalByLabel = new Map<number, string>();
  private readonly maxTermWords: number;

  /**
   * @param entries one per label; `owner` names the task in error messages.
   * @throws TypeError on an empty vocabulary, a non-integer label, an empty verdict, or a term that
   *   normalises to the same text for two labels (that would make a verdict ambiguous).
   */
  constructor(entries: readonly VerdictEntry[], owner = 'VerdictVocabulary') {
    if (!Array.isArray(entries) || entries.length < 2) {
      throw new TypeError(`${owner}: verdicts: expected at least two entries (one per label), got ${Array.isArray(entries) ? entries.length : typeof entries}`);
    }
    let maxWords = 1;
    for (const [i, e] of entries.entries()) {
      if (!Number.isInteger(e.label)) throw new TypeError(`${owner}: verdicts[${i}].label: expected an integer, got ${String(e.label)}`);
      if (this.canonicalByLabel.has(e.label)) throw new TypeError(`${owner}: verdicts[${i}].label: label ${e.label} appears twice`);
      const canonical = normalizeVerdictText(String(e.verdict ?? ''));
      if (canonical === '') throw new TypeError(`${owner}: verdicts[${i}].verdict: expected a non-empty word, got ${JSON.stringify(e.verdict)}`);
      this.canonicalByLabel.set(e.label, e.verdict);
      for (const term of [e.verdict, ...(e.synonyms ?? [])]) {
        const t = normalizeVerdictText(term);
        if (t === '') throw new TypeError(`${owner}: verdicts[${i}]: synonym ${JSON.stringify(term)} has no letters or digits`);
        const prev = this.byTerm.get(t);
        if (prev !== undefined && prev !== e.label) {
          throw new TypeError(`${owner}: verdicts: term "${t}" means both label ${prev} and label ${e.label}`);
        }
        this.byTerm.set(t, e.label);
        maxWords = Math.max(maxWords, t.split(' ').length);
      }
    }
    this.labels = entries.map((e) => e.label);
    this.verdicts = entries.map((e) => e.verdict);
    this.maxTermWords = maxWords;
  }

  /** The canonical verdict string for a label (what an SFT target writes). */
  canonical(label: number): string {
    const v = this.canonicalByLabel.get(label);
    if (v === undefined) throw new RangeError(`VerdictVocabulary.canonical: label ${label} is not one of ${this.labels.join(', ')}`);
    return v;
  }

  /** Whether `label` belongs to this vocabulary. */
  has(label: number): boolean {
    return this.canonicalByLabel.has(label);
  }

  /**
   * The label an answer means, or null when it means none (or, leniently, when nothing matches).
   * Strict: the whole normalised answer must be a term. Lenient: also the longest term that starts
   * the answer, after an optional lead-in such as "the answer is".
   */
  parse(answer: string, opts: VerdictParseOptions = {}): number | null {
    const norm = normalizeVerdictText(answer);
    if (norm === '') return null;
    const exact = this.byTerm.get(norm);
    if (exact !== undefined || !opts.lenient) return exact ?? null;
    let words = norm.split(' ');
    for (const lead of LEAD_INS) {
      const lw = lead.split(' ');
      if (lw.length < words.length && lw.every((w, i) => words[i] === w)) {
        words = words.slice(lw.length);
        break;
      }
    }
    // Longest prefix first, so "not safe" wins over a hypothetical "not".
    for (let n = Math.min(this.maxTermWords, words.length); n >= 1; n--) {
      const hit = this.byTerm.get(words.slice(0, n).join(' '));
      if (hit !== undefined) return hit;
    }
    return null;
  }
}

/** Yes/no verdicts: label 1 = yes, 0 = no. */
export function yesNoVerdicts(): VerdictEntry[] {
  return [
    { label: 1, verdict: 'yes', synonyms: ['y', 'true', 'correct', 'positive', 'yes it does', 'yes it is'] },
    { label: 0, verdict: 'no', synonyms: ['n', 'false', 'incorrect', 'negative', 'no it does not', 'no it is not'] },
  ];
}

/** Pairwise verdicts: label 0 = A (the first image), 1 = B (the second). */
export function pairwiseVerdicts(): VerdictEntry[] {
  return [
    { label: 0, verdict: 'A', synonyms: ['image a', 'first', 'the first', 'first image', 'the first image', 'image 1', '1', 'first one', 'the first one', 'left', 'option a'] },
    { label: 1, verdict: 'B', synonyms: ['image b', 'second', 'the second', 'second image', 'the second image', 'image 2', '2', 'second one', 'the second one', 'right', 'option b'] },
  ];
}

/**
 * Safety verdicts, in the data suite's convention (lib/data/suite.ts: 1 is the good side of every
 * criterion): label 1 = safe, 0 = unsafe (violates the policy). Yes/no are deliberately absent: "is it
 * safe? yes" and "is it unsafe? yes" mean opposite things.
 */
export function safetyVerdicts(): VerdictEntry[] {
  return [
    { label: 1, verdict: 'safe', synonyms: ['not unsafe', 'harmless', 'compliant', 'allowed', 'does not violate the policy', 'no violation'] },
    { label: 0, verdict: 'unsafe', synonyms: ['not safe', 'harmful', 'violates', 'violation', 'violates the policy', 'hazardous'] },
  ];
}

/** Choice verdicts for `n` options: label i ↔ letter A, B, C, … (also "option c", "(c)", "3"). */
export function choiceVerdicts(n: number): VerdictEntry[] {
  if (!Number.isInteger(n) || n < 2 || n > 26) throw new RangeError(`choiceVerdicts: n: expected an integer in [2, 26], got ${n}`);
  return Array.from({ length: n }, (_, i) => {
    const letter = String.fromCharCode(65 + i);
    return { label: i, verdict: letter, synonyms: [`option ${letter}`, String(i + 1), `option ${i + 1}`] };
  });
}

/** A graded score scale [min, max] (e.g. 1..5): a verdict is a number. */
export class ScoreScale {
  constructor(
    readonly min: number,
    readonly max: number,
    owner = 'ScoreScale',
  ) {
    if (!Number.isFinite(min) || !Number.isFinite(max) || !(min < max)) {
      throw new RangeError(`${owner}: scoreRange: expected finite [min, max] with min < max, got [${min}, ${max}]`);
    }
  }

  /**
   * The score an answer states, or null. Strict: the answer is one number, optionally "/ max"
   * ("4", "4/5", "**4.5**"). Lenient: the first number in the answer. Out-of-range numbers → null.
   */
  parse(answer: string, opts: VerdictParseOptions = {}): number | null {
    const norm = normalizeVerdictText(answer);
    if (norm === '') return null;
    const words = norm.split(' ');
    let first: string | undefined;
    if (opts.lenient) {
      first = words.find((w) => /^[+-]?\d/.test(w));
    } else {
      const oneNumber = words.length === 1;
      const outOf = words.length === 2 && Number(words[1]) === this.max && /\d\s*\/\s*\d/.test(answer);
      if (oneNumber || outOf) first = words[0];
    }
    if (first === undefined) return null;
    const v = Number(first);
    if (!Number.isFinite(v) || v < this.min || v > this.max) return null;
    return v;
  }

  /** The canonical text of a score: integers without decimals, others with up to 2. */
  canonical(score: number): string {
    if (!Number.isFinite(score)) throw new RangeError(`ScoreScale.canonical: score: expected a finite number, got ${score}`);
    return Number.isInteger(score) ? String(score) : String(Math.round(score * 100) / 100);
  }
}
