// The Hugging Face `tokenizer.json` pipeline pieces a byte-level BPE tokenizer needs, in plain
// TypeScript: the GPT-2 byte↔unicode alphabet, WTF-8 (UTF-8 that also carries lone surrogates, so
// every JS string round-trips), translation of the Oniguruma split regexes real tokenizers ship
// (GPT-2, Llama-3, Qwen2) to JS RegExps, and the normalizers / pre-tokenizers / decoders found in
// byte-level files. Unsupported components are refused with an error naming them, never ignored.
// The BPE model itself lives in tokenizer.ts; the file layout is documented in docs/formats.md.

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet (GPT-2's bytes_to_unicode): printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100.. in order, so every byte is one visible, non-space character.
// ---------------------------------------------------------------------------------------------

function buildByteAlphabet(): { byteToChar: string[]; charToByte: Int16Array } {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const byteToChar = new Array<string>(256);
  const kept = new Set(keep);
  for (const b of keep) byteToChar[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!kept.has(b)) byteToChar[b] = String.fromCharCode(256 + n++);
  const charToByte = new Int16Array(512).fill(-1);
  for (let b = 0; b < 256; b++) charToByte[byteToChar[b]!.charCodeAt(0)] = b;
  return { byteToChar, charToByte };
}

const ALPHABET = buildByteAlphabet();
/** byte → its byte-level character (e.g. 0x20 → 'Ġ'). */
export const BYTE_TO_CHAR: readonly string[] = ALPHABET.byteToChar;

/** The byte a byte-level character stands for, or -1 when the character is not in the alphabet. */
export function byteOfChar(code: number): number {
  return code < 512 ? ALPHABET.charToByte[code]! : -1;
}

/** Bytes → byte-level string (one character per byte). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]!];
  return s;
}

// ---------------------------------------------------------------------------------------------
// WTF-8: UTF-8 generalised to lone surrogates (encoded like any other code point, 3 bytes
// ED A0..BF xx). Well-formed strings encode to plain UTF-8, byte for byte; strings with lone
// surrogates (legal in JS) still round-trip exactly instead of collapsing to U+FFFD.
// ---------------------------------------------------------------------------------------------

const utf8Encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text to us, not a byte-order mark to strip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
// Any surrogate code unit: the fast TextEncoder path is exact only without lone surrogates.
const HAS_SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Encodes `s` as WTF-8 into `out` (which must hold 3 bytes per UTF-16 unit) and returns the byte
 * count. Hand-rolled because TextEncoder's per-call overhead dominates for the short words BPE sees.
 */
export function wtf8EncodeInto(s: string, out: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    } else {
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 63);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

export function wtf8Encode(s: string): Uint8Array {
  if (!HAS_SURROGATE.test(s)) return utf8Encoder.encode(s);
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/**
 * WTF-8 → string. Surrogate code points (ED A0..BF xx) become lone surrogates; every other
 * ill-formed sequence becomes U+FFFD exactly as the WHATWG UTF-8 decoder does ("maximal subpart"),
 * which is what arbitrary model-generated id sequences can produce.
 */
export function wtf8Decode(bytes: Uint8Array): string {
  if (bytes.indexOf(0xed) < 0) return utf8Decoder.decode(bytes);
  const units: number[] = [];
  let out = '';
  const flush = () => {
    out += String.fromCharCode(...units);
    units.length = 0;
  };
  let cp = 0;
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (need === 0) {
      if (b < 0x80) units.push(b);
      else if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        // Unlike strict UTF-8, ED may be followed by A0..BF: those are the surrogates we carry.
        if (b === 0xe0) lower = 0xa0;
        need = 2;
        cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        need = 3;
        cp = b & 0x7;
      } else units.push(0xfffd);
    } else if (b < lower || b > upper) {
      // Ill-formed: emit one U+FFFD for the consumed prefix and reprocess this byte.
      units.push(0xfffd);
      need = 0;
      lower = 0x80;
      upper = 0xbf;
      i--;
    } else {
      lower = 0x80;
      upper = 0xbf;
      cp = (cp << 6) | (b & 0x3f);
      if (--need === 0) {
        if (cp >= 0x10000) {
          cp -= 0x10000;
          units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else units.push(cp);
      }
    }
    if (units.length > 8192) flush();
  }
  if (need > 0) units.push(0xfffd);
  flush();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Regex translation: tokenizer.json split patterns are Oniguruma regexes. The ones in use are JS
// compatible except for (1) scoped case-insensitivity `(?i:...)`, which Node 20 lacks and we expand
// by hand, and (2) `\s`, which in Oniguruma is Unicode White_Space (includes U+0085, excludes U+FEFF)
// while JS's \s differs on exactly those two; we substitute the explicit class so splits agree.
// ---------------------------------------------------------------------------------------------

const WHITE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** The GPT-2 pre-tokenizer regex (the ByteLevel pre-tokenizer's `use_regex`), in Oniguruma syntax. */
export const GPT2_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Translates an Oniguruma pattern into JS RegExp source (for the `u` flag). */
export function translateOnigRegex(pattern: string): string {
  let out = '';
  let inClass = 0; // depth of [...] (nesting only appears in exotic patterns, but count it anyway)
  const caseStack: boolean[] = []; // per open group: is it a (?i:...) group?
  let ci = 0; // number of enclosing (?i:...) groups
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) throw new SyntaxError(`pattern ends with a lone backslash`);
      if (n === 's') {
        out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
        i++;
        continue;
      }
      if (n === 'S' && !inClass) {
        out += `[^${WHITE_SPACE}]`;
        i++;
        continue;
      }
      // Copy the escape whole: \p{..}, \u{..}, \uXXXX, \xHH, or a single escaped character.
      let end = i + 2;
      if ((n === 'p' || n === 'P' || n === 'u' || n === 'x') && pattern[i + 2] === '{') end = pattern.indexOf('}', i + 2) + 1;
      else if (n === 'u') end = i + 6;
      else if (n === 'x') end = i + 4;
      if (end <= i) throw new SyntaxError(`unterminated escape at ${i}`);
      out += pattern.slice(i, end);
      i = end - 1;
      continue;
    }
    if (inClass) {
      if (c === '[') inClass++;
      else if (c === ']') inClass--;
      const hi = pattern[i + 2];
      if (ci > 0 && /[a-zA-Z]/.test(c) && pattern[i + 1] === '-' && hi !== undefined && /[a-zA-Z]/.test(hi)) {
        // A letter range under (?i:): both cases of the range (a-c → a-cA-C).
        out += `${c.toLowerCase()}-${hi.toLowerCase()}${c.toUpperCase()}-${hi.toUpperCase()}`;
        i += 2;
      } else if (ci > 0 && /[a-zA-Z]/.test(c)) out += c.toLowerCase() + c.toUpperCase();
      else out += c;
      continue;
    }
    if (c === '[') {
      inClass = 1;
      out += c;
      // A ']' right after '[' or '[^' is a literal in Oniguruma; keep it with its class.
      if (pattern[i + 1] === '^') out += pattern[++i];
      if (pattern[i + 1] === ']') out += '\\' + pattern[++i];
      continue;
    }
    if (c === '(') {
      if (pattern.startsWith('(?i:', i)) {
        caseStack.push(true);
        ci++;
        out += '(?:';
        i += 3;
        continue;
      }
      if (pattern.startsWith('(?i)', i) || pattern.startsWith('(?-i', i)) throw new SyntaxError(`inline flag groups other than (?i:...) are not supported`);
      caseStack.push(false);
      out += c;
      continue;
    }
    if (c === ')') {
      if (caseStack.pop()) ci--;
      out += c;
      continue;
    }
    if (ci > 0 && /[a-zA-Z]/.test(c)) {
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
      continue;
    }
    out += c;
  }
  return out;
}

/**
 * Finds a nested unbounded quantifier — a group that contains `+`, `*` or `{n,}` and is itself
 * repeated without bound, as in `(a+)+` or `(?:x*y*)*` — the shape that makes a backtracking regex
 * engine take exponential time on a non-matching input. Returns the offending group's source, or
 * undefined. Character classes and escapes are skipped; bounded repeats (`?`, `{1,3}`) are safe.
 */
export function nestedQuantifier(pattern: string): string | undefined {
  const stack: { start: number; unbounded: boolean }[] = [];
  let unboundedHere = false; // the innermost open group (or top level) has an unbounded quantifier so far
  const quantAt = (i: number): { unbounded: boolean; len: number } | undefined => {
    const c = pattern[i];
    if (c === '+' || c === '*') return { unbounded: true, len: 1 };
    if (c === '?') return { unbounded: false, len: 1 };
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (m) return { unbounded: m[2] !== undefined && m[3] === '', len: m[0].length };
    }
    return undefined;
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      if (pattern[i] === 'p' || pattern[i] === 'P') {
        if (pattern[i + 1] === '{') i = pattern.indexOf('}', i);
        if (i < 0) return undefined;
      }
      const q = quantAt(i + 1);
      if (q?.unbounded) unboundedHere = true;
      continue;
    }
    if (c === '[') {
      // Skip the class (with nested classes and escapes).
      let depth = 1;
      for (i++; i < pattern.length && depth > 0; i++) {
        if (pattern[i] === '\\') i++;
        else if (pattern[i] === '[') depth++;
        else if (pattern[i] === ']') depth--;
      }
      i--;
      if (quantAt(i + 1)?.unbounded) unboundedHere = true;
      continue;
    }
    if (c === '(') {
      stack.push({ start: i, unbounded: unboundedHere });
      unboundedHere = false;
      continue;
    }
    if (c === ')') {
      const open = stack.pop();
      if (!open) return undefined; // unbalanced: the regex compiler reports it
      const inner: boolean = unboundedHere;
      const q = quantAt(i + 1);
      if (inner && q?.unbounded) return pattern.slice(open.start, i + 1 + q.len);
      unboundedHere = open.unbounded || inner || q?.unbounded === true;
      continue;
    }
    if (c !== '+' && c !== '*' && c !== '?' && c !== '{' && c !== '|' && c !== '^' && c !== '$' && quantAt(i + 1)?.unbounded) unboundedHere = true;
  }
  return undefined;
}

/** Compiles an Oniguruma pattern to a global, unicode JS RegExp; `what` names it in errors. */
export function compileOnigRegex(pattern: string, what: string): RegExp {
  const nested = nestedQuantifier(pattern);
  if (nested !== undefined)
    throw new SyntaxError(
      `${what}: regex ${JSON.stringify(pattern)} repeats a repeated group (${nested}); such patterns take exponential time on some inputs (catastrophic backtracking) and are refused`,
    );
  try {
    return new RegExp(translateOnigRegex(pattern), 'gu');
  } catch (err) {
    throw new SyntaxError(`${what}: cannot translate regex ${JSON.stringify(pattern)} to JavaScript (${(err as Error).message})`);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Pipeline components. Each is built from its JSON once; errors name the JSON path.
// ---------------------------------------------------------------------------------------------

export type Normalizer = (s: string) => string;
/** Splits each piece into smaller pieces (pieces never cross the boundaries of the input pieces). */
export type PreTokenizerStep = (pieces: string[]) => string[];

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function patternOf(p: unknown, where: string): RegExp {
  if (!isObj(p)) throw new TypeError(`${where}.pattern must be { String } or { Regex }`);
  if (typeof p.String === 'string') return new RegExp(escapeRegExp(p.String), 'gu');
  if (typeof p.Regex === 'string') return compileOnigRegex(p.Regex, `${where}.pattern.Regex`);
  throw new TypeError(`${where}.pattern must be { String } or { Regex }`);
}

/** Builds the normalizer function, or null for none. */
export function buildNormalizer(json: unknown, where = 'normalizer'): Normalizer | null {
  if (json === null || json === undefined) return null;
  if (!isObj(json) || typeof json.type !== 'string') throw new TypeError(`${where} must be null or an object with a type`);
  switch (json.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = json.type;
      return (s) => s.normalize(form);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Prepend': {
      const pre = json.prepend;
      if (typeof pre !== 'string') throw new TypeError(`${where}.prepend must be a string`);
      return (s) => (s.length > 0 ? pre + s : s);
    }
    case 'Replace': {
      const re = patternOf(json.pattern, where);
      const content = json.content;
      if (typeof content !== 'string') throw new TypeError(`${where}.content must be a string`);
      return (s) => s.replace(re, () => content);
    }
    case 'Strip': {
      const left = json.strip_left !== false;
      const right = json.strip_right !== false;
      return (s) => (left && right ? s.trim() : left ? s.trimStart() : right ? s.trimEnd() : s);
    }
    case 'Sequence': {
      if (!Array.isArray(json.normalizers)) throw new TypeError(`${where}.normalizers must be an array`);
      const parts = json.normalizers.map((n, i) => buildNormalizer(n, `${where}.normalizers[${i}]`)).filter((f): f is Normalizer => f !== null);
      return (s) => parts.reduce((acc, f) => f(acc), s);
    }
    default:
      throw new TypeError(`${where}: unsupported normalizer type '${json.type}' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)`);
  }
}

type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** Splits `s` on regex matches with HF `SplitDelimiterBehavior` semantics; empty pieces dropped. */
export function splitWith(s: string, re: RegExp, behavior: SplitBehavior, invert = false): string[] {
  // Collect (text, isMatch) spans covering s.
  const spans: [string, boolean][] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (m[0].length === 0) {
      // Step over one code point (not one code unit) so a surrogate pair is never split.
      const c = s.codePointAt(re.lastIndex);
      re.lastIndex += c !== undefined && c > 0xffff ? 2 : 1;
      continue;
    }
    if (m.index > last) spans.push([s.slice(last, m.index), invert]);
    spans.push([m[0], !invert]);
    last = m.index + m[0].length;
  }
  if (last < s.length) spans.push([s.slice(last), invert]);
  const out: string[] = [];
  switch (behavior) {
    case 'Removed':
      for (const [t, isM] of spans) if (!isM) out.push(t);
      break;
    case 'Isolated':
      for (const [t] of spans) out.push(t);
      break;
    case 'MergedWithPrevious':
      for (const [t, isM] of spans) {
        if (isM && out.length > 0) out[out.length - 1] += t;
        else out.push(t);
      }
      break;
    case 'MergedWithNext': {
      let carry = '';
      for (const [t, isM] of spans) {
        if (isM) carry += t;
        else {
          out.push(carry + t);
          carry = '';
        }
      }
      if (carry) out.push(carry);
      break;
    }
    case 'Contiguous': {
      let prevMatch = false;
      for (const [t, isM] of spans) {
        if (isM && prevMatch) out[out.length - 1] += t;
        else out.push(t);
        prevMatch = isM;
      }
      break;
    }
  }
  return out.filter((p) => p.length > 0);
}

export interface PreTokenizerInfo {
  step: PreTokenizerStep;
  /** True when a ByteLevel pre-tokenizer is present (the only kind of BPE we implement). */
  byteLevel: boolean;
}

let gpt2Regex: RegExp | undefined;
/** The compiled GPT-2 split regex (shared; callers must not rely on its lastIndex). */
export function gpt2SplitRegex(): RegExp {
  return (gpt2Regex ??= compileOnigRegex(GPT2_SPLIT_PATTERN, 'GPT-2 pattern'));
}

/** Pre-tokenizes like GPT-2 (ByteLevel with use_regex): spaces attach to the following word. */
export function gpt2PreTokenize(s: string): string[] {
  return splitWith(s, gpt2SplitRegex(), 'Isolated');
}

const SPLIT_BEHAVIORS = new Set(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']);

/** Builds the pre-tokenizer pipeline. */
export function buildPreTokenizer(json: unknown, where = 'pre_tokenizer'): PreTokenizerInfo {
  if (json === null || json === undefined) return { step: (p) => p, byteLevel: false };
  if (!isObj(json) || typeof json.type !== 'string') throw new TypeError(`${where} must be null or an object with a type`);
  switch (json.type) {
    case 'ByteLevel': {
      const prefix = json.add_prefix_space === true;
      const useRegex = json.use_regex !== false;
      const re = gpt2SplitRegex();
      return {
        byteLevel: true,
        step: (pieces) => {
          const out: string[] = [];
          for (let p of pieces) {
            if (prefix && !p.startsWith(' ')) p = ' ' + p;
            if (useRegex) for (const q of splitWith(p, re, 'Isolated')) out.push(q);
            else out.push(p);
          }
          return out;
        },
      };
    }
    case 'Split': {
      const re = patternOf(json.pattern, where);
      const behavior = json.behavior;
      if (typeof behavior !== 'string' || !SPLIT_BEHAVIORS.has(behavior))
        throw new TypeError(`${where}.behavior must be one of ${[...SPLIT_BEHAVIORS].join(', ')}, got ${JSON.stringify(behavior)}`);
      const invert = json.invert === true;
      return { byteLevel: false, step: (pieces) => pieces.flatMap((p) => splitWith(p, re, behavior as SplitBehavior, invert)) };
    }
    case 'Digits': {
      const re = json.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu;
      return { byteLevel: false, step: (pieces) => pieces.flatMap((p) => splitWith(p, re, 'Isolated')) };
    }
    case 'Sequence': {
      if (!Array.isArray(json.pretokenizers)) throw new TypeError(`${where}.pretokenizers must be an array`);
      const parts = json.pretokenizers.map((p, i) => buildPreTokenizer(p, `${where}.pretokenizers[${i}]`));
      return { byteLevel: parts.some((p) => p.byteLevel), step: (pieces) => parts.reduce((acc, p) => p.step(acc), pieces) };
    }
    default:
      throw new TypeError(`${where}: unsupported pre-tokenizer type '${json.type}' (byte-level BPE files use ByteLevel, Split, Digits, Sequence)`);
  }
}

/** Checks the decoder is byte-level (null is accepted: decoding is always byte-level here). */
export function checkDecoder(json: unknown, where = 'decoder'): void {
  if (json === null || json === undefined) return;
  if (!isObj(json) || typeof json.type !== 'string') throw new TypeError(`${where} must be null or an object with a type`);
  if (json.type === 'ByteLevel') return;
  if (json.type === 'Sequence' && Array.isArray(json.decoders) && json.decoders.some((d) => isObj(d) && d.type === 'ByteLevel')) return;
  throw new TypeError(`${where}: unsupported decoder type '${json.type}' (only byte-level BPE tokenizers are supported)`);
}
