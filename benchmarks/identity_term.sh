#!/usr/bin/env bash
# The identity content loss, first check: 200 MSE warm-up steps on the realistic mix from the
# `real` preset, once with MSE alone and once with MSE + 5 x identity (configs/identity_term/),
# then both scored with `real` on the first 128 test faces: under the protocol (with the
# landmark distance, which does not share the loss's network) and under every degradation.
#
#   benchmarks/identity_term.sh FACES_DIR OUT_DIR
#
# Rerunning resumes unfinished runs. Writes OUT_DIR/evaluate_protocol.txt and evaluate_all.txt.
set -eu -o pipefail
FACES=${1:?usage: benchmarks/identity_term.sh FACES_DIR OUT_DIR}
OUT=${2:?usage: benchmarks/identity_term.sh FACES_DIR OUT_DIR}
SR=${SR:-dcgan-sr}
mkdir -p "$OUT"
for arm in mse identity; do
  $SR train --data "$FACES" --out "$OUT/$arm" --config "configs/identity_term/$arm.json" >> "$OUT/$arm.log" 2>&1
done
WEIGHTS=real,$OUT/mse/generator.weights.h5,$OUT/identity/generator.weights.h5
$SR evaluate --data "$FACES" --split test --limit 128 --weights "$WEIGHTS" > "$OUT/evaluate_protocol.txt"
$SR evaluate --data "$FACES" --split test --limit 128 --weights "$WEIGHTS" --degradation all > "$OUT/evaluate_all.txt"
