#!/usr/bin/env bash
# Creates (once) the reference Python environment and links it as .venv in the source tree.
#
# The environment lives in a cache folder keyed by the requirement files and the Python
# version, so a machine that installed once reuses it (seconds), and a change of pins makes a
# new one. Override the cache folder with GPTOSS_CACHE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=${PYTHON:-python3}
cache=${GPTOSS_CACHE:-$HOME/.cache/gptoss}
key=$( { cat python/requirements*.txt; "$py" --version; } | sha256sum | cut -c1-12)
venv="$cache/venv-$key"

if [ ! -f "$venv/.complete" ]; then
  echo "setup_python: creating $venv (first time: a few minutes; torch is the bulk)"
  start=$(date +%s)
  rm -rf "$venv"
  mkdir -p "$cache"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements.txt
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
      --ignore-requires-python -r python/requirements-nodeps.txt
  for extra in python/requirements-extra*.txt; do
    [ -f "$extra" ] || continue
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$extra"
  done
  "$venv/bin/python" -c "import torch, safetensors, tiktoken, onnx, onnxruntime, transformers, gpt_oss.torch.model"
  touch "$venv/.complete"
  echo "setup_python: installed in $(( $(date +%s) - start )) s"
fi
ln -sfn "$venv" .venv
echo "setup_python: .venv -> $venv"
