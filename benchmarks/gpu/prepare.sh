#!/usr/bin/env bash
# Build, on this machine, what a GPU run carries (issue 9): the wheels the GPU image lacks and every dataset,
# cut into folders that each fit one device call.
#
#   bash benchmarks/gpu/prepare.sh [DATASET ...]
#
# Datasets default to all five of ../shared/data (193 MB; CIFAR-10 alone is 144 MB). Writes gpu-carry/ (the
# whole set: wheels/ and data/) and gpu-carry-1/, gpu-carry-2/, ... of at most LIMIT_MIB each (default 60; the
# device tool carries 64 MiB with the working tree, ~0.7 MB), with carry.py split. All are git-ignored.
# README.md beside this script says how the device calls use them.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
datasets=("$@"); [ ${#datasets[@]} -gt 0 ] || datasets=(mnist notmnist gurmukhi fashion-mnist cifar10)
shared=${LABS_SHARED:-$here/../shared}
whole=$here/gpu-carry
mkdir -p "$whole/data"
[ -d "$whole/wheels" ] || bash "$shared/tools/gpu-wheels.sh" "$whole/wheels"
for name in "${datasets[@]}"; do
  [ -d "$shared/data/$name" ] || { echo "no dataset $name in $shared/data (have: $(ls "$shared/data" | tr '\n' ' '))" >&2; exit 2; }
  rm -rf "$whole/data/$name"; cp -r "$shared/data/$name" "$whole/data/$name"; chmod -R u+w "$whole/data/$name"
done
rm -rf "$here"/gpu-carry-[0-9]*
python3 "$here/benchmarks/gpu/carry.py" split "$whole" "$here/gpu-carry" "${LIMIT_MIB:-60}"
