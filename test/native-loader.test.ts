// The loader's error message: "no binary at all" (where it looked, how to build one) must read
// differently from "a binary exists but the dynamic loader refused it" (which binary, its error, the
// likely cause). node-gyp-build's "not found" text contains "libc=glibc", which once made the message
// lead with "needs a newer C/C++ runtime" when nothing had been built.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeLoadFailure, native, type LoadAttempt } from '../lib/native.js';

const where = { platform: 'linux', arch: 'x64', node: 'v20.19.0' };
const notBuilt: LoadAttempt = { path: '/pkg/build-cmake/Release/mtrl.node (npm run build:native)', error: 'not built', found: false };
const ngbMissing: LoadAttempt = {
  path: '/pkg/build/Release/mtrl.node, /pkg/prebuilds/linux-x64/*.node',
  error: 'No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=glibc node=20.19.0',
  found: false,
};

describe('native loader error message', () => {
  it('no binary anywhere: says so, lists the places, says how to build, no runtime-version advice', () => {
    const msg = describeLoadFailure([notBuilt, ngbMissing], where);
    expect(msg.split('\n')[0]).toBe('mtrl-judge: no native addon binary was found (linux-x64, Node v20.19.0).');
    expect(msg).toContain('/pkg/prebuilds/linux-x64/*.node');
    expect(msg).toContain('/pkg/build-cmake/Release/mtrl.node');
    expect(msg).toContain('npm rebuild mtrl-judge');
    expect(msg).not.toMatch(/newer C\/C\+\+ runtime|failed to load/);
  });

  it('binary found but the system runtime is too old: names the binary, its error and the cause', () => {
    const old: LoadAttempt = {
      path: '/pkg/prebuilds/linux-x64/mtrl-judge.node',
      error: "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by /pkg/prebuilds/linux-x64/mtrl-judge.node)",
      found: true,
    };
    const msg = describeLoadFailure([notBuilt, old], where);
    expect(msg.split('\n')[0]).toBe('mtrl-judge: a native addon binary was found but failed to load (linux-x64, Node v20.19.0).');
    expect(msg).toContain("GLIBCXX_3.4.32' not found");
    expect(msg).toContain('needs a newer C/C++ runtime');
    expect(msg).toContain('Also looked in (nothing there)');
  });

  it('binary for another platform: no runtime-version advice', () => {
    const bad: LoadAttempt = { path: '/x/mtrl.node', error: '/x/mtrl.node: invalid ELF header', found: true };
    const msg = describeLoadFailure([bad], where);
    expect(msg).toContain('another platform or architecture');
    expect(msg).not.toContain('newer C/C++ runtime');
  });
});

describe('native() with MTRL_ADDON', () => {
  const saved = process.env.MTRL_ADDON;
  afterEach(() => {
    if (saved === undefined) delete process.env.MTRL_ADDON;
    else process.env.MTRL_ADDON = saved;
  });

  it('a path with no file: "no native addon binary was found"', () => {
    process.env.MTRL_ADDON = path.join(os.tmpdir(), 'mtrl-no-such-dir', 'mtrl.node');
    expect(() => native()).toThrow(/^mtrl-judge: no native addon binary was found[^]*mtrl-no-such-dir[^]*no such file/);
  });

  it('a file that is not a shared library: "found but failed to load" with the loader error', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'mtrl-loader-')), 'mtrl.node');
    writeFileSync(file, 'not an ELF file\n'.repeat(100));
    process.env.MTRL_ADDON = file;
    expect(() => native()).toThrow(/^mtrl-judge: a native addon binary was found but failed to load[^]*invalid ELF header[^]*another platform/);
  });
});
