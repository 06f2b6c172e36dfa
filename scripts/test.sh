#!/usr/bin/env bash
# Runs every test: installs what is missing, builds release and sanitizer trees, runs ctest
# in both. The sanitizer tree runs the C-level tests (label-free), the release tree all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install_deps.sh
bash scripts/setup_python.sh
bash scripts/build.sh --sanitize
export GPTOSS_PYTHON="$root/.venv/bin/python"
echo "== tests, sanitizer build (ASan + UBSan) =="
ctest --test-dir build-asan --output-on-failure -j2 -LE release_only
echo "== tests, release build =="
ctest --test-dir build --output-on-failure -j2
