#!/usr/bin/env bash
# The GPU check, on a machine with a GPU, JAX and no TensorFlow (Keras's JAX backend).
#
#   benchmarks/gpu_check.sh FACES_DIR [SECONDS]
#
# From the repo root, with keras and what it lacks there as wheels in .whl/ (see README,
# "Performance"). SECONDS (default 540) is the wall-clock budget. In order of importance:
#   1. the benchmark (seed model, float32 and mixed bfloat16)   -> bench.json
#   2. the preset run, configs/gpu.json, its step count set from the measured speed to fit
#      what is left                                              -> gan/mse.weights.h5, preset_run.tar
#   3. with ABLATION_STEPS=N, benchmarks/ablation.sh at N steps  -> ablation.tar
# Everything is written under $OUT (default gpu_out/), every command's full output to
# log.txt. BENCH_ARGS and TRAIN_ARGS add flags (a dry run on a CPU: tiny widths, batches).
set -u -o pipefail
FACES=${1:?usage: benchmarks/gpu_check.sh FACES_DIR [SECONDS]}
BUDGET=${2:-540}
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
exec > >(tee -a "$OUT/log.txt") 2>&1

if [ -d .whl ] && ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
SR="python3 -m dcgan_sr.cli"

echo "== benchmark ($(left) s left)"
# Compiling the mixed-precision step took over two minutes on an H100: give it room.
timeout $(( $(left) * 45 / 100 )) python3 benchmarks/bench.py --json "$OUT/bench.json" \
  --steps 20 ${BENCH_ARGS:-}

echo "== prepare ($(left) s left)"
$SR prepare --data "$FACES" --out /tmp/prepared

ABLATION_SECONDS=0
if [ -n "${ABLATION_STEPS:-}" ]; then
  ABLATION_SECONDS=$(( $(left) / 2 ))
fi
PRESET_SECONDS=$(( $(left) - ABLATION_SECONDS - 30 ))
# Steps from the measured speed of the seed model's step (the preset's G is narrower, but
# validation, checkpoints and compiling each phase's step cost time): a third of it.
PRESET_STEPS=$(python3 - "$OUT/bench.json" "$PRESET_SECONDS" <<'PY'
import json, os, sys
bench = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
speeds = bench.get("train_img_s") or {}
img_s = speeds.get("xla_mixed") or speeds.get("xla") or 2500.0  # the H100's float32, run 1
seconds = float(sys.argv[2]) - 120  # compiling the warm-up's and adversarial steps
print(max(60, int(seconds * img_s / 3 / 64) // 60 * 60))
PY
)
WARM=$(( PRESET_STEPS * 2 / 3 ))
echo "== preset run: $PRESET_STEPS steps, $WARM of them warm-up ($(left) s left)"
timeout "$PRESET_SECONDS" $SR train --data /tmp/prepared --out /tmp/runs/gpu \
  --config configs/gpu.json --steps "$PRESET_STEPS" --pretrain-steps "$WARM" \
  --checkpoint-every $(( PRESET_STEPS / 6 )) ${TRAIN_ARGS:-}
if [ -f /tmp/runs/gpu/summary.json ]; then
  cp /tmp/runs/gpu/generator.weights.h5 "$OUT/gan.weights.h5"
  cp /tmp/runs/gpu/generator_mse.weights.h5 "$OUT/mse.weights.h5"
  tar -C /tmp/runs/gpu -cf "$OUT/preset_run.tar" config.json history.csv summary.json samples
fi

if [ -n "${ABLATION_STEPS:-}" ]; then
  echo "== ablation: $ABLATION_STEPS steps a row ($(left) s left)"
  SR="$SR" PYTHON=python3 timeout $(( $(left) - 10 )) benchmarks/ablation.sh /tmp/prepared \
    /tmp/ablation "$ABLATION_STEPS" ${TRAIN_ARGS:-}
  tail -n 3 /tmp/ablation/*.log
  tar -C /tmp/ablation -cf "$OUT/ablation.tar" --exclude prepared --exclude '*/checkpoints' \
    --exclude generator.keras .
fi
echo "== done in $(( $(date +%s) - START )) s"
