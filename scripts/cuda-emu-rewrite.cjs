// Turns a CUDA source (native/cuda/*.cu) into plain C++ for the HIP-CPU emulated build: kernel launches
// `k<<<grid, block[, smem[, stream]]>>>(args)` become `hipLaunchKernelGGL((k), dim3(grid), dim3(block),
// smem, stream, args)`, `extern __shared__ T x[];` becomes a pointer to the launch's dynamic shared
// memory and each static `__shared__ T x[..];` a reference to an exactly-sized per-block heap object
// (so AddressSanitizer sees overruns). Line numbers are kept and a #line directive names the .cu
// file, so compiler errors and sanitizer reports point at the real source. The .cu files stay the
// single source: the output goes to the build folder.
// Usage: node scripts/cuda-emu-rewrite.cjs IN.cu OUT.cc
'use strict';
const fs = require('fs');
const path = require('path');

function fail(file, src, at, msg) {
  const line = src.slice(0, at).split('\n').length;
  throw new Error(`${file}:${line}: ${msg}`);
}

// Index just past the bracket that closes the one at `open` (handles (), [], {} and string literals).
function matchClose(src, open, file) {
  const pairs = { '(': ')', '[': ']', '{': '}' };
  const stack = [];
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '"' || c === "'") {
      for (i++; i < src.length && src[i] !== c; i++) if (src[i] === '\\') i++;
      continue;
    }
    if (pairs[c]) stack.push(pairs[c]);
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) fail(file, src, i, `unbalanced '${c}'`);
      if (stack.length === 0) return i + 1;
    }
  }
  fail(file, src, open, 'unterminated bracket');
}

// Splits at commas outside (), [], {}.
function splitTop(s) {
  const out = [];
  let depth = 0, cur = '';
  for (const c of s) {
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((x) => x.trim());
}

// Start of the kernel expression that ends at `end` (exclusive): an identifier, possibly qualified,
// possibly with template arguments (`ns::kernel<T, 4>`).
function kernelStart(src, end) {
  let i = end;
  while (i > 0 && /\s/.test(src[i - 1])) i--;
  for (;;) {
    if (src[i - 1] === '>') {
      let depth = 0;
      for (i--; i >= 0; i--) {
        if (src[i] === '>') depth++;
        else if (src[i] === '<' && --depth === 0) break;
      }
      while (i > 0 && /\s/.test(src[i - 1])) i--;
    }
    while (i > 0 && /[\w]/.test(src[i - 1])) i--;
    if (src.slice(i - 2, i) === '::') i -= 2;
    else return i;
  }
}

function rewriteLaunches(src, file) {
  let out = '';
  let pos = 0;
  for (;;) {
    const lt = src.indexOf('<<<', pos);
    if (lt < 0) break;
    const k0 = kernelStart(src, lt);
    const kernel = src.slice(k0, lt).trim();
    if (!kernel) fail(file, src, lt, 'no kernel name before <<<');
    const gt = src.indexOf('>>>', lt);
    if (gt < 0) fail(file, src, lt, 'no >>> after <<<');
    const cfg = splitTop(src.slice(lt + 3, gt));
    if (cfg.length < 2 || cfg.length > 4) fail(file, src, lt, `launch configuration needs 2 to 4 values, got ${cfg.length}`);
    let a = gt + 3;
    while (/\s/.test(src[a])) a++;
    if (src[a] !== '(') fail(file, src, a, 'expected ( after >>>');
    const close = matchClose(src, a, file);
    const args = src.slice(a + 1, close - 1);
    const [grid, block, smem = '0', stream = 'nullptr'] = cfg;
    out += src.slice(pos, k0);
    out += `hipLaunchKernelGGL((${kernel}), dim3(${grid}), dim3(${block}), static_cast<std::uint32_t>(${smem}), ` +
      `static_cast<hipStream_t>(${stream})${args.trim() ? ', ' + args : ''})`;
    pos = close;
  }
  return out + src.slice(pos);
}

function rewriteShared(src, file) {
  let tag = 0;
  // extern __shared__ T name[];
  src = src.replace(/extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([\w:<> ]+?)\s+(\w+)\s*\[\s*\]\s*;/g,
    (_, type, name) => `MTRL_EMU_DYNAMIC_SHARED(${type}, ${name});`);
  // __shared__ [__align__(N)] TYPE name[d1][d2]...;  (one declarator per statement)
  src = src.replace(/__shared__\s+(?:__align__\(\s*(\d+)\s*\)\s+)?([\w:<> ]+?)\s+(\w+)\s*((?:\[[^\]\n]+\]\s*)*);/g,
    (_, align, type, name, dims) =>
      `auto& ${name} = ::mtrl_emu::shared_var<${type}${dims.replace(/\s+/g, '')}, ${tag++}, ${align || `alignof(${type})`}>();`);
  const left = src.search(/__shared__/);
  if (left >= 0) fail(file, src, left, '__shared__ declaration the rewriter does not understand (one declarator per statement)');
  return src;
}

function main() {
  const [inFile, outFile] = process.argv.slice(2);
  if (!inFile || !outFile) {
    console.error('usage: node scripts/cuda-emu-rewrite.cjs IN.cu OUT.cc');
    process.exit(2);
  }
  const src = fs.readFileSync(inFile, 'utf8');
  const rel = path.relative(path.join(__dirname, '..'), path.resolve(inFile)).split(path.sep).join('/');
  let body;
  try {
    body = rewriteShared(rewriteLaunches(src, rel), rel);
  } catch (e) {
    console.error(`cuda-emu-rewrite: ${e.message}`);
    process.exit(1);
  }
  const header = `// Generated from ${rel} by scripts/cuda-emu-rewrite.cjs for the HIP-CPU emulated build. Do not edit.\n` +
    `#include "mtrl_cuda_emu.h"\n#line 1 "${path.resolve(inFile).split(path.sep).join('/')}"\n`;
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp`;
  fs.writeFileSync(tmp, header + body);
  fs.renameSync(tmp, outFile);
}

main();
