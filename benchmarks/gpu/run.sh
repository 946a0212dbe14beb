#!/usr/bin/env bash
# The issue-9 GPU measurements, on the device, from the repository root, after every carried folder was stashed
# (`python3 benchmarks/gpu/carry.py stash gpu-carry-K`, one device call each; see README.md beside this script):
#
#   bash benchmarks/gpu/run.sh pack [PROFILE] [NOTEBOOK ...]   # labs run --backend jax, per notebook and pack
#   bash benchmarks/gpu/run.sh bench                           # bench_step.py and bench_fit.py
#
# Both first join the stashed folders into /tmp/labs-carry-joined (wheels/, data/; checked against their
# SHA-256) and install the wheels into /tmp/site, unless an earlier call did. Results go under $OUT (default
# gpu-results/): device.txt (GPU, versions), pack-PROFILE.txt, bench_step.txt, bench_fit.txt.
# PROFILE defaults to full; NOTEBOOKs to every notebook that runs under JAX (04 needs TensorFlow).
# STASH: where the folders were stashed (default /tmp/labs-carry).
set -uo pipefail
what=${1:?usage: run.sh pack [PROFILE] [NOTEBOOK ...] | run.sh bench}; shift
out=${OUT:-gpu-results}; mkdir -p "$out"
python=${PYTHON:-python3}
joined=/tmp/labs-carry-joined
"$python" benchmarks/gpu/carry.py join "${STASH:-/tmp/labs-carry}" "$joined" || exit 2
if [ "${WHEELS:-}" != none ] && [ ! -f /tmp/site/.installed ]; then  # WHEELS=none: a dry run on a machine that has them
  "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$joined"/wheels/*.whl || exit 2
  touch /tmp/site/.installed
fi
export PYTHONPATH=$PWD:/tmp/site:${PYTHONPATH:-} KERAS_BACKEND=jax LABS_DATA_DIR=$joined/data
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
  nproc
  "$python" -c "import jax, keras, sys; print('python', sys.version.split()[0], 'jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
} > "$out/device.txt" 2>&1
cat "$out/device.txt"
case $what in
  pack)
    profile=${1:-full}; shift || true
    notebooks=("$@"); [ ${#notebooks[@]} -gt 0 ] || notebooks=(01 02 03 05 06 07 08)
    # issue 9: the full pack on one GPU in under 5 minutes. Reports kept: a call cut short leaves the finished ones.
    "$python" benchmarks/bench_quick_pack.py --profile "$profile" --backend jax --target-pack 300 --target-notebook 0 \
      --keep "$out/reports-$profile" "${notebooks[@]}" > "$out/pack-$profile.txt" 2>&1
    echo "pack rc $?" >> "$out/pack-$profile.txt"
    cat "$out/pack-$profile.txt" ;;
  bench)
    timeout 150 "$python" benchmarks/bench_step.py > "$out/bench_step.txt" 2>&1; echo "bench_step rc $?" >> "$out/bench_step.txt"
    tail -6 "$out/bench_step.txt"
    # steps_per_execution on the GPU (on the CPU JAX gains nothing from it: training.STEPS_PER_EXECUTION["jax"] is 1)
    { timeout 120 "$python" benchmarks/bench_fit.py --backend jax --spe 1,8,32 --epochs 2
      timeout 120 "$python" benchmarks/bench_fit.py --backend jax --batch-size 10 --hidden 512,512 --n-train 6000 --spe 1,32,128 --epochs 2
    } > "$out/bench_fit.txt" 2>&1
    grep -v "^[WI]0" "$out/bench_fit.txt" | tail -12 ;;
  *) echo "run.sh: unknown command $what (pack or bench)" >&2; exit 2 ;;
esac
