#!/usr/bin/env bash
# bench_forward.sh: the 32-token forward pass of the 20b-2l synthetic checkpoint (the
# gpt-oss-20b geometry, first 2 blocks), our engine next to the official PyTorch model in
# fp32 and bf16, in one run, with the machine's limits measured alongside.
#
#   bench/bench_forward.sh [--checkpoint DIR] [--reps N] [--threads N] [--fp32-mlp-chunk N]
#
# Without --checkpoint the 20b-2l preset is written once with `gptoss synth` under
# $GPTOSS_BENCH_DIR (default build/bench-data, about 3.3 GB). Every forward runs over the
# same 32 tokens ("What is the capital of France?" padded with <|endoftext|>), after one
# warm-up, --reps times (default 3); reported: median wall seconds, CPU seconds (all
# threads), peak RSS, and the speed-up of ours over each torch run by wall time and by
# CPU time (the latter stays meaningful when other processes share the cores).
# Our run also reports the bytes of weights one forward reads over the measured memory
# bandwidth (1 = memory-bound) and its GFLOP/s over the measured FMA peak.
# torch fp32 upcasts the model after loading (the parity reference); its MoE block is run
# over --fp32-mlp-chunk tokens at a time (default 8; 0 = as shipped) because the shipped
# block gathers [32, 4, 5760, 2880] fp32 expert weights (8.5 GB) on top of the 11 GB model.
# torch bf16 runs as shipped. Set GPTOSS_BIGMEM_LOCK to a lock file to serialise the torch
# runs with other large jobs (flock).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GPTOSS_BIN:-$root/build/gptoss}
bench=$(dirname "$bin")/bench/bench_forward
py=${GPTOSS_PYTHON:-$root/.venv/bin/python}
ckpt="" reps=3 threads=$(nproc) chunk=8
while [ $# -gt 0 ]; do
  case $1 in
    --checkpoint) ckpt=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --fp32-mlp-chunk) chunk=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_forward.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$bench" ] || { echo "bench_forward.sh: $bench not built (cmake --build build)" >&2; exit 1; }
if [ -z "$ckpt" ]; then
  data=${GPTOSS_BENCH_DIR:-$root/build/bench-data}
  ckpt=$data/20b-2l
  [ -d "$ckpt" ] || { mkdir -p "$data"; "$bin" synth --preset 20b-2l -o "$ckpt" >&2; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
locked() { if [ -n "${GPTOSS_BIGMEM_LOCK:-}" ]; then flock "$GPTOSS_BIGMEM_LOCK" "$@"; else "$@"; fi; }

echo "ours ..." >&2
"$bench" -m "$ckpt" --reps "$reps" --threads "$threads" >"$tmp/ours.json"
echo "torch fp32 ..." >&2
locked "$py" "$root/bench/torch_forward.py" --checkpoint "$ckpt" --dtype fp32 --reps "$reps" \
  --threads "$threads" --mlp-chunk "$chunk" >"$tmp/fp32.json" || echo '{"failed": true}' >"$tmp/fp32.json"
echo "torch bf16 ..." >&2
locked "$py" "$root/bench/torch_forward.py" --checkpoint "$ckpt" --dtype bf16 --reps "$reps" \
  --threads "$threads" >"$tmp/bf16.json" || echo '{"failed": true}' >"$tmp/bf16.json"

"$py" - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
ours = json.load(open(f"{d}/ours.json"))
runs = [("gptoss (C, " + ours["kernels"] + ")", ours)]
for name, f in (("torch fp32", "fp32"), ("torch bf16", "bf16")):
    runs.append((name, json.load(open(f"{d}/{f}.json"))))
print(f"checkpoint {ours['checkpoint']}: {ours['layers']} blocks, {ours['tokens']} tokens, {ours['threads']} threads")
print(f"{'':24s} {'wall s':>8s} {'cpu s':>8s} {'peak RSS':>10s}  {'ours faster (wall)':>18s} {'(cpu)':>7s}")
for name, r in runs:
    if r.get("failed"):
        print(f"{name:24s} failed (memory?)")
        continue
    extra = ""
    if r is not ours:
        extra = f"  {r['wall_median_s'] / ours['wall_median_s']:17.1f}x {r['cpu_s_per_forward'] / ours['cpu_s_per_forward']:6.1f}x"
        if r.get("mlp_chunk"):
            name += f" (MoE by {r['mlp_chunk']})"
    print(f"{name:24s} {r['wall_median_s']:8.3f} {r['cpu_s_per_forward']:8.3f} {r['peak_rss_bytes'] / 2**30:8.2f} GB{extra}")
print(f"weights read per forward {ours['weight_bytes_read'] / 1e9:.2f} GB; measured bandwidth "
      f"{ours['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s -> memory-bound fraction {ours['memory_bound_fraction']:.2f}")
print(f"{ours['gflop']:.1f} GFLOP per forward at {ours['gflops_achieved']:.1f} GFLOP/s; measured FMA peak "
      f"{ours['fma_peak_gflops']:.1f} GFLOP/s -> {ours['compute_fraction']:.2f} of peak "
      f"({ours['compute_fraction_per_cpu_s']:.2f} per CPU-second: {ours['fma_peak_gflop_per_cpu_s']:.1f} GFLOP per CPU-second peak)")
PY
