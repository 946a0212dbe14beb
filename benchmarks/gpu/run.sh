#!/usr/bin/env bash
# The issue-9 GPU measurements, in one device call from the repository root:
#
#   bash benchmarks/gpu/run.sh CARRY_DIR [PROFILE] [NOTEBOOK ...]
#
# Installs CARRY_DIR/wheels (made by prepare.sh) into /tmp/site when present, then with KERAS_BACKEND=jax and
# LABS_DATA_DIR=CARRY_DIR/data writes under $OUT (default gpu-results/): device.txt (GPU, versions),
# bench_step.txt (the step-cost target), bench_fit.txt (steps_per_execution on the GPU) and pack.txt
# (`labs run --profile PROFILE`, per notebook and whole run).
# PROFILE defaults to full; NOTEBOOKs default to those whose data travels (02 05 06 07 08).
# WHEELS: another wheels folder (default CARRY_DIR/wheels); MORE_DATA: a data folder whose datasets are linked in.
set -uo pipefail
carry=${1:?usage: run.sh CARRY_DIR [PROFILE] [NOTEBOOK ...]}; shift
profile=${1:-full}; shift || true
notebooks=("$@"); [ ${#notebooks[@]} -gt 0 ] || notebooks=(02 05 06 07 08)
out=${OUT:-gpu-results}; mkdir -p "$out"
python=${PYTHON:-python3}
wheels=${WHEELS:-$carry/wheels}
if [ -d "$wheels" ]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheels"/*.whl || exit 2
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
if [ -n "${MORE_DATA:-}" ]; then  # datasets of an earlier call's carry, linked in where this carry lacks them
  for d in "$MORE_DATA"/*/; do [ -e "$carry/data/$(basename "$d")" ] || ln -s "$(cd "$d" && pwd)" "$carry/data/$(basename "$d")"; done
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} KERAS_BACKEND=jax LABS_DATA_DIR=$(cd "$carry/data" && pwd)
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  "$python" -c "import jax, keras, sys; print('python', sys.version.split()[0], 'jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
} > "$out/device.txt" 2>&1
cat "$out/device.txt"
timeout 120 "$python" benchmarks/bench_step.py > "$out/bench_step.txt" 2>&1; echo "bench_step rc $?" >> "$out/bench_step.txt"
tail -6 "$out/bench_step.txt"
# steps_per_execution on the GPU (on the CPU JAX gains nothing from it, so training.STEPS_PER_EXECUTION["jax"] is 1)
{ timeout 120 "$python" benchmarks/bench_fit.py --backend jax --spe 1,8,32 --epochs 2
  timeout 120 "$python" benchmarks/bench_fit.py --backend jax --batch-size 10 --hidden 512,512 --n-train 6000 --spe 1,32,128 --epochs 2
} > "$out/bench_fit.txt" 2>&1
grep -v "^[WI]0" "$out/bench_fit.txt" | tail -12
"$python" benchmarks/bench_quick_pack.py --profile "$profile" --backend jax "${notebooks[@]}" > "$out/pack.txt" 2>&1
echo "pack rc $?" >> "$out/pack.txt"
cat "$out/pack.txt"
