#!/usr/bin/env bash
# labels: release_only
# export-onnx on the small preset: checker (full_check) and graph hygiene, ONNX Runtime
# against the C engine at every position and stage (<= 1e-5), and the Hugging Face layout
# of the same checkpoint exporting to byte-identical weights.
. "$(dirname "$0")/lib.sh"
need_python
"$GPTOSS_BIN" synth --help >/dev/null 2>&1 || { echo "skipped: gptoss synth not built"; exit 77; }
py() { "$GPTOSS_PYTHON" "$@"; }
check="$GPTOSS_HOME/tests/onnx_check.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ck=$(fixture small)
hf=$(fixture small hf)
layers=$(py -c "import json,sys; print(json.load(open(sys.argv[1]))['num_hidden_layers'])" "$ck/config.json")
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/m.onnx" -q --emit-block-debug
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/p.onnx" -q --emit-block-debug --packed-weights
py "$check" "$tmp/p.onnx" --run --outputs $((17 * layers + 2))
py "$check" "$tmp/m.onnx" --run --outputs $((17 * layers + 2)) --layers "$layers"
"$GPTOSS_BIN" export-onnx -m "$hf" -o "$tmp/hf.onnx" -q --emit-block-debug
py "$check" "$tmp/hf.onnx" --layers "$layers"
cmp "$tmp/m.onnx.data" "$tmp/hf.onnx.data" || fail "the HF layout exports different weights"

if "$GPTOSS_BIN" parity --help 2>/dev/null | grep -q -- --onnx; then
  # 1e-5 absolute over all positions and stages: both sides compute in fp32 from the same
  # weights; only summation order differs (the project's target; the baseline was 1.3e-5).
  "$GPTOSS_BIN" parity --against onnx -m "$ck" --onnx "$tmp/m.onnx" \
    --prompt "What is the capital of France?" --sequence-length 32 --tolerance 1e-5
else
  # Until the parity command exists: the official torch model in fp32. Its own summation
  # order differs from both ours more than the engine's does, hence 1e-4.
  py "$check" "$tmp/m.onnx" --torch "$ck" --tolerance 1e-4
fi
echo PASS
