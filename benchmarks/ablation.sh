#!/usr/bin/env bash
# The ablation: one `dcgan-sr train` per configs/ablation/*.json, all to the same step
# budget on the same data, then every run scored on the test faces.
#
#   benchmarks/ablation.sh FACES_DIR OUT_DIR STEPS [train flags ...]
#
# FACES_DIR is a CelebA folder (prepared once into OUT_DIR/prepared) or a folder written
# by `dcgan-sr prepare`. Extra flags go to every run, after the row's config (on a CPU:
# narrower widths and batch 16, see the README's ablation section). Runs land in
# OUT_DIR/<row>; running the same command again resumes unfinished rows and skips
# finished ones. Each run's output goes to OUT_DIR/<row>.log. Writes
# OUT_DIR/ablation.json, ablation_crops.npz, ablation_eyes.png and ablation_mouth.png.
set -eu -o pipefail
FACES=${1:?usage: benchmarks/ablation.sh FACES_DIR OUT_DIR STEPS [train flags ...]}
OUT=${2:?usage: benchmarks/ablation.sh FACES_DIR OUT_DIR STEPS [train flags ...]}
STEPS=${3:?usage: benchmarks/ablation.sh FACES_DIR OUT_DIR STEPS [train flags ...]}
shift 3
SR=${SR:-dcgan-sr}
PYTHON=${PYTHON:-python3}

mkdir -p "$OUT"
PREPARED=$FACES
if [ ! -f "$FACES/prepared.json" ]; then
  PREPARED=$OUT/prepared
  $SR prepare --data "$FACES" --out "$PREPARED" > /dev/null
fi

RUNS=()
for config in configs/ablation/*.json; do
  name=$(basename "$config" .json)
  echo "== $name: $(date -u +%H:%M:%S)"
  $SR train --data "$PREPARED" --out "$OUT/$name" --config "$config" --steps "$STEPS" \
    --checkpoint-every $(( STEPS / 4 )) "$@" > "$OUT/$name.log" 2>&1 \
    || echo "$name: dcgan-sr train exited with $? (see $OUT/$name.log)"
  grep -h '"steps_completed"\|"psnr_rgb"\|error' "$OUT/$name.log" | tail -3
  RUNS+=("$OUT/$name")
done
$PYTHON benchmarks/ablation.py "${RUNS[@]}" --prepared "$PREPARED" \
  --json "$OUT/ablation.json" --crops "$OUT/ablation_crops.npz" --figures "$OUT/ablation"
