// Byte-level BPE training (the classic algorithm of Sennrich et al. as used by GPT-2 and HF
// tokenizers): count pre-tokenized words, start from the 256 byte tokens, and repeatedly merge the
// most frequent adjacent pair until the vocabulary is full or no pair is frequent enough.
// Deterministic: ties on frequency are broken by the smaller (left id, right id), and every container
// is iterated in insertion order. Pair counts are updated incrementally (only the words containing
// the merged pair are touched) with a lazy max-heap, so a few thousand merges over ~50k short strings
// take seconds. The result is a tokenizer.json object loaded through the same code as any file.
import { BYTE_TO_CHAR, gpt2PreTokenize, wtf8Encode } from './hf-tokenizer.js';
import { BpeTokenizer, DEFAULT_SPECIAL_TOKENS, type TokenizerJSON } from './tokenizer.js';

export interface TrainBpeOptions {
  /** Total vocabulary size including special tokens and the 256 byte tokens. */
  vocabSize: number;
  /** Extra special tokens, appended after the defaults (<pad> <eos> <bos> <image> <think> </think> <answer> </answer>). */
  specialTokens?: readonly string[];
  /** A pair must occur at least this often (weighted by word frequency) to be merged (default 2). */
  minFrequency?: number;
}

/** Max-heap entry: pair (a, b) with its count at the time it was pushed. */
interface HeapEntry {
  count: number;
  a: number;
  b: number;
}

/** Higher count first; on ties the smaller left id, then the smaller right id (deterministic). */
function before(x: HeapEntry, y: HeapEntry): boolean {
  return x.count !== y.count ? x.count > y.count : x.a !== y.a ? x.a < y.a : x.b < y.b;
}

class PairHeap {
  readonly items: HeapEntry[] = [];
  push(e: HeapEntry): void {
    const h = this.items;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }
  pop(): HeapEntry | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && before(h[l + 1]!, h[l]!) ? l + 1 : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
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

  // 3. Pair statistics: count and the words each pair occurs in (lists may hold stale/duplicate entries).
  const K = 1 << 20;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i]! * K + s[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + freq[w]!);
      let list = pairWords.get(key);
      if (!list) pairWords.set(key, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCount) heap.push({ count, a: Math.floor(key / K), b: key % K });

  // 4. Merge loop.
  const merges: [string, string][] = [];
  const stamp = new Int32Array(words.length).fill(-1);
  const delta = new Map<number, number>();
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const key = top.a * K + top.b;
    const current = pairCount.get(key) ?? 0;
    if (current !== top.count) {
      // Stale. A lower current count was never pushed (decreases are lazy), so push it now; a higher
      // one already has its own entry.
      if (current > 0 && current < top.count) heap.push({ count: current, a: top.a, b: top.b });
      continue;
    }
    if (current < minFrequency) break;
    const { a, b } = top;
    const merged = tokens[a]! + tokens[b]!;
    let newId = idOf.get(merged);
    if (newId === undefined || newId < S) {
      newId = tokens.length;
      tokens.push(merged);
      idOf.set(merged, newId);
    }
    merges.push([tokens[a]!, tokens[b]!]);

    delta.clear();
    const add = (x: number, y: number, f: number) => {
      const k = x * K + y;
      delta.set(k, (delta.get(k) ?? 0) + f);
    };
    const iteration = merges.length;
    for (const w of pairWords.get(key) ?? []) {
      if (stamp[w] === iteration) continue;
      stamp[w] = iteration;
      const s = words[w]!;
      let found = false;
      for (let i = 0; i + 1 < s.length; i++)
        if (s[i] === a && s[i + 1] === b) {
          found = true;
          break;
        }
      if (!found) continue;
      const f = freq[w]!;
      for (let i = 0; i + 1 < s.length; i++) add(s[i]!, s[i + 1]!, -f);
      const out: number[] = [];
      for (let i = 0; i < s.length; ) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(newId);
          i += 2;
        } else out.push(s[i++]!);
      }
      const ns = Int32Array.from(out);
      words[w] = ns;
      for (let i = 0; i + 1 < ns.length; i++) {
        add(ns[i]!, ns[i + 1]!, f);
        // Only pairs with the new token are new to this word; the others already list it.
        if (ns[i] === newId || ns[i + 1] === newId) {
          const k = ns[i]! * K + ns[i + 1]!;
          let list = pairWords.get(k);
          if (!list) pairWords.set(k, (list = []));
          if (list[list.length - 1] !== w) list.push(w);
        }
      }
    }
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const c = (pairCount.get(k) ?? 0) + d;
      if (c <= 0) pairCount.delete(k);
      else pairCount.set(k, c);
      if (d > 0) heap.push({ count: c, a: Math.floor(k / K), b: k % K });
    }
    pairCount.delete(key);
    pairWords.delete(key);
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
