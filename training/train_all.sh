#!/usr/bin/env bash
# Trains the three models one after another on this machine (CPU or GPU) into models/.
# The committed models came from training/gpu_train.sh (several runs per skill on one GPU, best kept);
# this is the same recipe without the search. Expect hours on a 2-core CPU for QA and sentiment.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-models}
python -m slmesh.training router --data-dir "$DATA" --out "$OUT/router" --layers 4 --epochs 1.5 --prompts 8000
python -m slmesh.training sentiment --data-dir "$DATA" --out "$OUT/sentiment" --lr 5e-5 --epochs 3
python -m slmesh.training qa --data-dir "$DATA" --out "$OUT/qa" --lr 1e-4 --epochs 3
