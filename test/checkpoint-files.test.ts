// Checkpoint folders: round-trip of a realistic checkpoint (model + optimizer safetensors, config,
// tokenizer and trainer-state JSON) with manifest sizes/sha256, overwrite, crash safety (an injected
// failure at every stage of the save protocol, and real SIGKILLs of a child process at the two
// riskiest points) — after each, the previous checkpoint must still load — and clear errors for
// missing, incomplete and corrupt folders and for bad arguments.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainBpeJSON } from '../lib/model/bpe-train.js';
import { CheckpointError, type CheckpointSaveStage, loadCheckpointFolder, MANIFEST_NAME, recoverCheckpointFolder, saveCheckpointFolder } from '../lib/model/checkpoint-files.js';
import type { SafeTensorInput } from '../lib/model/safetensors.js';
import { tokenizerFromJSON } from '../lib/model/tokenizer.js';
import { mulberry32 as rng } from '../lib/rng.js';


/** A small but realistic checkpoint; `step` makes versions distinguishable. */
function makeCheckpoint(step: number) {
  const r = rng(step);
  const f32 = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);
  const model: Record<string, SafeTensorInput> = {
    'embed.weight': { dtype: 'f32', shape: [300, 16], data: f32(300 * 16) },
    'layers.0.attn.wq': { dtype: 'f32', shape: [16, 16], data: f32(256) },
    'layers.0.norm.weight': { dtype: 'bf16', shape: [16], data: Uint16Array.from({ length: 16 }, () => Math.floor(r() * 65536)) },
  };
  const optimizer: Record<string, SafeTensorInput> = {
    'embed.weight.exp_avg': { dtype: 'f32', shape: [300, 16], data: f32(300 * 16) },
    step: { dtype: 'i32', shape: [], data: new Int32Array([step]) },
  };
  return {
    'model.safetensors': { tensors: model, metadata: { step: String(step) } },
    'config.json': { dModel: 16, nLayers: 1, vocabSize: 300 },
    'tokenizer.json': tokenizerJson,
    'optimizer.safetensors': optimizer, // a plain tensor record is accepted too
    'trainer_state.json': { step, rngOffset: step * 1000, history: [0.9, 0.5, step / 1000] },
  };
}

let tmp: string;
let tokenizerJson: unknown;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mtrl-ck-'));
  tokenizerJson = trainBpeJSON(['hello world', 'judge the image', 'hello judge'], { vocabSize: 280 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function expectStep(dir: string, step: number) {
  const ck = loadCheckpointFolder(dir);
  expect(ck.json<{ step: number }>('trainer_state.json').step).toBe(step);
  const want = makeCheckpoint(step);
  const model = ck.safetensors('model.safetensors');
  expect(model.metadata).toEqual({ step: String(step) });
  for (const [name, t] of Object.entries(want['model.safetensors'].tensors)) {
    const got = model.tensors[name]!;
    expect(got.shape).toEqual(t.shape);
    expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(true);
  }
  return ck;
}

describe('save and load', () => {
  it('round-trips a full checkpoint bit-exactly, with a manifest of sizes and sha256', () => {
    const dir = path.join(tmp, 'rt', 'ckpt');
    const manifest = saveCheckpointFolder(dir, makeCheckpoint(1));
    const ck = expectStep(dir, 1);
    expect(ck.recovered).toBe(false);
    expect(ck.path).toBe(path.resolve(dir));
    expect(ck.json('config.json')).toEqual({ dModel: 16, nLayers: 1, vocabSize: 300 });
    expect(Array.from(ck.safetensors('optimizer.safetensors').tensors.step!.data)).toEqual([1]);
    // The tokenizer survives the trip and still works.
    const tok = tokenizerFromJSON(ck.json('tokenizer.json'));
    expect(tok.decode(tok.encode('hello judge <eos>'))).toBe('hello judge <eos>');
    // Manifest entries match an independent hash of the files on disk.
    expect(Object.keys(manifest.files).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'trainer_state.json']);
    for (const [name, info] of Object.entries(manifest.files)) {
      const bytes = fs.readFileSync(path.join(dir, name));
      expect(info.bytes).toBe(bytes.length);
      expect(info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    expect(ck.manifest).toEqual(manifest);
    expect(fs.readdirSync(dir).sort()).toEqual([MANIFEST_NAME, ...Object.keys(manifest.files)].sort());
  });

  it('overwrites an existing checkpoint and leaves no temporary or old folders behind', () => {
    const parent = path.join(tmp, 'ow');
    const dir = path.join(parent, 'ckpt');
    saveCheckpointFolder(dir, makeCheckpoint(1));
    saveCheckpointFolder(dir, makeCheckpoint(2));
    saveCheckpointFolder(dir, makeCheckpoint(3));
    expectStep(dir, 3);
    expect(fs.readdirSync(parent)).toEqual(['ckpt']);
  });

  it('loads a subset of files, and raw bytes for other extensions', () => {
    const dir = path.join(tmp, 'subset');
    saveCheckpointFolder(dir, { ...makeCheckpoint(4), 'README.md': '# notes\n', 'blob.bin': new Uint8Array([1, 2, 3]) });
    const ck = loadCheckpointFolder(dir, { files: ['config.json', 'blob.bin', 'README.md'] });
    expect(Object.keys(ck.files)).toEqual(['config.json', 'blob.bin', 'README.md']);
    expect(Array.from(ck.bytes('blob.bin'))).toEqual([1, 2, 3]);
    expect(ck.bytes('README.md').toString()).toBe('# notes\n');
    expect(ck.has('model.safetensors')).toBe(false);
    expect(() => ck.safetensors('model.safetensors')).toThrow(/has no file 'model\.safetensors' \(loaded: config\.json, blob\.bin, README\.md\)/);
    expect(() => ck.bytes('config.json')).toThrow(/was parsed/);
  });
});

describe('crash safety', () => {
  const STAGES: [CheckpointSaveStage, string | undefined, 'old' | 'new'][] = [
    ['tmp-created', undefined, 'old'],
    ['file-partial', 'model.safetensors', 'old'],
    ['file-written', 'model.safetensors', 'old'],
    ['file-partial', 'trainer_state.json', 'old'],
    ['file-written', 'trainer_state.json', 'old'],
    ['manifest-written', undefined, 'old'],
    ['old-moved', undefined, 'old'],
    ['committed', undefined, 'new'],
    ['cleaned', undefined, 'new'],
  ];
  for (const [stage, detail, expectVersion] of STAGES) {
    it(`a failure at '${stage}'${detail ? ` (${detail})` : ''} leaves the ${expectVersion} checkpoint loadable, and the next save works`, () => {
      const parent = fs.mkdtempSync(path.join(tmp, 'crash-'));
      const dir = path.join(parent, 'ckpt');
      saveCheckpointFolder(dir, makeCheckpoint(10));
      expect(() =>
        saveCheckpointFolder(dir, makeCheckpoint(11), {
          onStage: (s, d) => {
            if (s === stage && (detail === undefined || d === detail)) throw new Error(`injected crash at ${s}`);
          },
        }),
      ).toThrow(`injected crash at ${stage}`);
      const ck = expectStep(dir, expectVersion === 'old' ? 10 : 11);
      expect(ck.recovered).toBe(false); // rolled back in place, not just recoverable
      expect(fs.readdirSync(parent)).toEqual(['ckpt']);
      saveCheckpointFolder(dir, makeCheckpoint(12));
      expectStep(dir, 12);
    });
  }

  it('the very first save failing leaves nothing that looks like a checkpoint', () => {
    const parent = fs.mkdtempSync(path.join(tmp, 'first-'));
    const dir = path.join(parent, 'ckpt');
    expect(() => saveCheckpointFolder(dir, makeCheckpoint(1), { onStage: (s) => { if (s === 'manifest-written') throw new Error('boom'); } })).toThrow('boom');
    expect(fs.readdirSync(parent)).toEqual([]);
    expect(() => loadCheckpointFolder(dir)).toThrow(/checkpoint '.*ckpt' does not exist/);
  });

  /** Runs a save of step 21 over step 20 in a child process that SIGKILLs itself at `stage`. */
  function killDuringSave(stage: CheckpointSaveStage, detail?: string): string {
    const parent = fs.mkdtempSync(path.join(tmp, 'kill-'));
    const dir = path.join(parent, 'ckpt');
    saveCheckpointFolder(dir, makeCheckpoint(20));
    const lib = pathToFileURL(path.resolve('lib/model/checkpoint-files.ts')).href;
    const script = path.join(tmp, `child-${path.basename(parent)}.ts`);
    fs.writeFileSync(
      script,
      `import { saveCheckpointFolder } from ${JSON.stringify(lib)};\n` +
        `const big = new Float32Array(1 << 20).fill(3);\n` +
        `saveCheckpointFolder(${JSON.stringify(dir)}, { 'model.safetensors': { w: { dtype: 'f32', shape: [big.length], data: big } }, 'trainer_state.json': { step: 21 } }, {\n` +
        `  onStage: (s, d) => { if (s === ${JSON.stringify(stage)} && (${JSON.stringify(detail ?? null)} === null || d === ${JSON.stringify(detail ?? null)})) process.kill(process.pid, 'SIGKILL'); },\n});\n`,
    );
    const res = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    return dir;
  }

  it('a real crash half-way through writing model.safetensors: the previous checkpoint loads unchanged', () => {
    const dir = killDuringSave('file-partial', 'model.safetensors');
    const ck = expectStep(dir, 20);
    expect(ck.recovered).toBe(false);
    // The torn temporary folder is left beside it; the next save sweeps it away.
    expect(fs.readdirSync(path.dirname(dir)).some((n) => n.startsWith('ckpt.tmp-'))).toBe(true);
    saveCheckpointFolder(dir, makeCheckpoint(22));
    expectStep(dir, 22);
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['ckpt']);
  });

  it('a real crash between the two renames (no folder at the path): load recovers the previous checkpoint', () => {
    const dir = killDuringSave('old-moved');
    expect(fs.existsSync(dir)).toBe(false);
    const ck = expectStep(dir, 20);
    expect(ck.recovered).toBe(true);
    expect(path.basename(ck.path)).toMatch(/^ckpt\.old-/);
    // recoverCheckpointFolder puts it back; a later save also would.
    expect(recoverCheckpointFolder(dir)).toBe(true);
    expect(recoverCheckpointFolder(dir)).toBe(false);
    expect(expectStep(dir, 20).recovered).toBe(false);
    saveCheckpointFolder(dir, makeCheckpoint(23));
    expectStep(dir, 23);
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['ckpt']);
  });
});

describe('two crashes in a row never roll the checkpoint back', () => {
  // Crash points of the save protocol (each stage the hook reports, for the first and the last file).
  const POINTS: [CheckpointSaveStage, string | undefined][] = [
    ['tmp-created', undefined],
    ['file-partial', 'model.safetensors'],
    ['file-written', 'trainer_state.json'],
    ['manifest-written', undefined],
    ['old-moved', undefined],
    ['committed', undefined],
    ['cleaned', undefined],
  ];
  const committedAt = (s: CheckpointSaveStage) => s === 'committed' || s === 'cleaned';
  const label = ([s, d]: [CheckpointSaveStage, string | undefined]) => (d ? `${s}(${d})` : s);

  /**
   * Saves `step` over `dir` and simulates `kill -9` at `point`: the whole parent folder is copied at
   * that instant, the save is aborted, and the copy replaces the parent — exactly what the disk holds
   * after a crash there (the in-process rollback never runs).
   */
  function crashSave(dir: string, step: number, point: [CheckpointSaveStage, string | undefined]) {
    const parent = path.dirname(dir);
    const snap = `${parent}-snap`;
    const crash = new Error('simulated kill -9');
    expect(() =>
      saveCheckpointFolder(dir, makeCheckpoint(step), {
        onStage: (s, d) => {
          if (s === point[0] && (point[1] === undefined || d === point[1])) {
            fs.cpSync(parent, snap, { recursive: true });
            throw crash;
          }
        },
      }),
    ).toThrow(crash);
    fs.rmSync(parent, { recursive: true, force: true });
    fs.renameSync(snap, parent);
  }

  it('every pair of crash points (7 × 7): the newest committed version loads, recovery and the next save clean up', () => {
    const failures: string[] = [];
    for (const p1 of POINTS)
      for (const p2 of POINTS) {
        const parent = fs.mkdtempSync(path.join(tmp, 'pair-'));
        const dir = path.join(parent, 'ckpt');
        saveCheckpointFolder(dir, makeCheckpoint(1));
        crashSave(dir, 2, p1);
        crashSave(dir, 3, p2);
        const want = committedAt(p2[0]) ? 3 : committedAt(p1[0]) ? 2 : 1;
        const got = loadCheckpointFolder(dir).json<{ step: number }>('trainer_state.json').step;
        if (got !== want) failures.push(`${label(p1)} then ${label(p2)}: loaded step ${got}, want ${want}`);
        // Repair leaves exactly the newest version at `dir` and nothing else.
        recoverCheckpointFolder(dir);
        const left = fs.readdirSync(parent).filter((n) => !n.startsWith('ckpt.tmp-'));
        if (left.join() !== 'ckpt') failures.push(`${label(p1)} then ${label(p2)}: after recovery the folder holds ${left.join(', ')}`);
        expect(loadCheckpointFolder(dir).recovered).toBe(false);
        expectStep(dir, want);
        saveCheckpointFolder(dir, makeCheckpoint(4));
        expectStep(dir, 4);
        expect(fs.readdirSync(parent)).toEqual(['ckpt']);
        fs.rmSync(parent, { recursive: true, force: true });
      }
    expect(failures).toEqual([]);
  });

  it('the manifest carries a sequence number that grows with every save; recovery ignores folder names', () => {
    const parent = fs.mkdtempSync(path.join(tmp, 'seq-'));
    const dir = path.join(parent, 'ckpt');
    expect(saveCheckpointFolder(dir, makeCheckpoint(1)).sequence).toBe(1);
    expect(saveCheckpointFolder(dir, makeCheckpoint(2)).sequence).toBe(2);
    // Two complete previous versions beside a missing `dir`, the older one with the name that sorts first.
    fs.cpSync(dir, path.join(parent, 'keep-2'), { recursive: true });
    saveCheckpointFolder(dir, makeCheckpoint(3));
    fs.renameSync(dir, path.join(parent, 'ckpt.old-zzzz')); // sequence 3
    fs.renameSync(path.join(parent, 'keep-2'), path.join(parent, 'ckpt.old-aaaa')); // sequence 2
    const ck = loadCheckpointFolder(dir);
    expect(ck.recovered).toBe(true);
    expect(ck.manifest.sequence).toBe(3);
    expectStep(dir, 3);
    expect(recoverCheckpointFolder(dir)).toBe(true);
    expect(fs.readdirSync(parent)).toEqual(['ckpt']);
    // A half-deleted `.old-` folder (manifest left, a file gone) is never chosen, even with a larger sequence.
    const next = saveCheckpointFolder(dir, makeCheckpoint(5));
    expect(next.sequence).toBe(4);
    fs.cpSync(dir, path.join(parent, 'ckpt.old-torn'), { recursive: true });
    const m = JSON.parse(fs.readFileSync(path.join(parent, 'ckpt.old-torn', MANIFEST_NAME), 'utf8'));
    fs.writeFileSync(path.join(parent, 'ckpt.old-torn', MANIFEST_NAME), JSON.stringify({ ...m, sequence: 99 }));
    fs.rmSync(path.join(parent, 'ckpt.old-torn', 'model.safetensors'));
    fs.renameSync(dir, path.join(parent, 'ckpt.old-b'));
    expectStep(dir, 5);
    expect(loadCheckpointFolder(dir).manifest.sequence).toBe(4);
  });

  /** Saves `step` over `dir` in a child process that SIGKILLs itself at `point`. */
  function killDuringSave(dir: string, step: number, point: [CheckpointSaveStage, string | undefined]) {
    const lib = pathToFileURL(path.resolve('lib/model/checkpoint-files.ts')).href;
    const script = path.join(tmp, `kill-${step}-${process.hrtime.bigint()}.ts`);
    const [stage, detail] = point;
    fs.writeFileSync(
      script,
      `import { saveCheckpointFolder } from ${JSON.stringify(lib)};\n` +
        `const big = new Float32Array(1 << 18).fill(${step});\n` +
        `saveCheckpointFolder(${JSON.stringify(dir)}, { 'model.safetensors': { w: { dtype: 'f32', shape: [big.length], data: big } }, 'trainer_state.json': { step: ${step} } }, {\n` +
        `  onStage: (s, d) => { if (s === ${JSON.stringify(stage)} && (${JSON.stringify(detail ?? null)} === null || d === ${JSON.stringify(detail ?? null)})) process.kill(process.pid, 'SIGKILL'); },\n});\n`,
    );
    const res = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(res.signal, res.stderr).toBe('SIGKILL');
  }

  // Real kill -9 of a child process, twice in a row at the same stage, plus the pair the fault probe
  // reported (crash after commit, then between the renames: version 1 used to come back).
  const KILLS: [[CheckpointSaveStage, string | undefined], [CheckpointSaveStage, string | undefined]][] = [
    ...POINTS.filter(([s]) => s !== 'cleaned').map((p) => [p, p] as [typeof p, typeof p]),
    [['committed', undefined], ['old-moved', undefined]],
    [['old-moved', undefined], ['committed', undefined]],
  ];
  it('kill -9 twice in a row at each stage of the save protocol loads the newest complete version', () => {
    for (const [p1, p2] of KILLS) {
      const parent = fs.mkdtempSync(path.join(tmp, 'kill2-'));
      const dir = path.join(parent, 'ckpt');
      saveCheckpointFolder(dir, { 'trainer_state.json': { step: 1 } });
      killDuringSave(dir, 2, p1);
      killDuringSave(dir, 3, p2);
      const want = committedAt(p2[0]) ? 3 : committedAt(p1[0]) ? 2 : 1;
      const ck = loadCheckpointFolder(dir);
      expect(ck.json<{ step: number }>('trainer_state.json').step, `${label(p1)} then ${label(p2)}`).toBe(want);
      if (want > 1) expect(ck.safetensors('model.safetensors').tensors.w!.data[0]).toBe(want);
      saveCheckpointFolder(dir, { 'trainer_state.json': { step: 4 } });
      expect(fs.readdirSync(parent)).toEqual(['ckpt']);
      fs.rmSync(parent, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('files that are not regular files', () => {
  it.runIf(process.platform !== 'win32')('model.safetensors as a symlink to /dev/zero or as a FIFO is refused at once', () => {
    for (const kind of ['dev-zero', 'fifo'] as const) {
      const dir = path.join(tmp, `special-${kind}`);
      saveCheckpointFolder(dir, makeCheckpoint(40));
      const file = path.join(dir, 'model.safetensors');
      fs.rmSync(file);
      if (kind === 'dev-zero') fs.symlinkSync('/dev/zero', file);
      else expect(spawnSync('mkfifo', [file]).status).toBe(0);
      const t0 = performance.now();
      const want = kind === 'dev-zero' ? /'model\.safetensors' is a character device, expected a regular file/ : /'model\.safetensors' is a FIFO \(named pipe\), expected a regular file/;
      expect(() => loadCheckpointFolder(dir)).toThrow(want);
      expect(performance.now() - t0).toBeLessThan(1000);
      // The folder is damaged, so a crash-recovery pass must not treat it as complete either.
      fs.renameSync(dir, `${dir}.old-x`);
      expect(() => loadCheckpointFolder(dir)).toThrow(/does not exist/);
      fs.rmSync(`${dir}.old-x`, { recursive: true, force: true });
    }
  });
});

describe('missing, incomplete and corrupt checkpoints', () => {
  function fresh(name: string): string {
    const dir = path.join(tmp, 'bad', name);
    saveCheckpointFolder(dir, makeCheckpoint(30));
    return dir;
  }

  it('a flipped byte fails the sha256 check; verifyChecksums: false skips it', () => {
    const dir = fresh('flip');
    const file = path.join(dir, 'trainer_state.json');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('"step": 30');
    fs.writeFileSync(file, text.replace('"step": 30', '"step": 31')); // same size, different bytes
    expect(() => loadCheckpointFolder(dir)).toThrow(CheckpointError);
    expect(() => loadCheckpointFolder(dir)).toThrow(/is corrupt: sha256 of 'trainer_state\.json' does not match the manifest/);
    expect(loadCheckpointFolder(dir, { verifyChecksums: false }).json<{ step: number }>('trainer_state.json').step).toBe(31);
  });

  it('a truncated file fails the size check', () => {
    const dir = fresh('trunc');
    const file = path.join(dir, 'model.safetensors');
    fs.truncateSync(file, 100);
    expect(() => loadCheckpointFolder(dir, { verifyChecksums: false })).toThrow(/is corrupt: 'model\.safetensors' is 100 bytes, the manifest says \d+/);
  });

  it('a deleted file, a missing manifest, a required file and a bad manifest are named', () => {
    const dir = fresh('missing');
    fs.rmSync(path.join(dir, 'optimizer.safetensors'));
    expect(() => loadCheckpointFolder(dir)).toThrow(/'optimizer\.safetensors' is listed in the manifest but cannot be read/);
    expect(() => loadCheckpointFolder(dir, { files: ['config.json'], require: ['model.safetensors', 'vision.safetensors'] })).toThrow(
      /is missing required file 'vision\.safetensors' \(has: model\.safetensors, config\.json, tokenizer\.json, optimizer\.safetensors, trainer_state\.json\)/,
    );
    expect(() => loadCheckpointFolder(dir, { files: ['nope.json'] })).toThrow(/has no file 'nope\.json'/);
    fs.writeFileSync(path.join(dir, MANIFEST_NAME), '{"format": "something-else", "files": {}}');
    expect(() => loadCheckpointFolder(dir)).toThrow(/manifest\.json that is not an mtrl-judge-checkpoint manifest/);
    fs.writeFileSync(path.join(dir, MANIFEST_NAME), '{ broken');
    expect(() => loadCheckpointFolder(dir)).toThrow(/manifest\.json that is not valid JSON/);
    fs.writeFileSync(path.join(dir, MANIFEST_NAME), JSON.stringify({ format: 'mtrl-judge-checkpoint', version: 1, files: { '../escape': { bytes: 1, sha256: '0'.repeat(64) } } }));
    expect(() => loadCheckpointFolder(dir)).toThrow(/manifest names an invalid file "\.\.\/escape"/);
    fs.writeFileSync(path.join(dir, MANIFEST_NAME), JSON.stringify({ format: 'mtrl-judge-checkpoint', version: 99, files: {} }));
    expect(() => loadCheckpointFolder(dir)).toThrow(/manifest version 99; this build reads up to 1/);
    fs.rmSync(path.join(dir, MANIFEST_NAME));
    expect(() => loadCheckpointFolder(dir)).toThrow(/is incomplete: manifest\.json is missing/);
    expect(() => loadCheckpointFolder(path.join(tmp, 'bad', 'never-saved'))).toThrow(/does not exist/);
    fs.writeFileSync(path.join(tmp, 'bad', 'afile'), 'x');
    expect(() => loadCheckpointFolder(path.join(tmp, 'bad', 'afile'))).toThrow(/is not a folder/);
  });

  it('a hostile safetensors file inside a checkpoint is rejected by the safetensors validator', () => {
    const dir = path.join(tmp, 'bad', 'hostile');
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }));
    const bytes = Buffer.concat([Buffer.alloc(8), header, Buffer.alloc(8)]);
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    saveCheckpointFolder(dir, { 'model.safetensors': bytes, 'config.json': {} });
    expect(() => loadCheckpointFolder(dir)).toThrow(/model\.safetensors': tensor 'w': data_offsets \[0, 8\] span 8 bytes but shape \[4\] of F32 needs 16/);
  });
});

describe('bad arguments', () => {
  it('are rejected before anything is written', () => {
    const dir = path.join(tmp, 'args', 'ckpt');
    expect(() => saveCheckpointFolder(dir, {})).toThrow(/saveCheckpointFolder: files is empty/);
    expect(() => saveCheckpointFolder(dir, { 'a/b.json': {} })).toThrow(/file name "a\/b\.json" must be a plain name/);
    expect(() => saveCheckpointFolder(dir, { '..': {} })).toThrow(/must be a plain name/);
    expect(() => saveCheckpointFolder(dir, { '.hidden': 'x' })).toThrow(/must be a plain name/);
    expect(() => saveCheckpointFolder(dir, { 'manifest.json': {} })).toThrow(/'manifest\.json' is written by the checkpoint itself/);
    expect(() => saveCheckpointFolder(dir, { 'state.json': { n: 1n } })).toThrow(/files\['state\.json'\] is not JSON-serialisable/);
    expect(() => saveCheckpointFolder(dir, { 'state.json': undefined })).toThrow(/is not JSON-serialisable \(got undefined\)/);
    expect(() => saveCheckpointFolder(dir, { 'blob.bin': { a: 1 } })).toThrow(/files\['blob\.bin'\] must be a Uint8Array or string/);
    expect(() => saveCheckpointFolder(dir, { 'm.safetensors': { w: { dtype: 'f32', shape: [2], data: new Float32Array(3) } } })).toThrow(
      /saveCheckpointFolder: files\['m\.safetensors'\]: tensors\['w'\]\.data has 3 elements but shape \[2\] needs 2/,
    );
    expect(() => saveCheckpointFolder('', { 'a.json': 1 })).toThrow(/dir must be a non-empty string/);
    expect(() => saveCheckpointFolder(dir, null as unknown as Record<string, unknown>)).toThrow(/files must be an object/);
    expect(() => loadCheckpointFolder(42 as unknown as string)).toThrow(/loadCheckpointFolder: dir must be a non-empty string/);
    expect(fs.existsSync(path.join(tmp, 'args'))).toBe(false);
  });
});
