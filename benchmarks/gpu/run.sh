#!/usr/bin/env bash
# The issue-9 GPU measurements, in one device call from the repository root:
#
#   bash benchmarks/gpu/run.sh CARRY_DIR [PROFILE] [NOTEBOOK ...]
#
# Installs CARRY_DIR/wheels (made by prepare.sh) into /tmp/site when present, then with KERAS_BACKEND=jax and
# LABS_DATA_DIR=CARRY_DIR/data writes under $OUT (default gpu-results/): device.txt (GPU, versions),
# bench_step.txt (the step-cost target) and pack.txt (`labs run --profile PROFILE`, per notebook and whole run).
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
"$python" benchmarks/bench_quick_pack.py --profile "$profile" --backend jax "${notebooks[@]}" > "$out/pack.txt" 2>&1
echo "pack rc $?" >> "$out/pack.txt"
cat "$out/pack.txt"
