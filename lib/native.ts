// Loads the native addon. Order: an explicit MTRL_ADDON path, then the full cmake-js build
// (build-cmake/, CPU + CUDA), then node-gyp-build (build/Release, then prebuilds/<platform>-<arch>).
// On failure the error lists every path tried, the error each gave, and what to do about it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from './addon.js';

const require = createRequire(import.meta.url);

/** Root of the installed package (this file lives in lib/ or dist/). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type { NativeTensorHandle, NativeCore, NativeAddon } from './addon.js';

export interface LoadAttempt {
  path: string;
  error: string;
}

let loaded: { addon: NativeAddon; path: string } | undefined;

function candidates(): Array<{ label: string; load: () => { addon: unknown; path: string } }> {
  const list: Array<{ label: string; load: () => { addon: unknown; path: string } }> = [];
  const explicit = process.env.MTRL_ADDON;
  if (explicit) {
    const p = path.resolve(explicit);
    list.push({ label: p + ' (MTRL_ADDON)', load: () => ({ addon: require(p), path: p }) });
    return list;
  }
  const cmake = path.join(packageRoot, 'build-cmake', 'Release', 'mtrl.node');
  if (existsSync(cmake)) list.push({ label: cmake, load: () => ({ addon: require(cmake), path: cmake }) });
  list.push({
    label: `node-gyp-build(${packageRoot}): build/Release/mtrl.node, prebuilds/${process.platform}-${process.arch}/*.node`,
    load: () => {
      const ngb = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
      const p = ngb.resolve(packageRoot);
      return { addon: require(p), path: p };
    },
  });
  return list;
}

function advice(errors: LoadAttempt[]): string {
  const text = errors.map((e) => e.error).join('\n');
  const tips: string[] = [];
  if (/GLIBC|GLIBCXX|musl/i.test(text))
    tips.push('The prebuilt binary needs a newer C/C++ runtime (libc/libstdc++) than this system has: rebuild from source.');
  if (/No native build was found/i.test(text))
    tips.push('No binary matches this platform: build one with `npm rebuild mtrl-judge` (needs python3, make and a C++17 compiler).');
  if (/invalid ELF|wrong ELF class|not a valid Win32|mach-o/i.test(text))
    tips.push('A binary for another platform or architecture was found: delete build/ and rebuild with `npm rebuild mtrl-judge`.');
  tips.push('From a source checkout: `npm run build:gyp` (CPU) or `npm run build:native` (CPU + CUDA, needs cmake).');
  return tips.map((t) => '  - ' + t).join('\n');
}

/** Loads (once) and returns the native addon, or throws an error that explains what was tried. */
export function native(): NativeAddon {
  if (loaded) return loaded.addon;
  // OpenMP threads that busy-wait between parallel regions steal the cores from everything else on a
  // shared or oversubscribed machine (measured here: a 30 ms forward pass became 1.5 s). Sleep
  // instead unless the user chose otherwise; libgomp reads this when the addon is loaded.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  const errors: LoadAttempt[] = [];
  for (const c of candidates()) {
    try {
      const r = c.load();
      loaded = { addon: r.addon as NativeAddon, path: r.path };
      return loaded.addon;
    } catch (err) {
      errors.push({ path: c.label, error: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
    }
  }
  const lines = errors.map((e) => `  * ${e.path}\n      ${e.error}`).join('\n');
  const e = new Error(
    `mtrl-judge: could not load the native addon (${process.platform}-${process.arch}, Node ${process.version}).\n` +
      `Tried:\n${lines}\nWhat to do:\n${advice(errors)}`,
  );
  (e as Error & { attempts?: LoadAttempt[] }).attempts = errors;
  throw e;
}

/** Path of the loaded addon binary (loads it if needed). */
export function nativePath(): string {
  native();
  return loaded!.path;
}
