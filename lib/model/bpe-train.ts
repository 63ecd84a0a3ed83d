// Byte-level BPE training (the classic algorithm of Sennrich et al. as used by GPT-2 and HF
// tokenizers): count pre-tokenized words, start from the 256 byte tokens, and repeatedly merge the
// most frequent adjacent pair until the vocabulary is full or no pair is frequent enough.
// Deterministic: ties on frequency are broken by the smaller (left id, right id), and every container
// is iterated in insertion order. Pair counts are updated incrementally (only the words containing
// the merged pair are touched) with a lazy max-heap, so a few thousand merges over ~50k short strings
// take seconds. The result is a tokenizer.json object loaded through the same code as any file.
import { BYTE_TO_CHAR, gpt2PreTokenize, wtf8Encode } from './hf-tokenizer.js';
import { BpeTokenizer, DEFAULT_SPECIAL_TOKENS, PairTable, type TokenizerJSON } from './tokenizer.js';

export interface TrainBpeOptions {
  /** Total vocabulary size including special tokens and the 256 byte tokens. */
  vocabSize: number;
  /** Extra special tokens, appended after the defaults (<pad> <eos> <bos> <image> <think> </think> <answer> </answer>). */
  specialTokens?: readonly string[];
  /** A pair must occur at least this often (weighted by word frequency) to be merged (default 2). */
  minFrequency?: number;
}

/**
 * Pair statistics on typed arrays: each distinct adjacent pair (a, b) gets a dense index with its
 * ids, its current weighted count and the words it occurs in (a list that may hold stale entries).
 */
class PairStats {
  readonly index = new PairTable(1 << 14);
  a = new Int32Array(1 << 12);
  b = new Int32Array(1 << 12);
  count = new Float64Array(1 << 12);
  words: number[][] = [];
  n = 0;

  /** The index of (a, b), created with count 0 when new. */
  id(a: number, b: number): number {
    let p = this.index.get(a, b);
    if (p >= 0) return p;
    p = this.n++;
    if (p >= this.a.length) {
      const grow = <T extends Int32Array | Float64Array>(x: T): T => {
        const y = new (x.constructor as new (n: number) => T)(x.length * 2);
        y.set(x);
        return y;
      };
      this.a = grow(this.a);
      this.b = grow(this.b);
      this.count = grow(this.count);
    }
    this.a[p] = a;
    this.b[p] = b;
    this.count[p] = 0;
    this.words.push([]);
    this.index.set(a, b, p);
    return p;
  }
}

/**
 * Lazy max-heap of (count snapshot, pair index) on typed arrays. Order: higher count first, then
 * the smaller left id, then the smaller right id — a total order, so training is deterministic.
 */
class PairHeap {
  #count = new Float64Array(1 << 12);
  #pair = new Int32Array(1 << 12);
  size = 0;
  constructor(readonly stats: PairStats) {}

  #before(c1: number, p1: number, c2: number, p2: number): boolean {
    if (c1 !== c2) return c1 > c2;
    const { a, b } = this.stats;
    return a[p1] !== a[p2] ? a[p1]! < a[p2]! : b[p1]! < b[p2]!;
  }

  push(count: number, pair: number): void {
    if (this.size === this.#count.length) {
      const c = new Float64Array(this.size * 2);
      c.set(this.#count);
      const q = new Int32Array(this.size * 2);
      q.set(this.#pair);
      this.#count = c;
      this.#pair = q;
    }
    let i = this.size++;
    while (i > 0) {
      const par = (i - 1) >> 1;
      if (!this.#before(count, pair, this.#count[par]!, this.#pair[par]!)) break;
      this.#count[i] = this.#count[par]!;
      this.#pair[i] = this.#pair[par]!;
      i = par;
    }
    this.#count[i] = count;
    this.#pair[i] = pair;
  }

  /** Removes the top; returns its pair index (its count snapshot is in `topCount`), or -1 when empty. */
  topCount = 0;
  pop(): number {
    if (this.size === 0) return -1;
    const pair = this.#pair[0]!;
    this.topCount = this.#count[0]!;
    const n = --this.size;
    const lc = this.#count[n]!;
    const lp = this.#pair[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && this.#before(this.#count[l + 1]!, this.#pair[l + 1]!, this.#count[l]!, this.#pair[l]!) ? l + 1 : l;
      if (!this.#before(this.#count[c]!, this.#pair[c]!, lc, lp)) break;
      this.#count[i] = this.#count[c]!;
      this.#pair[i] = this.#pair[c]!;
      i = c;
    }
    this.#count[i] = lc;
    this.#pair[i] = lp;
    return pair;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * Trains a byte-level BPE tokenizer on `texts` and returns it as a tokenizer.json object
 * (use `trainBpe` for a ready Tokenizer). Special tokens get ids 0..S-1, bytes S..S+255, merges after.
 */
export function trainBpeJSON(texts: Iterable<string>, opts: TrainBpeOptions): TokenizerJSON {
  const fn = 'trainBpe';
  if (texts === null || typeof texts !== 'object' || typeof (texts as Iterable<string>)[Symbol.iterator] !== 'function')
    throw new TypeError(`${fn}: texts must be an iterable of strings`);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${fn}: options { vocabSize } are required`);
  const extra = opts.specialTokens ?? [];
  if (!Array.isArray(extra)) throw new TypeError(`${fn}: specialTokens must be an array of strings`);
  const specials: string[] = [];
  for (const s of [...DEFAULT_SPECIAL_TOKENS, ...extra]) {
    if (typeof s !== 'string' || s.length === 0) throw new TypeError(`${fn}: specialTokens entries must be non-empty strings, got ${JSON.stringify(s)}`);
    if (!specials.includes(s)) specials.push(s);
  }
  const { vocabSize } = opts;
  const minFrequency = opts.minFrequency ?? 2;
  if (typeof vocabSize !== 'number' || !Number.isInteger(vocabSize) || vocabSize < specials.length + 256)
    throw new RangeError(`${fn}: vocabSize must be an integer ≥ ${specials.length + 256} (${specials.length} special tokens + 256 bytes), got ${vocabSize}`);
  if (vocabSize > 1 << 20) throw new RangeError(`${fn}: vocabSize must be at most 2^20, got ${vocabSize}`);
  if (typeof minFrequency !== 'number' || !Number.isInteger(minFrequency) || minFrequency < 1)
    throw new RangeError(`${fn}: minFrequency must be an integer ≥ 1, got ${minFrequency}`);

  // 1. Word counts. Special tokens are cut out of the corpus first so no merge ever spans one.
  const specialRe = new RegExp(specials.map(escapeRegExp).sort((a, b) => b.length - a.length).join('|'), 'gu');
  const wordCounts = new Map<string, number>();
  let index = 0;
  for (const text of texts) {
    if (typeof text !== 'string') throw new TypeError(`${fn}: texts[${index}] must be a string, got ${text === null ? 'null' : typeof text}`);
    index++;
    for (const seg of text.split(specialRe)) {
      if (seg.length === 0) continue;
      for (const piece of gpt2PreTokenize(seg)) wordCounts.set(piece, (wordCounts.get(piece) ?? 0) + 1);
    }
  }

  // 2. Initial vocabulary: specials, then the 256 byte tokens (id = S + byte).
  const S = specials.length;
  const tokens: string[] = [...specials];
  for (let b = 0; b < 256; b++) tokens.push(BYTE_TO_CHAR[b]!);
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    // A special that looks like a byte token (e.g. "!") must not shadow it; BPE needs the byte id.
    if (i >= S || !idOf.has(t)) idOf.set(t, i);
  });

  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    const bytes = wtf8Encode(w);
    const syms = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) syms[i] = S + bytes[i]!;
    words.push(syms);
    freq.push(c);
  }

  // 3. Pair statistics over the words (weighted by word frequency).
  const stats = new PairStats();
  const wordLen = Int32Array.from(words, (w) => w.length);
  for (let w = 0; w < words.length; w++) {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const p = stats.id(s[i]!, s[i + 1]!);
      stats.count[p] = stats.count[p]! + freq[w]!;
      const list = stats.words[p]!;
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap(stats);
  for (let p = 0; p < stats.n; p++) heap.push(stats.count[p]!, p);

  // 4. Merge loop. Per merge only the words listed for the pair are touched: their old pairs are
  // subtracted and their new pairs added into a delta per pair index, then applied at once.
  const merges: [string, string][] = [];
  const stamp = new Int32Array(words.length).fill(-1);
  let delta = new Float64Array(stats.a.length);
  const touched: number[] = [];
  const addDelta = (x: number, y: number, f: number): number => {
    const p = stats.id(x, y);
    if (p >= delta.length) {
      const d = new Float64Array(stats.a.length);
      d.set(delta);
      delta = d;
    }
    if (delta[p] === 0) touched.push(p);
    delta[p] = delta[p]! + f;
    return p;
  };
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (top < 0) break;
    const current = stats.count[top]!;
    if (current !== heap.topCount) {
      // Stale. A lower current count was never pushed (decreases are lazy), so push it now; a higher
      // one already has its own entry.
      if (current > 0 && current < heap.topCount) heap.push(current, top);
      continue;
    }
    if (current < minFrequency) break;
    const a = stats.a[top]!;
    const b = stats.b[top]!;
    const merged = tokens[a]! + tokens[b]!;
    let newId = idOf.get(merged);
    if (newId === undefined || newId < S) {
      newId = tokens.length;
      tokens.push(merged);
      idOf.set(merged, newId);
    }
    merges.push([tokens[a]!, tokens[b]!]);

    const iteration = merges.length;
    for (const w of stats.words[top]!) {
      if (stamp[w] === iteration) continue;
      stamp[w] = iteration;
      const s = words[w]!;
      const len = wordLen[w]!;
      let found = false;
      for (let i = 0; i + 1 < len; i++)
        if (s[i] === a && s[i + 1] === b) {
          found = true;
          break;
        }
      if (!found) continue;
      const f = freq[w]!;
      for (let i = 0; i + 1 < len; i++) addDelta(s[i]!, s[i + 1]!, -f);
      // Merge in place (the write index never passes the read index).
      let n = 0;
      for (let i = 0; i < len; ) {
        if (i + 1 < len && s[i] === a && s[i + 1] === b) {
          s[n++] = newId;
          i += 2;
        } else s[n++] = s[i++]!;
      }
      wordLen[w] = n;
      for (let i = 0; i + 1 < n; i++) {
        const p = addDelta(s[i]!, s[i + 1]!, f);
        // Only pairs with the new token are new to this word; the others already list it.
        if (s[i] === newId || s[i + 1] === newId) {
          const list = stats.words[p]!;
          if (list[list.length - 1] !== w) list.push(w);
        }
      }
    }
    for (const p of touched) {
      const d = delta[p]!;
      delta[p] = 0;
      if (d === 0) continue;
      const c = Math.max(stats.count[p]! + d, 0);
      stats.count[p] = c;
      if (d > 0) heap.push(c, p);
    }
    touched.length = 0;
    stats.count[top] = 0;
    stats.words[top] = [];
  }

  const vocab: Record<string, number> = Object.fromEntries(tokens.map((t, i) => [t, i] as [string, number]).filter(([t, i]) => idOf.get(t) === i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([x, y]) => `${x} ${y}`),
    },
  };
}

/** Trains a byte-level BPE tokenizer (see trainBpeJSON) and returns it ready to use. */
export function trainBpe(texts: Iterable<string>, opts: TrainBpeOptions): BpeTokenizer {
  return new BpeTokenizer(trainBpeJSON(texts, opts), { source: '<trained>' });
}
