// The judge's tokenizer: byte-level BPE (GPT-2 family) behind one `Tokenizer` interface, stored in
// the Hugging Face `tokenizer.json` layout so that our trained tokenizers and real models' files
// (GPT-2, Llama-3, Qwen2 style) load through the same code. Text is split on added/special tokens
// first (matched atomically, never split), each remaining segment is normalized, pre-tokenized
// (GPT-2 regex: merges stay inside words) and every pre-token is BPE-merged from its bytes. Bytes are
// WTF-8, so encode → decode returns every JS string exactly, lone surrogates included.
// Training lives in bpe-train.ts, the tokenizer.json pipeline pieces in hf-tokenizer.ts, the file
// layout in docs/formats.md.
import { readRegularFileSync, writeFileAtomicSync } from './atomic-file.js';
import { byteOfChar, buildNormalizer, buildPreTokenizer, BYTE_TO_CHAR, bytesToByteLevel, checkDecoder, type Normalizer, type PreTokenizerStep, wtf8Decode, wtf8Encode, wtf8EncodeInto } from './hf-tokenizer.js';

/** Largest token id a tokenizer file may use (2^22 − 1, config.vocabSize's bound): a sparse id of 1e9
 * would otherwise make a billion-row vocabulary. */
export const MAX_TOKEN_ID = (1 << 22) - 1;

/** Special-token roles the judge relies on, with our token for each. */
export const SPECIAL_ROLES = {
  pad: '<pad>',
  eos: '<eos>',
  bos: '<bos>',
  image: '<image>',
  think: '<think>',
  thinkEnd: '</think>',
  answer: '<answer>',
  answerEnd: '</answer>',
} as const;
export type SpecialRole = keyof typeof SPECIAL_ROLES;

/** Our special tokens, in id order (a trained tokenizer gives them ids 0..7). */
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = Object.values(SPECIAL_ROLES);

/** Tokens a role resolves to when a file does not use ours, tried in order (override with `roles`). */
const ROLE_ALIASES: Record<SpecialRole, readonly string[]> = {
  pad: ['<pad>', '<|pad|>', '[PAD]', '<|endoftext|>'],
  eos: ['<eos>', '<|endoftext|>', '<|end_of_text|>', '</s>'],
  bos: ['<bos>', '<|begin_of_text|>', '<s>', '<|endoftext|>'],
  image: ['<image>', '<|image|>', '<|image_pad|>'],
  think: ['<think>'],
  thinkEnd: ['</think>'],
  answer: ['<answer>'],
  answerEnd: ['</answer>'],
};

export interface EncodeOptions {
  /** Match added/special tokens in the text (default true). False encodes e.g. "<eos>" as plain bytes,
   *  which is what untrusted text (an image caption, a user prompt) should get. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens from the output (default false, so decode(encode(s)) === s). */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** One past the largest id (model vocabulary and added tokens together). */
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly bosId: number;
  readonly imageId: number;
  readonly thinkId: number;
  readonly thinkEndId: number;
  readonly answerId: number;
  readonly answerEndId: number;
  /** The id of a role's token, or undefined when the tokenizer has none (the getters above throw). */
  specialId(role: SpecialRole): number | undefined;
  /** Every added token marked special: content → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  isSpecial(id: number): boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** Vocabulary form (byte-level, e.g. "Ġthe") or added-token content → id. */
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** The tokenizer.json object (Hugging Face layout). */
  toJSON(): TokenizerJSON;
  /** Writes tokenizer.json atomically. */
  save(path: string): void;
}

export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The subset of tokenizer.json we read and write (other top-level keys are ignored). */
export interface TokenizerJSON {
  version: string;
  truncation: unknown;
  padding: unknown;
  added_tokens: AddedToken[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: 'BPE';
    dropout: number | null;
    unk_token: string | null;
    continuing_subword_prefix: string | null;
    end_of_word_suffix: string | null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
  };
}

export interface TokenizerLoadOptions {
  /** Names the source in error messages (loadTokenizer passes the path). */
  source?: string;
  /** Role → token content, for files whose special tokens have other names (e.g. { eos: '<|im_end|>' }). */
  roles?: Partial<Record<SpecialRole, string>>;
  /** Special tokens to add when absent (new ids after the current vocabulary), e.g. our `<image>` for an HF tokenizer. */
  addSpecialTokens?: readonly string[];
}

/** Pieces longer than this are encoded without caching (a 1 MB run of spaces must not pin memory). */
const CACHE_MAX_PIECE = 256;
const CACHE_MAX_ENTRIES = 200_000;
/** Words up to this many symbols use the O(n²) scan; longer ones the heap (O(n log n)). */
const SHORT_WORD = 24;

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  return x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x;
}

const WORD_CHAR = /[\p{L}\p{N}_]/u;
const WS_CHAR = /\s/u;

/**
 * Open-addressing hash map from a pair of non-negative int32 ids to an int32 value, on typed arrays.
 * BPE spends its time looking up (left, right) pairs; a Map with numeric keys past the small-integer
 * range hashes heap numbers and allocates, this does neither. Also used by the trainer.
 */
export class PairTable {
  #a: Int32Array;
  #b: Int32Array;
  #v: Int32Array;
  #mask: number;
  size = 0;

  constructor(expected = 8) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.#a = new Int32Array(cap).fill(-1);
    this.#b = new Int32Array(cap);
    this.#v = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  #slot(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    let i = h & this.#mask;
    const ka = this.#a;
    for (;;) {
      const x = ka[i]!;
      if (x === -1 || (x === a && this.#b[i] === b)) return i;
      i = (i + 1) & this.#mask;
    }
  }

  /** The value stored for (a, b), or -1. */
  get(a: number, b: number): number {
    const i = this.#slot(a, b);
    return this.#a[i] === -1 ? -1 : this.#v[i]!;
  }

  set(a: number, b: number, value: number): void {
    let i = this.#slot(a, b);
    if (this.#a[i] === -1) {
      if ((this.size + 1) * 2 > this.#a.length) {
        this.#grow();
        i = this.#slot(a, b);
      }
      this.#a[i] = a;
      this.#b[i] = b;
      this.size++;
    }
    this.#v[i] = value;
  }

  #grow(): void {
    const [oa, ob, ov] = [this.#a, this.#b, this.#v];
    this.#a = new Int32Array(oa.length * 2).fill(-1);
    this.#b = new Int32Array(oa.length * 2);
    this.#v = new Int32Array(oa.length * 2);
    this.#mask = oa.length * 2 - 1;
    for (let i = 0; i < oa.length; i++) {
      if (oa[i] === -1) continue;
      const j = this.#slot(oa[i]!, ob[i]!);
      this.#a[j] = oa[i]!;
      this.#b[j] = ob[i]!;
      this.#v[j] = ov[i]!;
    }
  }
}

/** Grows a scratch buffer to hold at least n elements. */
function ensure<T extends Int32Array | Uint8Array>(buf: T, n: number, make: (n: number) => T): T {
  return buf.length >= n ? buf : make(Math.max(n, buf.length * 2));
}

/** A byte-level BPE tokenizer built from a tokenizer.json object. */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly #source: string;
  readonly #vocab: Map<string, number>;
  readonly #idToTok: (string | undefined)[];
  readonly #merges: [string, string][];
  /** (left id, right id) → merge rank; the merged token id is #mergeResult[rank]. */
  readonly #mergeRank = new PairTable();
  readonly #mergeResult: Int32Array;
  /** Scratch buffers for one word (grown on demand): WTF-8 bytes and symbol ids. */
  #bytes = new Uint8Array(256);
  #syms = new Int32Array(256);
  readonly #byteIds = new Int32Array(256).fill(-1);
  readonly #added: AddedToken[];
  readonly #addedById = new Map<number, AddedToken>();
  readonly #addedByContent = new Map<string, AddedToken>();
  readonly #addedRe: RegExp | null;
  readonly #normalizer: Normalizer | null;
  readonly #preTokenize: PreTokenizerStep;
  readonly #ignoreMerges: boolean;
  readonly #unkId: number | undefined;
  readonly #roles = new Map<SpecialRole, number>();
  readonly #roleCandidates: Record<SpecialRole, readonly string[]>;
  readonly #cache = new Map<string, readonly number[]>();
  readonly #tokenBytes: (Uint8Array | undefined)[] = [];
  readonly #raw: Record<string, unknown>;

  /** Builds from a parsed tokenizer.json (ours or Hugging Face's); every field is validated. */
  constructor(json: unknown, opts: TokenizerLoadOptions = {}) {
    const src = (this.#source = opts.source ?? '<tokenizer.json>');
    const fail = (msg: string): never => {
      throw new TypeError(`tokenizer '${src}': ${msg}`);
    };
    if (!isObj(json)) fail(`tokenizer.json must be an object, got ${describe(json)}`);
    const j = json as Record<string, unknown>;
    const model = j.model;
    if (!isObj(model)) fail(`model must be an object, got ${describe(model)}`);
    const m = model as Record<string, unknown>;
    if (m.type !== undefined && m.type !== 'BPE') fail(`unsupported model type '${String(m.type)}' (only byte-level BPE is supported)`);
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const)
      if (m[k] !== undefined && m[k] !== null && m[k] !== '') fail(`model.${k} ${JSON.stringify(m[k])} is not supported (byte-level BPE has none)`);

    // Vocabulary.
    if (!isObj(m.vocab)) fail(`model.vocab must be an object mapping tokens to ids`);
    this.#vocab = new Map();
    this.#idToTok = [];
    let maxId = -1;
    for (const [tok, id] of Object.entries(m.vocab as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) fail(`model.vocab[${JSON.stringify(tok)}] must be a non-negative integer id, got ${JSON.stringify(id)}`);
      if ((id as number) > MAX_TOKEN_ID) fail(`model.vocab[${JSON.stringify(tok)}] has id ${id}, above the largest supported id ${MAX_TOKEN_ID}`);
      const i = id as number;
      if (this.#idToTok[i] !== undefined) fail(`model.vocab: id ${i} is used by both ${JSON.stringify(this.#idToTok[i])} and ${JSON.stringify(tok)}`);
      this.#vocab.set(tok, i);
      this.#idToTok[i] = tok;
      if (i > maxId) maxId = i;
    }

    // Added tokens (ours: the specials; HF files: specials and sometimes plain added tokens).
    const addedRaw = j.added_tokens ?? [];
    if (!Array.isArray(addedRaw)) fail(`added_tokens must be an array`);
    this.#added = [];
    (addedRaw as unknown[]).forEach((a, i) => {
      if (!isObj(a)) fail(`added_tokens[${i}] must be an object`);
      const t = a as Record<string, unknown>;
      if (typeof t.id !== 'number' || !Number.isSafeInteger(t.id) || t.id < 0) fail(`added_tokens[${i}].id must be a non-negative integer`);
      if (typeof t.content !== 'string' || t.content.length === 0) fail(`added_tokens[${i}].content must be a non-empty string`);
      if ((t.id as number) > MAX_TOKEN_ID) fail(`added_tokens[${i}].id ${t.id} is above the largest supported id ${MAX_TOKEN_ID}`);
      // An added token may repeat its own vocabulary entry (ours and GPT-2's specials do), but must not
      // take over the id of a different token (a byte token, say): that id would decode two ways.
      const owner = this.#idToTok[t.id as number];
      if (owner !== undefined && owner !== t.content && owner !== bytesToByteLevel(wtf8Encode(t.content as string)))
        fail(`added_tokens[${i}] ${JSON.stringify(t.content)} reuses id ${t.id}, which the vocabulary gives to ${JSON.stringify(owner)}`);
      this.#addAdded({
        id: t.id as number,
        content: t.content as string,
        single_word: t.single_word === true,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
        normalized: t.normalized === true,
        special: t.special === true,
      }, fail);
      maxId = Math.max(maxId, t.id as number);
    });
    for (const content of opts.addSpecialTokens ?? []) {
      if (typeof content !== 'string' || content.length === 0) throw new TypeError(`tokenizer '${src}': addSpecialTokens entries must be non-empty strings`);
      if (this.#addedByContent.has(content)) continue;
      const inVocab = this.#vocab.get(content);
      const id = inVocab ?? ++maxId;
      this.#addAdded({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }, fail);
    }
    this.vocabSize = maxId + 1;
    this.specialTokens = new Map(this.#added.filter((t) => t.special).map((t) => [t.content, t.id]));
    // Longest first: JS alternation is leftmost-first, this makes it leftmost-longest like HF.
    const contents = [...this.#addedByContent.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.#addedRe = contents.length > 0 ? new RegExp(contents.map((c) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')).join('|'), 'gu') : null;

    // Byte alphabet: the id of each single-byte token.
    for (let b = 0; b < 256; b++) this.#byteIds[b] = this.#vocab.get(BYTE_TO_CHAR[b]!) ?? -1;
    const unk = m.unk_token;
    if (unk !== undefined && unk !== null) {
      if (typeof unk !== 'string') fail(`model.unk_token must be a string or null`);
      this.#unkId = this.#vocab.get(unk as string);
      if (this.#unkId === undefined) fail(`model.unk_token ${JSON.stringify(unk)} is not in the vocabulary`);
    }
    this.#ignoreMerges = m.ignore_merges === true;

    // Merges: "a b" strings (classic) or [a, b] pairs (tokenizers ≥ 0.20).
    const mergesRaw = m.merges ?? [];
    if (!Array.isArray(mergesRaw)) fail(`model.merges must be an array`);
    if ((mergesRaw as unknown[]).length >= 2 ** 21) fail(`model.merges has ${(mergesRaw as unknown[]).length} entries (at most 2^21 supported)`);
    this.#merges = [];
    this.#mergeResult = new Int32Array((mergesRaw as unknown[]).length);
    (mergesRaw as unknown[]).forEach((mg, rank) => {
      let pair: string[];
      if (typeof mg === 'string') pair = mg.split(' ');
      else if (Array.isArray(mg)) pair = mg as string[];
      else return fail(`model.merges[${rank}] must be "a b" or ["a", "b"]`);
      if (pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') fail(`model.merges[${rank}] must name exactly two tokens, got ${JSON.stringify(mg)}`);
      const [a, b] = pair as [string, string];
      const ia = this.#vocab.get(a);
      const ib = this.#vocab.get(b);
      const ir = this.#vocab.get(a + b);
      if (ia === undefined || ib === undefined) fail(`model.merges[${rank}] ${JSON.stringify(mg)}: ${ia === undefined ? a : b} is not in the vocabulary`);
      if (ir === undefined) fail(`model.merges[${rank}] ${JSON.stringify(mg)}: merged token ${JSON.stringify(a + b)} is not in the vocabulary`);
      // A repeated pair keeps its first (highest-priority) rank, as in HF.
      if (this.#mergeRank.get(ia!, ib!) < 0) this.#mergeRank.set(ia!, ib!, rank);
      this.#mergeResult[rank] = ir!;
      this.#merges.push([a, b]);
    });

    // Pipeline.
    this.#normalizer = buildNormalizer(j.normalizer);
    const pre = buildPreTokenizer(j.pre_tokenizer);
    if (!pre.byteLevel) fail(`only byte-level BPE tokenizers are supported (pre_tokenizer has no ByteLevel step)`);
    this.#preTokenize = pre.step;
    checkDecoder(j.decoder);
    this.#raw = {
      truncation: j.truncation ?? null,
      padding: j.padding ?? null,
      normalizer: j.normalizer ?? null,
      pre_tokenizer: j.pre_tokenizer,
      post_processor: j.post_processor ?? null,
      decoder: j.decoder ?? null,
      dropout: typeof m.dropout === 'number' ? m.dropout : null,
      unk_token: typeof unk === 'string' ? unk : null,
      fuse_unk: m.fuse_unk === true,
      byte_fallback: m.byte_fallback === true,
    };

    // Roles.
    const given = opts.roles ?? {};
    this.#roleCandidates = { ...ROLE_ALIASES };
    for (const role of Object.keys(SPECIAL_ROLES) as SpecialRole[]) {
      const want = given[role];
      if (want !== undefined) {
        const id = this.tokenToId(want);
        if (id === undefined) throw new RangeError(`tokenizer '${src}': roles.${role} token ${JSON.stringify(want)} is not in the vocabulary`);
        this.#roles.set(role, id);
        this.#roleCandidates[role] = [want];
        continue;
      }
      for (const cand of ROLE_ALIASES[role]) {
        const id = this.tokenToId(cand);
        if (id !== undefined) {
          this.#roles.set(role, id);
          break;
        }
      }
    }
  }

  #addAdded(t: AddedToken, fail: (msg: string) => never): void {
    const dupId = this.#addedById.get(t.id);
    if (dupId && dupId.content !== t.content) fail(`added token id ${t.id} is used by both ${JSON.stringify(dupId.content)} and ${JSON.stringify(t.content)}`);
    const dupContent = this.#addedByContent.get(t.content);
    if (dupContent && dupContent.id !== t.id) fail(`added token ${JSON.stringify(t.content)} has two ids (${dupContent.id}, ${t.id})`);
    if (dupId) return;
    this.#added.push(t);
    this.#addedById.set(t.id, t);
    this.#addedByContent.set(t.content, t);
  }

  // ------------------------------------------------------------------ special tokens

  specialId(role: SpecialRole): number | undefined {
    return this.#roles.get(role);
  }

  #role(role: SpecialRole): number {
    const id = this.#roles.get(role);
    if (id === undefined)
      throw new RangeError(
        `tokenizer '${this.#source}' has no ${role} token (looked for ${this.#roleCandidates[role].map((c) => JSON.stringify(c)).join(', ')}); ` +
          `pass { roles: { ${role}: '<token>' } } or { addSpecialTokens: [...] } when loading it`,
      );
    return id;
  }

  get padId(): number {
    return this.#role('pad');
  }
  get eosId(): number {
    return this.#role('eos');
  }
  get bosId(): number {
    return this.#role('bos');
  }
  get imageId(): number {
    return this.#role('image');
  }
  get thinkId(): number {
    return this.#role('think');
  }
  get thinkEndId(): number {
    return this.#role('thinkEnd');
  }
  get answerId(): number {
    return this.#role('answer');
  }
  get answerEndId(): number {
    return this.#role('answerEnd');
  }

  isSpecial(id: number): boolean {
    return this.#addedById.get(id)?.special === true;
  }

  tokenToId(token: string): number | undefined {
    return this.#addedByContent.get(token)?.id ?? this.#vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.#addedById.get(id)?.content ?? this.#idToTok[id];
  }

  // ------------------------------------------------------------------ encode

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`encode: text must be a string, got ${describe(text)}`);
    const out: number[] = [];
    const re = this.#addedRe;
    if (opts.parseSpecial === false || re === null) {
      this.#encodeSegment(text, out);
      return out;
    }
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const tok = this.#addedByContent.get(m[0])!;
      let s = m.index;
      let e = s + m[0].length;
      if (tok.single_word && ((s > 0 && WORD_CHAR.test(text[s - 1]!)) || (e < text.length && WORD_CHAR.test(text[e]!)))) {
        re.lastIndex = m.index + 1;
        continue;
      }
      // lstrip/rstrip tokens swallow the whitespace next to them (HF semantics).
      if (tok.lstrip) while (s > last && WS_CHAR.test(text[s - 1]!)) s--;
      if (tok.rstrip) while (e < text.length && WS_CHAR.test(text[e]!)) e++;
      this.#encodeSegment(text.slice(last, s), out);
      out.push(tok.id);
      last = e;
      re.lastIndex = e;
    }
    this.#encodeSegment(text.slice(last), out);
    return out;
  }

  #encodeSegment(seg: string, out: number[]): void {
    if (seg.length === 0) return;
    const norm = this.#normalizer ? this.#normalizer(seg) : seg;
    for (const piece of this.#preTokenize([norm])) {
      let ids = this.#cache.get(piece);
      if (ids === undefined) {
        ids = this.#bpeWord(piece);
        if (piece.length <= CACHE_MAX_PIECE) {
          if (this.#cache.size >= CACHE_MAX_ENTRIES) this.#cache.clear();
          this.#cache.set(piece, ids);
        }
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  /** BPE over one pre-token: start from its bytes, apply the lowest-ranked merge (leftmost on ties) until none applies. */
  #bpeWord(piece: string): number[] {
    // WTF-8 bytes into scratch (≤ 3 bytes per UTF-16 unit).
    const bytes = (this.#bytes = ensure(this.#bytes, piece.length * 3, (n) => new Uint8Array(n)));
    const nb = wtf8EncodeInto(piece, bytes);
    if (this.#ignoreMerges) {
      const whole = this.#vocab.get(bytesToByteLevel(bytes.subarray(0, nb)));
      if (whole !== undefined) return [whole];
    }
    const syms = (this.#syms = ensure(this.#syms, nb, (n) => new Int32Array(n)));
    for (let i = 0; i < nb; i++) {
      let id = this.#byteIds[bytes[i]!]!;
      if (id < 0) {
        if (this.#unkId === undefined)
          throw new RangeError(`encode: byte 0x${bytes[i]!.toString(16).padStart(2, '0')} has no token in the vocabulary of '${this.#source}' (and no unk_token)`);
        id = this.#unkId;
      }
      syms[i] = id;
    }
    const n = nb < 2 ? nb : nb <= SHORT_WORD ? this.#mergeShort(syms, nb) : this.#mergeLong(syms, nb);
    return Array.from(syms.subarray(0, n));
  }

  /** O(n²) merge loop in place on syms[0..n); returns the new length. */
  #mergeShort(syms: Int32Array, n: number): number {
    const ranks = this.#mergeRank;
    for (;;) {
      let best = 0x7fffffff;
      let pos = -1;
      for (let i = 0; i + 1 < n; i++) {
        const r = ranks.get(syms[i]!, syms[i + 1]!);
        if (r >= 0 && r < best) {
          best = r;
          pos = i;
        }
      }
      if (pos < 0) return n;
      syms[pos] = this.#mergeResult[best]!;
      syms.copyWithin(pos + 1, pos + 2, n);
      n--;
    }
  }

  /** Same result as #mergeShort in O(n log n): a linked list of symbols and a min-heap of candidate
   *  pairs keyed (rank, position); stale entries are detected by re-checking the pair. */
  #mergeLong(syms: Int32Array, n: number): number {
    const ranks = this.#mergeRank;
    const sym = syms.slice(0, n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    // Key = rank · 2^32 + position: exact in a double since rank < 2^21.
    const heap: number[] = [];
    const push = (k: number) => {
      let i = heap.length;
      heap.push(k);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p]! <= k) break;
        heap[i] = heap[p]!;
        i = p;
      }
      heap[i] = k;
    };
    const pop = (): number => {
      const top = heap[0]!;
      const lastK = heap.pop()!;
      if (heap.length > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= heap.length) break;
          const c = l + 1 < heap.length && heap[l + 1]! < heap[l]! ? l + 1 : l;
          if (heap[c]! >= lastK) break;
          heap[i] = heap[c]!;
          i = c;
        }
        heap[i] = lastK;
      }
      return top;
    };
    const offer = (i: number) => {
      const j = next[i]!;
      if (j < 0) return;
      const r = ranks.get(sym[i]!, sym[j]!);
      if (r >= 0) push(r * 4294967296 + i);
    };
    for (let i = 0; i + 1 < n; i++) offer(i);
    while (heap.length > 0) {
      const key = pop();
      const rank = Math.floor(key / 4294967296);
      const i = key - rank * 4294967296;
      const j = next[i]!;
      if (!alive[i] || j < 0 || ranks.get(sym[i]!, sym[j]!) !== rank) continue;
      sym[i] = this.#mergeResult[rank]!;
      alive[j] = 0;
      const k = next[j]!;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i]! >= 0) offer(prev[i]!);
      offer(i);
    }
    // Position 0 always survives (a merge keeps its left symbol).
    let m = 0;
    for (let i = 0; i >= 0; i = next[i]!) syms[m++] = sym[i]!;
    return m;
  }

  // ------------------------------------------------------------------ decode

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')
      throw new TypeError(`decode: ids must be an array or typed array of token ids, got ${describe(ids)}`);
    const skip = opts.skipSpecialTokens === true;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new RangeError(`decode: ids[${i}] = ${id} is not a token id (expected an integer in 0..${this.vocabSize - 1})`);
      if (skip && this.#addedById.get(id)?.special) continue;
      const b = this.#tokenBytes[id] ?? this.#bytesOf(id, i);
      parts.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return wtf8Decode(all);
  }

  #bytesOf(id: number, index: number): Uint8Array {
    const added = this.#addedById.get(id);
    let bytes: Uint8Array;
    if (added) bytes = wtf8Encode(added.content);
    else {
      const tok = this.#idToTok[id];
      if (tok === undefined) throw new RangeError(`decode: ids[${index}] = ${id} has no token (a hole in the vocabulary of '${this.#source}')`);
      const out: number[] = [];
      for (const ch of tok) {
        const b = byteOfChar(ch.charCodeAt(0));
        // A character outside the byte alphabet (hand-edited vocabularies): emit it as itself, like HF.
        if (ch.length === 1 && b >= 0) out.push(b);
        else for (const x of wtf8Encode(ch)) out.push(x);
      }
      bytes = Uint8Array.from(out);
    }
    this.#tokenBytes[id] = bytes;
    return bytes;
  }

  // ------------------------------------------------------------------ serialisation

  toJSON(): TokenizerJSON {
    const r = this.#raw;
    // Classic "a b" merges whenever unambiguous (readable by every tokenizers version); pairs otherwise.
    const pairForm = this.#merges.some(([a, b]) => a.includes(' ') || b.includes(' '));
    return {
      version: '1.0',
      truncation: r.truncation,
      padding: r.padding,
      added_tokens: this.#added
        .slice()
        .sort((a, b) => a.id - b.id)
        .map((t) => ({ id: t.id, content: t.content, single_word: t.single_word, lstrip: t.lstrip, rstrip: t.rstrip, normalized: t.normalized, special: t.special })),
      normalizer: r.normalizer,
      pre_tokenizer: r.pre_tokenizer,
      post_processor: r.post_processor,
      decoder: r.decoder,
      model: {
        type: 'BPE',
        dropout: r.dropout as number | null,
        unk_token: r.unk_token as string | null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: r.fuse_unk as boolean,
        byte_fallback: r.byte_fallback as boolean,
        ignore_merges: this.#ignoreMerges,
        // fromEntries defines own properties, so a token named "__proto__" survives.
        vocab: Object.fromEntries([...this.#vocab].sort((a, b) => a[1] - b[1])),
        merges: this.#merges.map(([a, b]) => (pairForm ? [a, b] : `${a} ${b}`)),
      },
    };
  }

  save(path: string): void {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError(`save: path must be a non-empty string, got ${JSON.stringify(path)}`);
    writeFileAtomicSync(path, new TextEncoder().encode(JSON.stringify(this.toJSON(), null, 1) + '\n'));
  }
}

/** Builds a tokenizer from a tokenizer.json object (ours or a Hugging Face byte-level BPE one). */
export function tokenizerFromJSON(json: unknown, opts: TokenizerLoadOptions = {}): Tokenizer {
  return new BpeTokenizer(json, opts);
}

/** Largest tokenizer.json accepted (real ones are 2–20 MB). */
export const MAX_TOKENIZER_FILE_BYTES = 256 * 2 ** 20;

/** Reads a tokenizer.json file (synchronously); FIFOs, devices and files over MAX_TOKENIZER_FILE_BYTES are refused. */
export function loadTokenizer(path: string, opts: Omit<TokenizerLoadOptions, 'source'> = {}): Tokenizer {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`loadTokenizer: path must be a non-empty string, got ${JSON.stringify(path)}`);
  let text: string;
  try {
    text = readRegularFileSync(path, { maxBytes: MAX_TOKENIZER_FILE_BYTES }).toString('utf8');
  } catch (err) {
    throw new Error(`loadTokenizer: cannot read '${path}' (${(err as Error).message})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`loadTokenizer: '${path}' is not valid JSON (${(err as Error).message})`);
  }
  return new BpeTokenizer(json, { ...opts, source: path });
}
