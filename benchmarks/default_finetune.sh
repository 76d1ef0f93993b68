#!/usr/bin/env bash
# The next default's last step: a short fine-tune at a tenth of the learning rate from a
# generator the long run kept (configs/default_k3_long.json), once with MSE alone and once with
# MSE + 5 x identity (configs/default_k3_finetune/), then the long run's generator, both
# fine-tunes and today's `real` scored together on the 256 validation faces: under every
# degradation (the default rule's table) and under the protocol (with the landmark distance,
# the measure that does not share the identity term's network).
#
#   benchmarks/default_finetune.sh FACES_DIR BASE_GENERATOR OUT_DIR
#
# Rerunning resumes unfinished runs. Writes OUT_DIR/val256_all.txt and val256_protocol.txt.
# ARMS (default "mse identity") names the configs of configs/default_k3_finetune/ to run. The
# `real` shipped on 2026-12-04 is the `pillow` arm's train command from the long run's last
# generator; the commands that scored it: benchmarks/default_pillow_ft_val256_2026-12-04.txt.
# REFERENCE (default: the shipped `real`) is scored beside them; the 2026-12-03 run scored the
# `real` of commit ee2016a, since replaced by the long run's generator at step 9,250.
set -eu -o pipefail
FACES=${1:?usage: benchmarks/default_finetune.sh FACES_DIR BASE_GENERATOR OUT_DIR}
BASE=${2:?usage: benchmarks/default_finetune.sh FACES_DIR BASE_GENERATOR OUT_DIR}
OUT=${3:?usage: benchmarks/default_finetune.sh FACES_DIR BASE_GENERATOR OUT_DIR}
SR=${SR:-dcgan-sr}
REFERENCE=${REFERENCE:-real}
mkdir -p "$OUT"
ARMS=${ARMS:-mse identity}
WEIGHTS=$REFERENCE,$BASE
for arm in $ARMS; do
  $SR train --data "$FACES" --out "$OUT/$arm" --config "configs/default_k3_finetune/$arm.json" \
      --init-generator "$BASE" --keep-generators >> "$OUT/$arm.log" 2>&1
  WEIGHTS=$WEIGHTS,$OUT/$arm/generator.weights.h5
done
$SR evaluate --data "$FACES" --split val --limit 256 --weights "$WEIGHTS" --degradation all > "$OUT/val256_all.txt"
$SR evaluate --data "$FACES" --split val --limit 256 --weights "$WEIGHTS" > "$OUT/val256_protocol.txt"
