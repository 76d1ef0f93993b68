#!/usr/bin/env bash
# The GPU check, on a machine with a GPU, JAX and no TensorFlow (Keras's JAX backend).
#
#   benchmarks/gpu_check.sh FACES_DIR [SECONDS]
#
# From the repo root, with keras and what it lacks there as wheels in .whl/ (see README,
# "Performance"). Writes under $OUT (default gpu_out/): bench.json (the benchmark, seed
# model, float32 and mixed bfloat16), ablation.json + ablation_crops.npz (one
# `dcgan-sr train` per configs/ablation/*.json, same steps, scored on the test faces),
# the preset run's weights and records, and log.txt. BENCH_ARGS and TRAIN_ARGS add
# flags (a dry run on a CPU: tiny widths and batches). SECONDS (default 480) is the
# wall-clock budget: the step counts are set from the measured speed to fit it.
set -u -o pipefail
FACES=${1:?usage: benchmarks/gpu_check.sh FACES_DIR [SECONDS]}
BUDGET=${2:-480}
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
exec > >(tee -a "$OUT/log.txt") 2>&1

if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
SR="python3 -m dcgan_sr.cli"

echo "== prepare ($(left) s left)"
$SR prepare --data "$FACES" --out /tmp/prepared

# Steps from the speed: the rows get 60 % of what is left, the preset run the rest.
read -r ROW_STEPS PRESET_STEPS < <(python3 - "$OUT/bench.json" "$(left)" <<'PY'
import json, sys
import os
bench = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
# Images/s of the seed model's step (float32, XLA, H100, measured by an earlier run of this
# script) unless this run's bench.json says otherwise.
img_s = (bench.get("train_img_s") or {}).get("xla_mixed") or 2500.0
left = float(sys.argv[2]) - 60 - 150  # scoring, exporting, and the benchmark last
rows = 7
row_seconds = 0.6 * left / rows - 15  # each row also compiles (~15 s)
preset_seconds = 0.4 * left - 40
steps = lambda s, unit: max(unit, int(s * img_s * 0.6 / 64) // unit * unit)  # 0.6: validation, I/O, dfeat
print(steps(row_seconds, 100), steps(preset_seconds, 600))
PY
)
echo "row steps $ROW_STEPS, preset steps $PRESET_STEPS"

RUNS=()
for config in configs/ablation/*.json; do
  name=$(basename "$config" .json)
  echo "== ablation $name ($(left) s left)"
  timeout $(( $(left) > 120 ? 60 : 1 )) $SR train --data /tmp/prepared --out "/tmp/runs/$name" \
    --config "$config" --steps "$ROW_STEPS" --checkpoint-every $(( ROW_STEPS / 2 )) \
    ${TRAIN_ARGS:-} 2>&1 | grep -v "^Epoch\|━" | tail -4
  RUNS+=("/tmp/runs/$name")
done
python3 benchmarks/ablation.py "${RUNS[@]}" --prepared /tmp/prepared \
  --json "$OUT/ablation.json" --crops "$OUT/ablation_crops.npz"

echo "== preset run ($(left) s left)"
WARM=$(( PRESET_STEPS * 2 / 3 ))
timeout $(( $(left) > 20 ? $(left) - 20 : 1 )) $SR train --data /tmp/prepared --out /tmp/runs/gpu \
  --config configs/gpu.json --steps "$PRESET_STEPS" --pretrain-steps "$WARM" \
  --checkpoint-every $(( PRESET_STEPS / 6 )) ${TRAIN_ARGS:-} 2>&1 | grep -v "^Epoch\|━" | tail -6
if [ -f /tmp/runs/gpu/generator.weights.h5 ]; then
  cp /tmp/runs/gpu/generator.weights.h5 "$OUT/gan.weights.h5"
  cp /tmp/runs/gpu/generator_mse.weights.h5 "$OUT/mse.weights.h5"
  tar -C /tmp/runs/gpu -cf "$OUT/preset_run.tar" config.json history.csv summary.json samples
fi
echo "== benchmark ($(left) s left)"
timeout $(( $(left) > 30 ? $(left) - 10 : 1 )) python3 benchmarks/bench.py --json "$OUT/bench.json" --steps 20 ${BENCH_ARGS:-}
echo "== done in $(( $(date +%s) - START )) s"
