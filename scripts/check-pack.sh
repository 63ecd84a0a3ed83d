#!/usr/bin/env bash
# Packaging check: build the prebuilt binary (prebuildify --napi --strip), pack the package, install
# the tarball into an empty project and load it from CommonJS and ESM, proving that the install used
# the prebuilt binary and compiled nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
npm run prebuild >/dev/null
ls prebuilds/*/ >/dev/null
tmp=$(mktemp -d)
tgz=$(npm pack --silent --pack-destination "$tmp" | tail -n 1)
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund "./$tgz" >/dev/null 2>install.log || { cat install.log; exit 1; }
pkg=node_modules/mtrl-judge
if [ -d "$pkg/build" ]; then
  echo "check-pack: the install compiled the addon (found $pkg/build) instead of using the prebuilt binary" >&2
  exit 1
fi
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
node use.cjs | grep -q 'prebuilds/' || { echo "check-pack: loaded something other than the prebuilt binary" >&2; exit 1; }
echo "check-pack: ok ($(du -h "$tgz" | cut -f1) tarball, prebuilt binary loaded without compiling)"
rm -rf "$tmp"
