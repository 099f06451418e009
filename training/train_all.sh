#!/usr/bin/env bash
# Trains the three models one after another on this machine (CPU or GPU) into models/.
# The committed sentiment and QA models came from training/gpu_train.sh (best of several runs on one GPU); the
# router was trained by its line here on a 2-core CPU (about 11 minutes). Expect hours for QA and sentiment.
# Sentiment comes first: the router's generator uses it to pick review sentences that are opinions.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-models}
python -m slmesh.training sentiment --data-dir "$DATA" --out "$OUT/sentiment" --lr 5e-5 --epochs 3
python -m slmesh.training router --data-dir "$DATA" --out "$OUT/router" --layers 4 --epochs 2 --prompts 24000 \
    --opinion-model "$OUT/sentiment"
python -m slmesh.training qa --data-dir "$DATA" --out "$OUT/qa" --lr 1e-4 --epochs 3
