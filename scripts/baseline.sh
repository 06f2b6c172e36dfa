#!/usr/bin/env bash
# The main job: the baseline parity report reproduced end to end on a synthetic model.
#
#   bash scripts/baseline.sh [PRESET]        (default: small)
#
# Synthesizes the preset if missing, inspects it, runs the engine, exports ONNX, checks
# parity against ONNX Runtime and the official torch reference, checks expert routing, and
# writes one summary report: artifacts/baseline_<preset>_summary.md. Each step's full
# output is kept beside it in artifacts/baseline_<preset>/.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
preset=${1:-small}
prompt="What is the capital of France?"
seqlen=32
bin=build/gptoss
out=artifacts/baseline_$preset
model=artifacts/models/$preset
summary=artifacts/baseline_${preset}_summary.md
export GPTOSS_PYTHON=${GPTOSS_PYTHON:-$root/.venv/bin/python}
mkdir -p "$out" artifacts/models
[ -x "$bin" ] || { echo "baseline: $bin not built (run scripts/build.sh)" >&2; exit 1; }

rows=()
failed=0
# step NAME CMD... : runs one step, records PASS / FAIL / NOT BUILT (exit 3 = the
# subcommand does not exist yet in this version).
step() {
  local name=$1; shift
  local log="$out/$name.txt" rc=0 t0 t1
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  local status=PASS
  if [ $rc -eq 3 ]; then status="NOT BUILT YET"
  elif [ $rc -ne 0 ]; then status="FAIL (exit $rc)"; failed=1; fi
  local cmd="" a
  for a in "$@"; do
    case $a in *[[:space:]?*]*) cmd+="\"$a\" " ;; *) cmd+="$a " ;; esac
  done
  rows+=("| $name | $status | ${secs} s | \`${cmd% }\` |")
  printf '%-16s %-16s %6s s\n' "$name" "$status" "$secs"
}

if [ ! -f "$model/config.json" ]; then
  step synth $bin synth --preset "$preset" -o "$model"
fi
step inspect $bin inspect "$model"
step run $bin run -m "$model" --prompt "$prompt" --sequence-length $seqlen --top 5 \
  --dump "$out/engine_dump.safetensors"
step export-onnx $bin export-onnx -m "$model" -o "$out/model.onnx" --sequence-length $seqlen \
  --emit-block-debug
step parity-onnx $bin parity --against onnx -m "$model" --onnx "$out/model.onnx" \
  --prompt "$prompt" --sequence-length $seqlen --json "$out/parity_onnx.json"
step parity-torch $bin parity --against torch -m "$model" --prompt "$prompt" \
  --sequence-length $seqlen --json "$out/parity_torch.json"
step routing $bin routing --against torch -m "$model" --prompt "$prompt" \
  --output-dir "$out/routing" --json "$out/routing.json"

tmp="$summary.tmp.$$"
{
  echo "# Baseline parity report: preset \`$preset\`"
  echo
  echo "Prompt: \"$prompt\", sequence length $seqlen. gptoss $($bin --version | cut -d' ' -f2)."
  echo
  echo "| step | result | time | command |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Against the baseline report"
  echo
  python3 scripts/baseline_compare.py "$out"
  echo
  for f in run parity-onnx parity-torch routing; do
    [ -f "$out/$f.txt" ] || continue
    echo "## $f"
    echo
    echo '```'
    head -c 6000 "$out/$f.txt"
    echo '```'
    echo
  done
} >"$tmp" && mv "$tmp" "$summary"
echo "baseline: summary in $summary"
exit $failed
