// Loads the native addon. Order: an explicit MTRL_ADDON path, then the full cmake-js build
// (build-cmake/, CPU + CUDA), then node-gyp-build (build/Release, then prebuilds/<platform>-<arch>).
// On failure the error says whether no binary exists (where it looked, how to build one) or a binary
// exists but failed to load (its error and the likely cause), and what to do about it.
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
  /** The binary (when one was found) or the places looked in. */
  path: string;
  error: string;
  /** True when a binary exists at `path` but loading it failed; false when nothing was there. */
  found: boolean;
}

let loaded: { addon: NativeAddon; path: string } | undefined;

/** Where the loader looks, in order; resolve() returns a binary's path or throws when there is none. */
function candidates(): Array<{ label: string; resolve: () => string }> {
  const explicit = process.env.MTRL_ADDON;
  if (explicit) {
    const p = path.resolve(explicit);
    return [
      {
        label: p + ' (MTRL_ADDON)',
        resolve: () => {
          if (!existsSync(p)) throw new Error('no such file');
          return p;
        },
      },
    ];
  }
  const cmake = path.join(packageRoot, 'build-cmake', 'Release', 'mtrl.node');
  return [
    {
      label: cmake + ' (npm run build:native)',
      resolve: () => {
        if (!existsSync(cmake)) throw new Error('not built');
        return cmake;
      },
    },
    {
      label: [
        path.join(packageRoot, 'build', 'Release', 'mtrl.node'),
        path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, '*.node'),
      ].join(', '),
      resolve: () => {
        const ngb = require('node-gyp-build') as { resolve(dir: string): string };
        return ngb.resolve(packageRoot);
      },
    },
  ];
}

function firstLine(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

const BUILD_TIPS = [
  'Installed as a dependency: `npm rebuild mtrl-judge` compiles the CPU addon (needs python3, make and a C++17 compiler).',
  'From a source checkout: `npm run build:gyp` (CPU) or `npm run build:native` (CPU + CUDA, needs cmake).',
];

/**
 * The loader's error text. Two cases, worded differently: no binary exists at all (where it looked and
 * how to build one), or a binary exists but the dynamic loader refused it (which binary, its error and
 * the likely cause: a C/C++ runtime older than the build machine's, another platform, another Node ABI).
 */
export function describeLoadFailure(
  attempts: readonly LoadAttempt[],
  where: { platform: string; arch: string; node: string } = {
    platform: process.platform,
    arch: process.arch,
    node: process.version,
  },
): string {
  const target = `${where.platform}-${where.arch}, Node ${where.node}`;
  const list = (xs: readonly LoadAttempt[]) => xs.map((e) => `  * ${e.path}\n      ${e.error}`).join('\n');
  const bullets = (xs: string[]) => xs.map((t) => '  - ' + t).join('\n');
  const failed = attempts.filter((a) => a.found);
  const missing = attempts.filter((a) => !a.found);
  if (failed.length === 0) {
    return (
      `mtrl-judge: no native addon binary was found (${target}).\n` +
      `Looked in:\n${list(missing)}\n` +
      `How to build one:\n${bullets(BUILD_TIPS)}`
    );
  }
  const text = failed.map((e) => e.error).join('\n');
  const tips: string[] = [];
  if (/(GLIBC|GLIBCXX|CXXABI)_[0-9.]+'? not found|version [`'](GLIBC|GLIBCXX|CXXABI)/i.test(text))
    tips.push(
      'The binary needs a newer C/C++ runtime (glibc/libstdc++) than this system has: rebuild it here with `npm rebuild mtrl-judge`.',
    );
  if (/musl|Error relocating|symbol not found/i.test(text))
    tips.push('The binary was built for glibc but this system uses musl (e.g. Alpine): rebuild it with `npm rebuild mtrl-judge`.');
  if (/invalid ELF|wrong ELF class|not a valid Win32|mach-o|file too short/i.test(text))
    tips.push('The binary is for another platform or architecture (or truncated): delete it and rebuild with `npm rebuild mtrl-judge`.');
  if (/NODE_MODULE_VERSION|napi|undefined symbol/i.test(text))
    tips.push(`The binary does not match this Node (${where.node}) or was built from other sources: rebuild it.`);
  if (tips.length === 0) tips.push('Rebuild the binary for this machine:');
  return (
    `mtrl-judge: a native addon binary was found but failed to load (${target}).\n` +
    `${list(failed)}\n` +
    `What to do:\n${bullets([...tips, ...BUILD_TIPS])}` +
    (missing.length ? `\nAlso looked in (nothing there):\n${list(missing)}` : '')
  );
}

/** Loads (once) and returns the native addon, or throws an error that explains what was tried. */
export function native(): NativeAddon {
  if (loaded) return loaded.addon;
  // OpenMP threads that busy-wait between parallel regions steal the cores from everything else on a
  // shared or oversubscribed machine (measured here: a 30 ms forward pass became 1.5 s). Sleep
  // instead unless the user chose otherwise (OMP_WAIT_POLICY, or a bounded spin with GOMP_SPINCOUNT);
  // libgomp reads this when the addon is loaded.
  if (process.env.GOMP_SPINCOUNT === undefined) process.env.OMP_WAIT_POLICY ??= 'passive';
  const errors: LoadAttempt[] = [];
  for (const c of candidates()) {
    let p: string;
    try {
      p = c.resolve();
    } catch (err) {
      errors.push({ path: c.label, error: firstLine(err), found: false });
      continue;
    }
    try {
      loaded = { addon: require(p) as NativeAddon, path: p };
      return loaded.addon;
    } catch (err) {
      errors.push({ path: p, error: firstLine(err), found: true });
    }
  }
  const e = new Error(describeLoadFailure(errors));
  (e as Error & { attempts?: LoadAttempt[] }).attempts = errors;
  throw e;
}

/** Path of the loaded addon binary (loads it if needed). */
export function nativePath(): string {
  native();
  return loaded!.path;
}
