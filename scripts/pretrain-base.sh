#!/usr/bin/env bash
# Reproduces the shipped base model (models/base) in two stages: 5000 steps on instruction corpus
# version 1 from scratch, then 2000 steps on version 2 (good-side questions only; see
# lib/data/instruct.ts) from that checkpoint. About 45 + 13 minutes on a 2-core machine.
# Usage: npm run pretrain [-- OUT_DIR]   (default models/base; the first stage goes to OUT_DIR-stage1)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/base}
node dist/cli/main.js pretrain --out "$out-stage1" --corpus-version 1 --steps 5000 --batch-size 32 --lr 2e-3 --corpus-size 30000 --seed 0
node dist/cli/main.js pretrain --init "$out-stage1" --out "$out" --corpus-version 2 --steps 2000 --batch-size 32 --lr 1e-3 --corpus-size 20000 --seed 1
cat "$out-stage1.metrics.jsonl" "$out.metrics.jsonl" > "$out.metrics.all.jsonl"
echo "base model: $out (stage 1: $out-stage1; training log of both stages: $out.metrics.all.jsonl)"
