#!/usr/bin/env bash
# Packaging check: plain `npm pack` (its prepack script builds the prebuilt binary with prebuildify
# --napi --strip), check what the tarball holds, install it into an empty project with compiling made
# impossible (MAKE, CC and CXX point at `false`), and load it from CommonJS and ESM, proving that the
# install used the prebuilt binary.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check-pack: $*" >&2; exit 1; }
tmp=$(mktemp -d)
target=$(node -p 'process.platform + "-" + process.arch')
t0=$(date +%s)
tgz=$(npm pack --silent --pack-destination "$tmp" 2>"$tmp/pack.log" | tail -n 1) || { cat "$tmp/pack.log"; fail "npm pack failed"; }
[ -f "$tmp/$tgz" ] || { cat "$tmp/pack.log"; fail "npm pack wrote no tarball"; }
t1=$(date +%s)
tar -tzf "$tmp/$tgz" >"$tmp/contents.txt"
grep -Eq "^package/prebuilds/$target/[^/]+\.node$" "$tmp/contents.txt" || fail "the tarball has no prebuilds/$target/*.node"
for unwanted in package/native/tests/ package/native/bench/ package/native/cuda_emu/ package/models/base.metrics.jsonl package/build/ package/test/; do
  if grep -q "^$unwanted" "$tmp/contents.txt"; then fail "the tarball contains $unwanted"; fi
done
cd "$tmp"
npm init -y >/dev/null
# Any attempt to compile (node-gyp-build falling back to node-gyp) fails the install.
MAKE=false CC=false CXX=false npm install --no-audit --no-fund "./$tgz" >/dev/null 2>install.log || { cat install.log; fail "installing the tarball failed (or tried to compile)"; }
t2=$(date +%s)
pkg=node_modules/mtrl-judge
[ ! -d "$pkg/build" ] || fail "the install compiled the addon (found $pkg/build) instead of using the prebuilt binary"
cat > use.cjs <<'JS'
const m = require('mtrl-judge');
const t = m.Tensor.fromArray([1, 2, 3], [3]);
console.log('cjs', Array.from(m.add(t, t).toArray()).join(','), require('path').relative(process.cwd(), m.nativePath()));
JS
cat > use.mjs <<'JS'
import { Tensor, cudaAvailable } from 'mtrl-judge';
console.log('esm', Tensor.zeros([2, 2]).numel, cudaAvailable().reason || 'cuda available');
JS
node use.cjs
node use.mjs
node use.cjs | grep -q 'prebuilds/' || fail "loaded something other than the prebuilt binary"
files=$(wc -l <"$tmp/contents.txt")
echo "check-pack: ok ($tgz: $(du -h "$tgz" | cut -f1), $files files, prebuilt $(grep -E "^package/prebuilds/" "$tmp/contents.txt" | sed 's|^package/||' | tr '\n' ' '); npm pack $((t1 - t0))s, install $((t2 - t1))s without compiling)"
rm -rf "$tmp"
