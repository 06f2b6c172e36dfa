#!/usr/bin/env bash
# bench_onnx.sh: the ONNX export of one preset (default 20b-2l) and ONNX Runtime's latency
# on it next to the C engine's, in the same run.
#
#   bash bench/bench_onnx.sh [PRESET] [--packed-weights-too] [--reps N] [--reuse]
#
# Reports, per weight mode (float: all fp32, the default; packed: BF16 + MXFP4 decoded in
# the graph; --reuse keeps exports already there and skips their timing):
#   export wall time and peak RSS, .onnx and .onnx.data sizes, ONNX Runtime session
#   creation time, peak RSS and median latency of one 32-token forward pass, the C engine's
#   median latency on the same ids, the ratio ORT / engine, and max |logits diff| between
#   the two over all positions and at the last one.
# The exports run first; the memory-heavy steps (the engine, ONNX Runtime, parity) then run
# under `flock $GPTOSS_BIGMEM_LOCK` when that variable names a lock file, so that two big
# jobs never share the machine's memory.
# Needs the release build (build/) and the reference Python (.venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
preset=20b-2l
modes=float
reps=5
reuse=0
while [ $# -gt 0 ]; do
  case $1 in
    --packed-weights-too) modes="float packed" ;;
    --reps) reps=$2; shift ;;
    --reuse) reuse=1 ;;
    -*) echo "bench_onnx: unknown option $1" >&2; exit 2 ;;
    *) preset=$1 ;;
  esac
  shift
done
bin=build/gptoss
py=${GPTOSS_PYTHON:-$root/.venv/bin/python}
seq=32
model=artifacts/models/$preset
out=artifacts/bench_onnx/$preset
mkdir -p "$out" artifacts/models
[ -x "$bin" ] && [ -x build/bench/bench_onnx_engine ] || { echo "bench_onnx: build first (scripts/build.sh)" >&2; exit 1; }
[ -f "$model/config.json" ] || "$bin" synth --preset "$preset" -o "$model"
echo "== $preset, $seq tokens, $(nproc) cores, gptoss $($bin --version | cut -d' ' -f2)"

# 1. exports (streaming: little memory, no lock)
declare -A exp_s exp_rss onnx_b data_b
for mode in $modes; do
  flag=; [ "$mode" = packed ] && flag=--packed-weights
  mkdir -p "$out/$mode"
  if [ $reuse = 1 ] && [ -f "$out/$mode/model.onnx" ]; then
    exp_s[$mode]="(reused)"; exp_rss[$mode]="-"
  else
  exp=$("$bin" export-onnx -m "$model" -o "$out/$mode/model.onnx" --sequence-length $seq $flag 2>&1 |
        grep -v "GB written" | tee /dev/stderr | tail -1)
  exp_s[$mode]=$(sed -n 's/^ *\([0-9.]*\) s, peak RSS.*/\1/p' <<<"$exp")
  exp_rss[$mode]=$(sed -n 's/.*peak RSS \([0-9.]*\) MB.*/\1/p' <<<"$exp")
  fi
  onnx_b[$mode]=$(stat -c %s "$out/$mode/model.onnx")
  data_b[$mode]=$(stat -c %s "$out/$mode/model.onnx.data" 2>/dev/null || echo 0)
done

# 2. the memory-heavy part, under the lock when one is named
if [ -n "${GPTOSS_BIGMEM_LOCK:-}" ]; then exec 9>"$GPTOSS_BIGMEM_LOCK"; flock 9; fi
engine=$(build/bench/bench_onnx_engine -m "$model" --sequence-length $seq --reps "$reps" \
  --logits "$out/engine_logits.f32")
eng_s=$(sed -n 's/.*engine_median_s=\([0-9.]*\).*/\1/p' <<<"$engine")
echo "C engine: $engine"

rows=()
for mode in $modes; do
  ort=$("$py" - "$out/$mode/model.onnx" "$reps" "$out/engine_logits.f32" <<'PY'
import resource, statistics, sys, time
import numpy as np, onnxruntime as ort
path, reps, eng = sys.argv[1], int(sys.argv[2]), sys.argv[3]
so = ort.SessionOptions(); so.log_severity_level = 3
t0 = time.perf_counter()
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
load = time.perf_counter() - t0
S = sess.get_inputs()[0].shape[0]
vocab = [o for o in sess.get_outputs() if o.name == "logits"][0].shape[1]
ids = (np.arange(S, dtype=np.int64) * 7919) % vocab
y = sess.run(["logits"], {"input_ids": ids})[0]
d = np.abs(y - np.fromfile(eng, dtype=np.float32).reshape(y.shape))
ts = []
for _ in range(reps):
    t = time.perf_counter(); sess.run(["logits"], {"input_ids": ids}); ts.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"ort_load_s={load:.2f} ort_median_s={statistics.median(ts):.4f} ort_min_s={min(ts):.4f} ort_peak_rss_mb={rss:.0f} "
      f"diff_all={d.max():.3e} diff_last={d[-1].max():.3e} logit_scale={np.abs(y).max():.2f}")
PY
)
  echo "ONNX Runtime ($mode): $ort"
  get() { sed -n "s/.*$1=\([0-9.e+-]*\).*/\1/p" <<<"$ort"; }
  ort_s=$(get ort_median_s)
  ratio=$(awk -v a="$ort_s" -v b="$eng_s" 'BEGIN{printf "%.2f", a/b}')
  rows+=("| $mode | ${exp_s[$mode]} s | ${exp_rss[$mode]} MB | $((onnx_b[$mode] / 1024)) KiB | $(awk -v b="${data_b[$mode]}" 'BEGIN{printf "%.2f", b/1e9}') GB | $(get ort_load_s) s | $(get ort_peak_rss_mb) MB | $ort_s s | $eng_s s | $ratio | $(get diff_all) | $(get diff_last) |")
done

echo
echo "| weights | export | export peak RSS | .onnx | .onnx.data | ORT load | ORT peak RSS | ORT 32 tok | engine 32 tok | ORT / engine | max diff all | max diff last |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

if "$bin" parity --help 2>/dev/null | grep -q -- --onnx; then
  echo
  # --exact-check never: a float64 torch run of a 20b model would need ~20 GB more
  "$bin" parity --against onnx --exact-check never -m "$model" --onnx "$out/float/model.onnx" \
    --prompt "What is the capital of France?" --sequence-length $seq || true
fi
