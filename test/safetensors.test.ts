// Safetensors reader/writer: bit-exact round-trips of every dtype (NaN payloads, -0, scalars, empty
// tensors, odd names), a golden file written by the reference Python library, F16 widening, bf16
// rounding, every hostile-header case (each error names the file and the problem), a mutation fuzz
// (only SafetensorsError ever escapes), writer argument errors, and crash-safe atomic writes: an
// injected failure at every stage, plus a real SIGKILL of a child process mid-write.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AtomicWriteStage } from '../lib/model/atomic-file.js';
import { checkTensorSpecs, parseSafetensors, readSafetensors, type SafeTensorInput, SafetensorsError, serializeSafetensors, writeSafetensors } from '../lib/model/safetensors.js';
import { mulberry32 as rng } from '../lib/rng.js';


/** Bytes of a typed array, for bit-exact comparison (NaN payloads and -0 included). */
function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Builds a file from a header object (or raw header text) and a data section, for hostile cases. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), rawLen?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, rawLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mtrl-st-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('round-trip', () => {
  it('every dtype bit-exactly, with awkward shapes, scalars, empty tensors and odd names', () => {
    const r = rng(1);
    const f32 = new Float32Array(7 * 13);
    for (let i = 0; i < f32.length; i++) f32[i] = (r() - 0.5) * 1e3;
    f32.set([NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38], 0);
    // A NaN with a payload must survive bit for bit.
    new Uint32Array(f32.buffer)[6] = 0x7fc01234;
    const bf16 = Uint16Array.from({ length: 33 }, () => Math.floor(r() * 65536));
    const i32 = Int32Array.from({ length: 5 * 3 * 2 }, () => Math.floor((r() - 0.5) * 2 ** 32));
    i32[0] = -2147483648;
    const u8 = Uint8Array.from({ length: 17 }, () => Math.floor(r() * 256));
    const tensors: Record<string, SafeTensorInput> = {
      'model.layers.0.attn.wq': { dtype: 'f32', shape: [7, 13], data: f32 },
      'u8 odd length': { dtype: 'u8', shape: [17], data: u8 },
      bf16: { dtype: 'bf16', shape: [3, 11], data: bf16 },
      '10': { dtype: 'i32', shape: [5, 3, 2], data: i32 },
      'ünï😀': { dtype: 'f32', shape: [0, 5], data: new Float32Array(0) },
      scalar: { dtype: 'i32', shape: [], data: new Int32Array([7]) },
    };
    // An own "__proto__" key needs defineProperty (a literal sets the prototype instead).
    Object.defineProperty(tensors, '__proto__', { value: { dtype: 'f32', shape: [], data: new Float32Array([42]) }, enumerable: true });
    const meta = { format: 'pt', step: '1200', 'ключ': 'значение' };
    const file = path.join(tmp, 'rt.safetensors');
    writeSafetensors(file, tensors, meta);
    const back = readSafetensors(file);
    expect(back.metadata).toEqual(meta);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const b = back.tensors[name]!;
      expect(b.dtype, name).toBe(t.dtype);
      expect(b.shape, name).toEqual(t.shape);
      expect(b.data.constructor, name).toBe(t.data.constructor);
      expect(bytesOf(b.data).equals(bytesOf(t.data)), name).toBe(true);
      // Zero-copy views are naturally aligned.
      expect(b.data.byteOffset % b.data.BYTES_PER_ELEMENT).toBe(0);
    }
    // Writing the loaded tensors again gives the identical file (deterministic layout).
    const again = path.join(tmp, 'rt2.safetensors');
    writeSafetensors(again, back.tensors, back.metadata);
    expect(fs.readFileSync(again).equals(fs.readFileSync(file))).toBe(true);
  });

  it('pads the header to 8 bytes and lays out 4-byte dtypes first (aligned data)', () => {
    const chunks = serializeSafetensors({
      a: { dtype: 'u8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      b: { dtype: 'bf16', shape: [1], data: new Uint16Array([1]) },
      c: { dtype: 'f32', shape: [1], data: new Float32Array([1]) },
    });
    const head = chunks[0]!;
    expect(head.length % 8).toBe(0);
    const header = JSON.parse(Buffer.from(head.subarray(8)).toString('utf8'));
    expect(header.c.data_offsets).toEqual([0, 4]);
    expect(header.b.data_offsets).toEqual([4, 6]);
    expect(header.a.data_offsets).toEqual([6, 9]);
    expect(header.__metadata__).toBeUndefined();
  });

  it('reads a golden file written by the Python safetensors library (F16 widened to f32)', () => {
    // safetensors.numpy.save({"w": f32 [[1.5,-2,3.25]], "ids": i32 [7,-1], "h": f16 [1,-0.5,65504,2^-24],
    // "m": u8 [1,2,255]}, metadata={"format": "np"}) with safetensors 0.8.0.
    const hex =
      '00010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a226e70227d2c2277223a7b226474797065223a22463332222c227368617065223a5b312c335d2c22646174615f6f666673657473223a5b302c31325d7d2c22696473223a7b226474797065223a22493332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b31322c32305d7d2c2268223a7b226474797065223a22463136222c227368617065223a5b345d2c22646174615f6f666673657473223a5b32302c32385d7d2c226d223a7b226474797065223a225538222c227368617065223a5b335d2c22646174615f6f666673657473223a5b32382c33315d7d7d20200000c03f000000c00000504007000000ffffffff003c00b8ff7b01000102ff';
    const f = parseSafetensors(Buffer.from(hex, 'hex'), 'golden');
    expect(f.metadata).toEqual({ format: 'np' });
    expect(f.tensors.w).toMatchObject({ dtype: 'f32', shape: [1, 3] });
    expect(Array.from(f.tensors.w!.data)).toEqual([1.5, -2, 3.25]);
    expect(Array.from(f.tensors.ids!.data)).toEqual([7, -1]);
    expect(f.tensors.h!.dtype).toBe('f32');
    expect(Array.from(f.tensors.h!.data)).toEqual([1, -0.5, 65504, 2 ** -24]);
    expect(Array.from(f.tensors.m!.data)).toEqual([1, 2, 255]);
  });

  it('widens F16 exactly, including subnormals, infinities and NaN', () => {
    const halves = [0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const expected = [0, -0, 1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, NaN, 0.333251953125];
    const data = new Uint8Array(new Uint16Array(halves).buffer);
    const f = parseSafetensors(build({ h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, data.length] } }, data));
    const got = Array.from(f.tensors.h!.data);
    expected.forEach((e, i) => expect(Object.is(got[i], e) || (Number.isNaN(e) && Number.isNaN(got[i])), `half 0x${halves[i]!.toString(16)}`).toBe(true));
  });

  it('accepts Float32Array data for bf16 and rounds to nearest even (checked against a float64 reference)', () => {
    const r = rng(3);
    const src = Float32Array.from({ length: 2000 }, () => (r() - 0.5) * 10 ** Math.floor(r() * 8 - 4));
    src.set([1.00390625, 1.01171875, -2.5, 0, -0, 65536 * 65536]);
    const file = path.join(tmp, 'bf.safetensors');
    writeSafetensors(file, { x: { dtype: 'bf16', shape: [src.length], data: src } });
    const bits = readSafetensors(file).tensors.x!.data as Uint16Array;
    let maxRel = 0;
    for (let i = 0; i < src.length; i++) {
      const v = new Float32Array(new Uint32Array([bits[i]! << 16]).buffer)[0]!;
      // Reference: the two bf16 neighbours of x and the nearer one (even mantissa on ties), in float64.
      const x = src[i]!;
      const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
      const lo = new Float32Array(new Uint32Array([u & 0xffff0000]).buffer)[0]!;
      const hi = new Float32Array(new Uint32Array([(u & 0xffff0000) + 0x10000]).buffer)[0]!;
      const dLo = Math.abs(x - lo);
      const dHi = Math.abs(hi - x);
      const ref = dLo < dHi ? lo : dHi < dLo ? hi : ((u >>> 16) & 1) === 0 ? lo : hi;
      expect(Object.is(v, ref), `x=${x}`).toBe(true);
      if (x !== 0) maxRel = Math.max(maxRel, Math.abs(v - x) / Math.abs(x));
    }
    expect(maxRel, `max relative rounding error ${maxRel.toExponential(3)}`).toBeLessThanOrEqual(2 ** -8);
  });
});

describe('hostile files', () => {
  const f4 = new Uint8Array(4);
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array(5), /file is 5 bytes, too short for the 8-byte header length/],
    ['header length past the end', build({}, new Uint8Array(0), 1000n), /header length 1000 runs past the end of the file \(10 bytes\)/],
    ['absurd header length', build({}, new Uint8Array(0), 2n ** 63n), /header length 9223372036854775808 is absurdly large/],
    ['header not UTF-8', build(Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1')).map((b, i) => (i === 9 ? 0xff : b)), /header is not valid UTF-8/],
    ['non-JSON header', build('{"a": '), /header is not valid JSON/],
    ['empty header', build(''), /header is not valid JSON/],
    ['header is an array', build([]), /header must be a JSON object, got an array/],
    ['header is null', build('null'), /header must be a JSON object, got null/],
    ['header is a number', build('42'), /header must be a JSON object, got number/],
    ['metadata not an object', build({ __metadata__: [1] }), /__metadata__ must be an object of strings/],
    ['metadata value not a string', build({ __metadata__: { a: 1 } }), /__metadata__\['a'\] must be a string, got number/],
    ['entry not an object', build({ t: 5 }), /tensor 't': entry must be an object/],
    ['unknown dtype', build({ t: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, f4), /tensor 't': unsupported dtype "Q4" \(supported: F32, BF16, I32, U8, F16\)/],
    ['known but unsupported dtype', build({ t: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /unsupported dtype "F64"/],
    ['prototype-named dtype', build({ t: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, f4), /unsupported dtype "toString"/],
    ['dtype not a string', build({ t: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, f4), /dtype must be a string/],
    ['negative dim', build({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f4), /tensor 't': shape\[0\] must be a non-negative integer, got -1/],
    ['fractional dim', build({ t: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f4), /shape\[0\] must be a non-negative integer, got 1.5/],
    ['string dim', build({ t: { dtype: 'F32', shape: ['1'], data_offsets: [0, 4] } }, f4), /shape\[0\] must be a non-negative integer, got "1"/],
    ['shape not an array', build({ t: { dtype: 'F32', shape: 1, data_offsets: [0, 4] } }, f4), /shape must be an array/],
    ['huge shape product', build({ t: { dtype: 'F32', shape: [2 ** 30, 2 ** 30], data_offsets: [0, 4] } }, f4), /has more than 2\^53 elements/],
    ['offsets not a pair', build({ t: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f4), /data_offsets must be an array \[begin, end\]/],
    ['negative offset', build({ t: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, f4), /data_offsets begin must be a non-negative integer, got -4/],
    ['end before begin', build({ t: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f4), /data_offsets \[4, 0\] end before begin/],
    ['offsets outside the data', build({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f4), /data_offsets \[0, 8\] lie outside the data section \(4 bytes\)/],
    ['size does not match shape × dtype', build({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f4), /data_offsets \[0, 4\] span 4 bytes but shape \[2\] of F32 needs 8/],
    [
      'overlapping tensors',
      build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
      /tensors 'a' \[0, 8\] and 'b' \[4, 8\] overlap/,
    ],
    [
      'gap between tensors',
      build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)),
      /gap of 4 bytes before tensor 'b' at offset 4/,
    ],
    ['gap at the start', build({ a: { dtype: 'U8', shape: [1], data_offsets: [3, 4] } }, f4), /gap of 3 bytes before tensor 'a' at offset 0/],
    ['trailing bytes', build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(7)), /3 trailing bytes after the last tensor/],
    ['data but no tensors', build({}, new Uint8Array(2)), /2 trailing bytes/],
    [
      'duplicate tensor key (the last would silently win)',
      build('{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "t": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}', f4),
      /header has the key "t" more than once in one object/,
    ],
    ['duplicate key, spelled with an escape', build('{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "\\u0074": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', f4), /key "t" more than once/],
    ['duplicate metadata key', build('{"__metadata__": {"step": "1", "step": "2"}}'), /key "step" more than once/],
    ['duplicate field inside an entry', build('{"t": {"dtype": "F32", "dtype": "U8", "shape": [1], "data_offsets": [0, 4]}}', f4), /key "dtype" more than once/],
  ];
  for (const [what, buf, re] of cases) {
    it(`rejects: ${what}`, () => {
      const file = path.join(tmp, `hostile-${what.replace(/\W+/g, '_')}.safetensors`);
      fs.writeFileSync(file, buf);
      let err: unknown;
      try {
        readSafetensors(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as SafetensorsError).file).toBe(file);
      expect((err as Error).message).toContain(`safetensors '${file}': `);
      expect((err as Error).message).toMatch(re);
    });
  }

  it('accepts the legal corner cases: empty header object, zero-size tensors, out-of-order header keys', () => {
    expect(parseSafetensors(build({})).tensors).toEqual({});
    const f = parseSafetensors(
      build({ b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] }, e: { dtype: 'I32', shape: [0], data_offsets: [8, 8] }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)),
    );
    expect(Object.keys(f.tensors)).toEqual(['b', 'e', 'a']);
    expect(f.tensors.e!.data.length).toBe(0);
  });

  it('the same key in different objects is fine', () => {
    const f = parseSafetensors(build('{"__metadata__": {"a": "x", "b": "[\\"{\\"]"}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', f4));
    expect(f.metadata).toEqual({ a: 'x', b: '["{"]' });
  });

  it.runIf(process.platform !== 'win32')('a FIFO or /dev/zero is refused at once', () => {
    fs.symlinkSync('/dev/zero', path.join(tmp, 'zero.safetensors'));
    expect(spawnSync('mkfifo', [path.join(tmp, 'fifo.safetensors')]).status).toBe(0);
    const t0 = performance.now();
    expect(() => readSafetensors(path.join(tmp, 'zero.safetensors'))).toThrow(/cannot read file .*is a character device, expected a regular file/);
    expect(() => readSafetensors(path.join(tmp, 'fifo.safetensors'))).toThrow(/cannot read file .*is a FIFO/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('a missing file is a SafetensorsError naming it', () => {
    const file = path.join(tmp, 'missing.safetensors');
    expect(() => readSafetensors(file)).toThrow(SafetensorsError);
    expect(() => readSafetensors(file)).toThrow(/missing\.safetensors': cannot read file/);
  });

  it('fuzz: 3000 random mutations of a valid file either parse or throw SafetensorsError', () => {
    const good = Buffer.concat(
      serializeSafetensors({
        w: { dtype: 'f32', shape: [3, 4], data: new Float32Array(12) },
        b: { dtype: 'bf16', shape: [5], data: new Uint16Array(5) },
        u: { dtype: 'u8', shape: [3], data: new Uint8Array(3) },
      }, { k: 'v' }),
    );
    const r = rng(99);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(good);
      const kind = r();
      let mutated: Buffer = buf;
      if (kind < 0.6) for (let k = 0; k < 1 + Math.floor(r() * 4); k++) buf[Math.floor(r() * buf.length)] = Math.floor(r() * 256);
      else if (kind < 0.8) mutated = buf.subarray(0, Math.floor(r() * buf.length));
      else mutated = Buffer.concat([buf, Buffer.alloc(1 + Math.floor(r() * 8))]);
      try {
        parseSafetensors(mutated, 'fuzz');
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw e;
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});

describe('writer argument errors', () => {
  const file = () => path.join(tmp, 'w.safetensors');
  it('names the tensor and what was expected', () => {
    expect(() => writeSafetensors(file(), { x: { dtype: 'f32', shape: [2], data: new Int32Array(2) } as unknown as SafeTensorInput })).toThrow(
      /writeSafetensors: tensors\['x'\]\.data must be a Float32Array for dtype f32, got Int32Array/,
    );
    expect(() => writeSafetensors(file(), { x: { dtype: 'f32', shape: [3], data: new Float32Array(2) } })).toThrow(/tensors\['x'\]\.data has 2 elements but shape \[3\] needs 3/);
    expect(() => writeSafetensors(file(), { x: { dtype: 'f64', shape: [1], data: new Float32Array(1) } as unknown as SafeTensorInput })).toThrow(
      /tensors\['x'\]\.dtype must be one of 'f32', 'bf16', 'i32', 'u8', got "f64"/,
    );
    expect(() => writeSafetensors(file(), { x: { dtype: 'u8', shape: [-1], data: new Uint8Array(0) } })).toThrow(/tensors\['x'\]\.shape\[0\] must be a non-negative integer, got -1/);
    expect(() => writeSafetensors(file(), { __metadata__: { dtype: 'u8', shape: [0], data: new Uint8Array(0) } })).toThrow(/'__metadata__' is reserved/);
    expect(() => writeSafetensors(file(), { x: { dtype: 'u8', shape: [0], data: new Uint8Array(0) } }, { a: 1 as unknown as string })).toThrow(/metadata\['a'\] must be a string, got number/);
    expect(() => writeSafetensors(file(), null as unknown as Record<string, SafeTensorInput>)).toThrow(/tensors must be an object/);
    expect(() => writeSafetensors('', {})).toThrow(/writeSafetensors: path must be a non-empty string/);
    expect(fs.existsSync(file())).toBe(false); // nothing written on bad input
  });

  it('checkTensorSpecs lists every missing, mismatched and unexpected tensor', () => {
    const f = parseSafetensors(Buffer.concat(serializeSafetensors({ a: { dtype: 'f32', shape: [2], data: new Float32Array(2) }, extra: { dtype: 'u8', shape: [1], data: new Uint8Array(1) } })));
    expect(() => checkTensorSpecs(f, { a: { dtype: 'f32', shape: [2] } }, 'ck', { allowExtra: true })).not.toThrow();
    expect(() => checkTensorSpecs(f, { a: { dtype: 'f32', shape: [3] }, b: { dtype: 'bf16', shape: [4, 4] } }, 'ck')).toThrow(
      "safetensors 'ck': tensor 'a' is f32 [2], expected f32 [3]; missing tensor 'b' (bf16 [4, 4]); unexpected tensor 'extra'",
    );
  });
});

describe('atomic writes', () => {
  const oldTensors = { w: { dtype: 'f32' as const, shape: [4], data: new Float32Array([1, 2, 3, 4]) } };
  const newTensors = { w: { dtype: 'f32' as const, shape: [100_000], data: new Float32Array(100_000).fill(7) } };
  const stages: AtomicWriteStage[] = ['opened', 'partial', 'written', 'synced'];

  for (const stage of stages) {
    it(`a failure at '${stage}' leaves the previous file intact and no temp file`, () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
      const file = path.join(dir, 'model.safetensors');
      writeSafetensors(file, oldTensors);
      const before = fs.readFileSync(file);
      const seen: string[] = [];
      expect(() =>
        writeSafetensors(file, newTensors, {}, {
          onStage: (s, tempPath) => {
            seen.push(s);
            // The temp file lives beside the target (same filesystem: rename is atomic).
            expect(path.dirname(tempPath)).toBe(dir);
            if (s === stage) throw new Error(`injected crash at ${s}`);
          },
        }),
      ).toThrow(`injected crash at ${stage}`);
      expect(seen.at(-1)).toBe(stage);
      expect(fs.readFileSync(file).equals(before)).toBe(true);
      expect(Array.from(readSafetensors(file).tensors.w!.data)).toEqual([1, 2, 3, 4]);
      expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
    });
  }

  it(`a failure after 'renamed' leaves the complete new file`, () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, oldTensors);
    expect(() => writeSafetensors(file, newTensors, {}, { onStage: (s) => { if (s === 'renamed') throw new Error('late'); } })).toThrow('late');
    expect(readSafetensors(file).tensors.w!.shape).toEqual([100_000]);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('a real crash (SIGKILL of a child process half-way through the write) leaves the previous file intact', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-kill-'));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, oldTensors);
    const before = fs.readFileSync(file);
    const script = path.join(dir, 'child.ts');
    const lib = pathToFileURL(path.resolve('lib/model/safetensors.ts')).href;
    fs.writeFileSync(
      script,
      `import { writeSafetensors } from ${JSON.stringify(lib)};\n` +
        `writeSafetensors(${JSON.stringify(file)}, { w: { dtype: 'f32', shape: [1000000], data: new Float32Array(1000000).fill(9) } }, {}, {\n` +
        `  onStage: (s) => { if (s === 'partial') process.kill(process.pid, 'SIGKILL'); },\n});\n`,
    );
    const res = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(Array.from(readSafetensors(file).tensors.w!.data)).toEqual([1, 2, 3, 4]);
    // The torn temp file is left behind (nothing cleans up after SIGKILL) but is never read.
    const leftovers = fs.readdirSync(dir).filter((f) => f.startsWith('.model.safetensors.tmp-'));
    expect(leftovers).toHaveLength(1);
    expect(fs.statSync(path.join(dir, leftovers[0]!)).size).toBeLessThan(4_000_000);
  });
});
