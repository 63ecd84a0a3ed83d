// Tokenizer: BPE training (determinism, vocabulary size, min frequency, word-internal merges),
// special tokens (ids, atomic matching, parseSpecial, skipSpecialTokens), exact round-trips of
// arbitrary strings (Unicode, emoji, lone surrogates, whitespace runs), encoding checked against an
// independent naive GPT-2 BPE reference, save/load, and bad-input errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainBpe, trainBpeJSON } from '../lib/model/bpe-train.js';
import { DEFAULT_SPECIAL_TOKENS, loadTokenizer, SPECIAL_ROLES, type Tokenizer, tokenizerFromJSON, type TokenizerJSON } from '../lib/model/tokenizer.js';
import { mulberry32 as rng } from '../lib/rng.js';

// ------------------------------------------------------------------ corpus and random strings


const SYLLABLES = ['ka', 'lo', 'mi', 'ter', 'sun', 'ab', 'ex', 'pho', 'to', 'im', 'age', 'ju', 'dge', 're', 'al', 'ness', 'safe', 'un', 'cat', 'dog', 'sky', 'blu', 'red', 'tion', 'ing', 'er', 'ly', 'é', 'ü'];
const JUDGE_WORDS = ['Is', 'this', 'image', 'natural', '?', 'Answer', 'yes', 'or', 'no', '.', 'The', 'photo', 'shows', 'a', 'safe', 'unsafe', 'scene', 'Which', 'is', 'better', ':', 'A', 'B', 'score', '1-5'];

function makeCorpus(n: number, seed: number): string[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const word = () => {
    if (r() < 0.5) return pick(JUDGE_WORDS);
    let w = '';
    const k = 1 + Math.floor(r() * 3);
    for (let i = 0; i < k; i++) w += pick(SYLLABLES);
    return r() < 0.1 ? w[0]!.toUpperCase() + w.slice(1) : w;
  };
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = 3 + Math.floor(r() * 12);
    const ws: string[] = [];
    for (let j = 0; j < k; j++) ws.push(r() < 0.05 ? String(Math.floor(r() * 1000)) : word());
    let s = ws.join(' ');
    if (r() < 0.3) s = `<think>${s}</think><answer>${pick(['yes', 'no', 'A', 'B'])}</answer>`;
    out.push(s);
  }
  return out;
}

const ODD_CHARS = ['\u0000', '\t', '\n', '\r\n', '\u00a0', '\u0085', '\u2003', '\u3000', '\ufeff', '\u200d', '\u0301', 'é', 'ß', 'Ω', 'ж', 'ش', '日', '本', '😀', '👍🏽', '🏳️‍🌈', '\ud800', '\udfff', '\udc00\ud800', '１', '²', 'Ⅻ', '٣', "'s", "'LL", '$', '<', '>', '/'];

function randomString(r: () => number, maxLen: number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  let s = '';
  const n = Math.floor(r() * maxLen);
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.3) s += pick(SYLLABLES);
    else if (x < 0.45) s += ' '.repeat(1 + Math.floor(r() * 3));
    else if (x < 0.65) s += pick(ODD_CHARS);
    else if (x < 0.7) s += pick(DEFAULT_SPECIAL_TOKENS);
    else if (x < 0.75) s += String.fromCodePoint(Math.floor(r() * 0x10ffff)); // any code point, lone surrogates included
    else if (x < 0.78) s += pick(SYLLABLES).repeat(10 + Math.floor(r() * 30)); // long words: the heap merge path
    else s += String.fromCharCode(32 + Math.floor(r() * 95));
  }
  return s;
}

// ------------------------------------------------------------------ independent reference

const WS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const REF_SPLIT = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, 'gu');

/** UTF-8 over code points (lone surrogates encoded like any other code point). */
function refBytes(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

function refByteChars(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const chars: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) chars[b] = bs.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return chars;
}

/** Naive GPT-2 `bpe()` (merge every occurrence of the best-ranked bigram per step) over the JSON. */
function referenceEncoder(json: TokenizerJSON): (text: string) => number[] {
  const ranks = new Map<string, number>();
  json.model.merges.forEach((m, i) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : m;
    const key = `${a}\u0000${b}`;
    if (!ranks.has(key)) ranks.set(key, i);
  });
  const vocab = new Map(Object.entries(json.model.vocab));
  const specials = json.added_tokens.map((t) => t.content);
  const chars = refByteChars();
  const bpe = (piece: string): number[] => {
    let word = refBytes(piece).map((b) => chars[b]!);
    while (word.length > 1) {
      let best: [string, string] | undefined;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = ranks.get(`${word[i]}\u0000${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = [word[i]!, word[i + 1]!];
        }
      }
      if (!best) break;
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i + 1 < word.length && word[i] === best[0] && word[i + 1] === best[1]) {
          next.push(best[0] + best[1]);
          i += 2;
        } else next.push(word[i++]!);
      }
      word = next;
    }
    return word.map((t) => vocab.get(t)!);
  };
  return (text: string) => {
    const out: number[] = [];
    let rest = text;
    while (rest.length > 0) {
      // Leftmost special occurrence, longest on ties.
      let at = -1;
      let sp = '';
      for (const s of specials) {
        const i = rest.indexOf(s);
        if (i >= 0 && (at < 0 || i < at || (i === at && s.length > sp.length))) {
          at = i;
          sp = s;
        }
      }
      const seg = at < 0 ? rest : rest.slice(0, at);
      for (const m of seg.matchAll(REF_SPLIT)) out.push(...bpe(m[0]));
      if (at < 0) break;
      out.push(json.added_tokens.find((t) => t.content === sp)!.id);
      rest = rest.slice(at + sp.length);
    }
    return out;
  };
}

// ------------------------------------------------------------------ tests

let corpus: string[];
let tok: Tokenizer;
let json: TokenizerJSON;
let tmp: string;

beforeAll(() => {
  corpus = makeCorpus(20_000, 1);
  json = trainBpeJSON(corpus, { vocabSize: 1200, specialTokens: ['<extra>'] });
  tok = tokenizerFromJSON(json);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mtrl-tok-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('trainBpe', () => {
  it('fills the requested vocabulary: specials, 256 bytes, then merges', () => {
    expect(tok.vocabSize).toBe(1200);
    expect(json.model.merges.length).toBeGreaterThanOrEqual(1200 - 9 - 256);
    expect(json.model.type).toBe('BPE');
    expect(json.pre_tokenizer).toMatchObject({ type: 'ByteLevel', use_regex: true });
    expect(json.decoder).toMatchObject({ type: 'ByteLevel' });
    // The bytes are ids 9..264 (after 8 default specials + <extra>), in byte order.
    expect(tok.idToToken(9 + 0x20)).toBe('Ġ');
    expect(tok.idToToken(9 + 0x41)).toBe('A');
  });

  it('is deterministic: same corpus and options give an identical tokenizer.json', () => {
    const again = trainBpeJSON(corpus, { vocabSize: 1200, specialTokens: ['<extra>'] });
    expect(JSON.stringify(again)).toBe(JSON.stringify(json));
  });

  it('compresses its corpus (tokens per byte well under 1)', () => {
    let bytes = 0;
    let tokens = 0;
    for (const s of corpus.slice(0, 2000)) {
      bytes += Buffer.byteLength(s);
      tokens += tok.encode(s).length;
    }
    const ratio = tokens / bytes;
    expect(ratio, `tokens/byte = ${ratio.toFixed(3)}`).toBeLessThan(0.4);
  });

  it('keeps merges inside pre-tokens: every learned token decodes to a single GPT-2 pre-token', () => {
    let checked = 0;
    for (let id = 0; id < tok.vocabSize; id++) {
      if (tok.isSpecial(id)) continue;
      const text = tok.decode([id]);
      if (text.includes('\ufffd')) continue; // a partial UTF-8 sequence: not text on its own
      const pieces = [...text.matchAll(REF_SPLIT)].map((m) => m[0]);
      expect(pieces, `token ${id} ${JSON.stringify(tok.idToToken(id))}`).toHaveLength(1);
      checked++;
    }
    expect(checked).toBeGreaterThan(800);
  });

  it('never learns a merge across a special token, and specials are never split', () => {
    for (const [content] of tok.specialTokens) {
      for (let id = 0; id < tok.vocabSize; id++) {
        if (tok.isSpecial(id)) continue;
        expect(tok.decode([id]).includes(content)).toBe(false);
      }
    }
  });

  it('respects minFrequency: a huge threshold learns nothing, and merges stop at rare pairs', () => {
    const none = trainBpeJSON(corpus.slice(0, 500), { vocabSize: 2000, minFrequency: 1e9 });
    expect(none.model.merges).toHaveLength(0);
    expect(Object.keys(none.model.vocab)).toHaveLength(8 + 256);
    // Two words seen once each: with minFrequency 2 no merge is possible, with 1 they are learned.
    expect(trainBpeJSON(['xq', 'zw'], { vocabSize: 400, minFrequency: 2 }).model.merges).toHaveLength(0);
    expect(trainBpeJSON(['xq', 'zw'], { vocabSize: 400, minFrequency: 1 }).model.merges).toEqual(['x q', 'z w']);
  });

  it('breaks frequency ties by the smaller pair of ids', () => {
    // "ab" and "cd" are equally frequent; 'a' < 'c' so "a b" comes first, whatever the corpus order.
    const m1 = trainBpeJSON(['cd', 'ab', 'cd', 'ab'], { vocabSize: 300 }).model.merges;
    const m2 = trainBpeJSON(['ab', 'cd', 'ab', 'cd'], { vocabSize: 300 }).model.merges;
    expect(m1).toEqual(['a b', 'c d']);
    expect(m2).toEqual(m1);
  });

  it('rejects bad options with errors naming the argument', () => {
    expect(() => trainBpeJSON(corpus, { vocabSize: 100 })).toThrow(/trainBpe: vocabSize must be an integer ≥ 264/);
    expect(() => trainBpeJSON(corpus, { vocabSize: 1000.5 })).toThrow(RangeError);
    expect(() => trainBpeJSON(corpus, { vocabSize: 1000, minFrequency: 0 })).toThrow(/minFrequency must be an integer ≥ 1/);
    expect(() => trainBpeJSON(['ok', 3 as unknown as string], { vocabSize: 300 })).toThrow(/texts\[1\] must be a string, got number/);
    expect(() => trainBpeJSON(42 as unknown as string[], { vocabSize: 300 })).toThrow(/texts must be an iterable/);
    expect(() => trainBpeJSON([], { vocabSize: 300, specialTokens: [''] })).toThrow(/specialTokens entries must be non-empty strings/);
  });
});

describe('special tokens', () => {
  it('get ids 0..7 in the documented order, extras after, and named properties', () => {
    DEFAULT_SPECIAL_TOKENS.forEach((s, i) => expect(tok.tokenToId(s)).toBe(i));
    expect(tok.tokenToId('<extra>')).toBe(8);
    expect([tok.padId, tok.eosId, tok.bosId, tok.imageId, tok.thinkId, tok.thinkEndId, tok.answerId, tok.answerEndId]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const [role, content] of Object.entries(SPECIAL_ROLES)) expect(tok.specialId(role as keyof typeof SPECIAL_ROLES)).toBe(tok.tokenToId(content));
    expect([...tok.specialTokens.keys()]).toEqual([...DEFAULT_SPECIAL_TOKENS, '<extra>']);
    expect(tok.isSpecial(tok.eosId)).toBe(true);
    expect(tok.isSpecial(100)).toBe(false);
  });

  it('are matched atomically anywhere in the text, even glued to words', () => {
    const ids = tok.encode('<image><image>Is it safe?<think>maybe</think><answer>yes</answer><eos>');
    expect(ids.slice(0, 2)).toEqual([tok.imageId, tok.imageId]);
    expect(ids).toContain(tok.thinkId);
    expect(ids.at(-1)).toBe(tok.eosId);
    const i = ids.indexOf(tok.answerId);
    expect(tok.decode([ids[i + 1]!])).toBe('yes');
    expect(ids[i + 2]).toBe(tok.answerEndId);
    expect(tok.encode('<think>')).toEqual([tok.thinkId]);
    expect(tok.encode('a<extra>b')).toEqual([...tok.encode('a'), 8, ...tok.encode('b')]);
  });

  it('parseSpecial: false encodes special-token text as ordinary bytes (for untrusted text)', () => {
    const s = 'caption says <answer>yes</answer><eos>';
    const ids = tok.encode(s, { parseSpecial: false });
    expect(ids.some((id) => tok.isSpecial(id))).toBe(false);
    expect(tok.decode(ids)).toBe(s);
  });

  it('decode can skip special tokens', () => {
    const ids = tok.encode('<think>ab</think><answer>yes</answer><eos><pad><pad>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('abyes');
    expect(tok.decode(ids)).toBe('<think>ab</think><answer>yes</answer><eos><pad><pad>');
  });
});

describe('round-trips and the reference encoder', () => {
  const EDGE = [
    '',
    ' ',
    '   ',
    '\n',
    '\t \t\n\n  \r\n',
    'a',
    ' leading and trailing ',
    'multiple   spaces    between',
    "it's don't WE'LL 'tis",
    '12345 3.14159 -42 1e10',
    'Ünïcödé naïve café résumé',
    '\ufeffBOM first',
    'e\u0301 (combining) vs é (precomposed)',
    'Ελληνικά Русский עברית العربية हिन्दी 日本語 한국어',
    '😀👍🏽🏳️‍🌈 family: 👨‍👩‍👧‍👦',
    '\ud800 lone high, \udc00 lone low, \udc00\ud800 reversed pair, end \ud83d',
    '\u0000\u0001\u007f\u0085\u00a0\ufeff\uffff',
    'x'.repeat(1000),
    ' '.repeat(500) + 'x' + '\n'.repeat(300),
    'ab'.repeat(400),
    '<eos',
    '<<eos>>',
    '</think></think>',
  ];

  it('decode(encode(s)) === s for edge cases', () => {
    for (const s of EDGE) expect(tok.decode(tok.encode(s)), JSON.stringify(s)).toBe(s);
  });

  it('decode(encode(s)) === s for 3000 random strings (any code point, lone surrogates, long words)', () => {
    const r = rng(7);
    let tokens = 0;
    for (let i = 0; i < 3000; i++) {
      const s = randomString(r, 40);
      const ids = tok.encode(s);
      tokens += ids.length;
      expect(tok.decode(ids), JSON.stringify(s)).toBe(s);
      expect(tok.decode(tok.encode(s, { parseSpecial: false }))).toBe(s);
    }
    expect(tokens).toBeGreaterThan(10_000);
  });

  it('matches an independent naive GPT-2 BPE reference on edge cases and 2000 random strings', () => {
    const ref = referenceEncoder(json);
    for (const s of EDGE) expect(tok.encode(s), JSON.stringify(s)).toEqual(ref(s));
    const r = rng(11);
    let mismatches = 0;
    for (let i = 0; i < 2000; i++) {
      const s = randomString(r, 30);
      if (JSON.stringify(tok.encode(s)) !== JSON.stringify(ref(s))) mismatches++;
    }
    expect(mismatches, 'strings whose ids differ from the reference').toBe(0);
  });

  it('is stable across calls (the per-word cache returns the same ids)', () => {
    const s = corpus.slice(0, 50).join(' ');
    expect(tok.encode(s)).toEqual(tok.encode(s));
  });

  it('decodes arbitrary id sequences without throwing (ill-formed bytes become U+FFFD)', () => {
    const r = rng(3);
    for (let i = 0; i < 500; i++) {
      const ids = Array.from({ length: Math.floor(r() * 10) }, () => Math.floor(r() * tok.vocabSize));
      expect(typeof tok.decode(ids)).toBe('string');
    }
    const lead = tok.tokenToId('Ã')!; // byte 0xC3 alone: a truncated 2-byte sequence
    expect(tok.decode([lead])).toBe('\ufffd');
    expect(tok.decode(new Int32Array([tok.tokenToId('a')!, lead, tok.tokenToId('b')!]))).toBe('a\ufffdb');
  });
});

describe('save / load', () => {
  it('save → loadTokenizer gives the same tokenizer (JSON and encodings)', () => {
    const file = path.join(tmp, 'tokenizer.json');
    tok.save(file);
    const loaded = loadTokenizer(file);
    expect(loaded.toJSON()).toEqual(tok.toJSON());
    expect(loaded.vocabSize).toBe(tok.vocabSize);
    const r = rng(5);
    for (let i = 0; i < 300; i++) {
      const s = randomString(r, 30);
      expect(loaded.encode(s)).toEqual(tok.encode(s));
    }
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes the Hugging Face tokenizer.json layout', () => {
    const j = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer.json'), 'utf8'));
    expect(Object.keys(j)).toEqual(['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model']);
    expect(j.added_tokens[1]).toEqual({ id: 1, content: '<eos>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    expect(j.model.vocab['<eos>']).toBe(1);
    expect(j.model.vocab['Ġ']).toBe(9 + 32);
    expect(typeof j.model.merges[0]).toBe('string');
  });

  it('a trained tokenizer is usable directly (trainBpe)', () => {
    const t = trainBpe(['hello world', 'hello there', 'world hello'], { vocabSize: 280 });
    expect(t.decode(t.encode('hello world!'))).toBe('hello world!');
    expect(t.encode('hello')).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('encode/decode name the argument and what was expected', () => {
    expect(() => tok.encode(42 as unknown as string)).toThrow(/encode: text must be a string, got number/);
    expect(() => tok.encode(undefined as unknown as string)).toThrow(TypeError);
    expect(() => tok.decode([1, -1])).toThrow(/decode: ids\[1\] = -1 is not a token id \(expected an integer in 0\.\.1199\)/);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
    expect(() => tok.decode([1200])).toThrow(RangeError);
    expect(() => tok.decode([NaN])).toThrow(RangeError);
    expect(() => tok.decode('abc' as unknown as number[])).toThrow(/decode: ids must be an array/);
    expect(() => tok.decode(null as unknown as number[])).toThrow(TypeError);
  });

  it('loadTokenizer reports unreadable, non-JSON and unsupported files with the path', () => {
    expect(() => loadTokenizer(path.join(tmp, 'nope.json'))).toThrow(/loadTokenizer: cannot read '.*nope\.json'/);
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{ not json');
    expect(() => loadTokenizer(bad)).toThrow(/'.*bad\.json' is not valid JSON/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, model: { ...json.model, type: 'WordPiece' } }));
    expect(() => loadTokenizer(bad)).toThrow(/bad\.json': unsupported model type 'WordPiece'/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, pre_tokenizer: { type: 'Metaspace', replacement: '▁' } }));
    expect(() => loadTokenizer(bad)).toThrow(/unsupported pre-tokenizer type 'Metaspace'/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, pre_tokenizer: null }));
    expect(() => loadTokenizer(bad)).toThrow(/only byte-level BPE tokenizers are supported/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, model: { ...json.model, merges: ['Ġ zzz'] } }));
    expect(() => loadTokenizer(bad)).toThrow(/model\.merges\[0\] "Ġ zzz": zzz is not in the vocabulary/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, model: { ...json.model, merges: ['a b c'] } }));
    expect(() => loadTokenizer(bad)).toThrow(/must name exactly two tokens/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, model: { ...json.model, vocab: { a: 0, b: 0 } } }));
    expect(() => loadTokenizer(bad)).toThrow(/id 0 is used by both "a" and "b"/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, model: { ...json.model, vocab: { a: -3 } } }));
    expect(() => loadTokenizer(bad)).toThrow(/model\.vocab\["a"\] must be a non-negative integer id, got -3/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, model: { ...json.model, end_of_word_suffix: '</w>' } }));
    expect(() => loadTokenizer(bad)).toThrow(/end_of_word_suffix "<\/w>" is not supported/);
    fs.writeFileSync(bad, JSON.stringify({ ...json, normalizer: { type: 'BertNormalizer' } }));
    expect(() => loadTokenizer(bad)).toThrow(/unsupported normalizer type 'BertNormalizer'/);
    fs.writeFileSync(bad, JSON.stringify([1, 2]));
    expect(() => loadTokenizer(bad)).toThrow(/tokenizer\.json must be an object, got an array/);
    expect(() => loadTokenizer('')).toThrow(/loadTokenizer: path must be a non-empty string/);
  });

  it('a missing role throws on access with a hint, and roles / addSpecialTokens fix it', () => {
    const plain = { ...json, added_tokens: json.added_tokens.filter((t) => t.content !== '<image>') };
    const vocab = { ...json.model.vocab };
    delete vocab['<image>'];
    const t = tokenizerFromJSON({ ...plain, model: { ...json.model, vocab } }, { source: 'no-image.json' });
    expect(t.specialId('image')).toBeUndefined();
    expect(() => t.imageId).toThrow(/tokenizer 'no-image\.json' has no image token \(looked for "<image>".*pass \{ roles: \{ image: '<token>' \} \}/);
    const added = tokenizerFromJSON({ ...plain, model: { ...json.model, vocab } }, { addSpecialTokens: ['<image>'] });
    expect(added.imageId).toBe(1200 - 1 + 1); // appended after the largest id
    expect(added.encode('<image>')).toEqual([added.imageId]);
    const roled = tokenizerFromJSON(json, { roles: { eos: '<extra>' } });
    expect(roled.eosId).toBe(8);
    expect(() => tokenizerFromJSON(json, { roles: { eos: '<nope>' } })).toThrow(/roles\.eos token "<nope>" is not in the vocabulary/);
  });
});
