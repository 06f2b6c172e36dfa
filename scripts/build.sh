#!/usr/bin/env bash
# Builds the release tree (build/) and, with --sanitize, the ASan+UBSan tree (build-asan/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGPTOSS_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
        -DGPTOSS_FUZZ=ON >/dev/null
  cmake --build build-asan -j"$jobs"
fi
