#!/usr/bin/env bash
# Build, on this machine, the folder a GPU run carries (issue 9): wheels the GPU image lacks, and datasets.
#
#   bash benchmarks/gpu/prepare.sh [CARRY_DIR] [DATASET ...]
#
# CARRY_DIR defaults to gpu-carry/ (git-ignored). Datasets default to mnist notmnist gurmukhi (18 MB), which
# notebooks 02, 05, 06, 07 and 08 need; add fashion-mnist (31 MB) for 01. The device tool carries at most
# 64 MiB with the working tree: wheels (~18 MB) + all four fit once (~67 MB does not), so run 01 in a second
# call (see README.md beside this script). CIFAR-10 (144 MB, notebook 03) cannot travel.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$here/gpu-carry}; shift || true
datasets=("$@"); [ ${#datasets[@]} -gt 0 ] || datasets=(mnist notmnist gurmukhi)
shared=${LABS_SHARED:-$here/../shared}
mkdir -p "$dest/data"
[ -d "$dest/wheels" ] || bash "$shared/tools/gpu-wheels.sh" "$dest/wheels"
for name in "${datasets[@]}"; do
  [ -d "$shared/data/$name" ] || { echo "no dataset $name in $shared/data (have: $(ls "$shared/data" | tr '\n' ' '))" >&2; exit 2; }
  rm -rf "$dest/data/$name"; cp -r "$shared/data/$name" "$dest/data/$name"; chmod -R u+w "$dest/data/$name"
done
du -shc "$dest"/*
