#!/usr/bin/env bash
# Reproduces the shipped base model (models/base) in ten stages (lib/data/instruct.ts has the corpus
# versions; docs/training.md says what each stage did):
#   1. 5000 steps on instruction corpus version 1, from scratch (captions, VQA, judging concepts);
#   2. 2000 steps on version 2 (closed questions all ask for the good side);
#   3. 3000 steps on version 3 (perception: what is drawn where, hard negatives, two-picture notes);
#   4. 4000 more steps on version 3 with new items (corpus seed 4);
#   5. the image tokens widened to 8×8 pixel windows over their 4×4 patches (function-preserving),
#      then 4000 more steps on version 3 (corpus seed 6);
#   6. 4000 steps on version 4 (two-picture notes marked with whether each picture fits, and
#      note-matching questions; corpus seed 9);
#   7. 4000 steps on version 4 with note matching at 40 % of the mix instead of 10 % (corpus seed 11);
#   8. 4000 more such steps with new items (corpus seed 13);
#   9. 4000 steps with the corpus's two-picture alignment items ("which picture shows …") weighted 0.3
#      as well (19 % of the mix instead of 4 %; corpus seed 23);
#  10. 2000 more such steps with new items (corpus seed 24).
# About 46 + 13 + 24 + 33 + 31 + 30 + 26 + 28 minutes on the AVX-512 development machine and 64 + 33
# for stages 9–10 on a slower AVX2 one, one core each.
# Usage: npm run pretrain [-- OUT_DIR]   (default models/base; stage k goes to OUT_DIR-stageK)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/base}
run() { node dist/cli/main.js pretrain --batch-size 32 "$@"; }
run --out "$out-stage1" --corpus-version 1 --steps 5000 --lr 2e-3 --corpus-size 30000 --seed 0
run --init "$out-stage1" --out "$out-stage2" --corpus-version 2 --steps 2000 --lr 1e-3 --corpus-size 20000 --seed 1
run --init "$out-stage2" --out "$out-stage3" --corpus-version 3 --steps 3000 --lr 2e-3 --corpus-size 30000 --seed 2
run --init "$out-stage3" --out "$out-stage4" --corpus-version 3 --steps 4000 --lr 1e-3 --corpus-size 30000 --seed 4
run --init "$out-stage4" --out "$out-stage5" --corpus-version 3 --steps 4000 --lr 1e-3 --corpus-size 30000 --seed 6 --patch-window 8
run --init "$out-stage5" --out "$out-stage6" --corpus-version 4 --steps 4000 --lr 1e-3 --corpus-size 30000 --seed 9
nm40='{"note-match":0.4}'
run --init "$out-stage6" --out "$out-stage7" --corpus-version 4 --corpus-mix "$nm40" --steps 4000 --lr 1e-3 --corpus-size 30000 --seed 11
run --init "$out-stage7" --out "$out-stage8" --corpus-version 4 --corpus-mix "$nm40" --steps 4000 --lr 1e-3 --corpus-size 30000 --seed 13
pa30='{"note-match":0.4,"pair-alignment":0.3}'
run --init "$out-stage8" --out "$out-stage9" --corpus-version 4 --corpus-mix "$pa30" --steps 4000 --lr 1e-3 --corpus-size 30000 --seed 23
run --init "$out-stage9" --out "$out" --corpus-version 4 --corpus-mix "$pa30" --steps 2000 --lr 1e-3 --corpus-size 30000 --seed 24
# One training log for all ten stages, each record tagged with its stage (stage 1 untagged).
node -e '
const fs = require("fs");
const [out] = process.argv.slice(1);
const stages = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => out + "-stage" + k);
const files = [...stages, out].map((f) => f + ".metrics.jsonl");
const lines = files.flatMap((f, i) => fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => {
  const r = JSON.parse(l);
  return JSON.stringify(i === 0 ? r : { type: r.type, stage: i + 1, ...r });
}));
fs.writeFileSync(out + ".metrics.all.jsonl", lines.join("\n") + "\n");
' "$out"
echo "base model: $out (stages: $out-stage1 … $out-stage9; training log of all ten: $out.metrics.all.jsonl)"
