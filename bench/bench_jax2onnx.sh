#!/usr/bin/env bash
# Exports one model twice, with `gptoss export-onnx` and with jax2onnx (the baseline
# report's exporter, on its Flax GPT-OSS loaded with the same checkpoint), and puts the two
# side by side: export wall time, peak RSS, file size, node count, unused initializers,
# ONNX Runtime session load time and latency, and the two graphs' logits difference.
#
#   bash bench/bench_jax2onnx.sh [-m DIR | --preset NAME] [--max-layers N]
#        [--sequence-length S] [--mem-limit-gib G] [--out DIR]
#
# Defaults: --preset tiny, S = 32, the prompt "What is the capital of France?".
# A preset's checkpoint is made with `gptoss synth` under artifacts/models/ if missing.
# Each export runs under a memory watchdog (default 18 GiB RSS for the process tree): an
# exporter that passes it is stopped, and the table says so and names the phase it was
# in (the jax2onnx export script prints `phase: ...` lines) and where (its stack). For
# checkpoints over 1 GB, each step that loads weights runs under `flock $GPTOSS_BIGMEM_LOCK`
# when that variable names a lock file (so two big runs never share the memory).
# Results: a markdown table on stdout and <out>/bench_jax2onnx.{md,json}.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${GPTOSS_BIN:-build/gptoss}
py=${GPTOSS_PYTHON:-$root/.venv/bin/python}
preset=tiny model= max_layers=0 seqlen=32 mem_gib=18 out=
prompt="What is the capital of France?"
while [ $# -gt 0 ]; do
  case $1 in
    -m) model=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --max-layers) max_layers=$2; shift 2 ;;
    --sequence-length) seqlen=$2; shift 2 ;;
    --mem-limit-gib) mem_gib=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_jax2onnx: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "bench_jax2onnx: $bin not built" >&2; exit 1; }
[ -x "$py" ] || { echo "bench_jax2onnx: no reference Python at $py" >&2; exit 1; }
"$py" -c "import jax2onnx" 2>/dev/null ||
  { echo "bench_jax2onnx: jax2onnx missing in $py (scripts/setup_python.sh)" >&2; exit 1; }
if [ -z "$model" ]; then
  model=artifacts/models/$preset
  [ -f "$model/config.json" ] || "$bin" synth --preset "$preset" -o "$model" >&2 || exit 1
fi
name=${preset}; [ -n "${model##artifacts/models/*}" ] && name=$(basename "$model")
out=${out:-artifacts/bench_jax2onnx/$name}
mkdir -p "$out"
lock=${GPTOSS_BIGMEM_LOCK:-}
big=$(( $(du -sbL "$model" | cut -f1) > 1000000000 ))
locked() { if [ "$big" = 1 ] && [ -n "$lock" ]; then flock "$lock" "$@"; else "$@"; fi; }
layers_opt=(); [ "$max_layers" != 0 ] && layers_opt=(--max-layers "$max_layers")
tokens=$("$bin" tokenize --json "$prompt" | "$py" -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))')

# measure NAME CMD... : runs CMD under the watchdog; leaves NAME.log and NAME.time
# ("<exit> <wall s> <peak RSS KiB> <stopped 0|1>").
measure() {
  local tag=$1; shift
  locked "$py" bench/watchdog.py --limit-gib "$mem_gib" --report "$out/$tag.time" -- "$@" \
    >"$out/$tag.log" 2>&1
  cat "$out/$tag.time"
}

rm -f "$out"/gptoss.onnx* "$out"/jax2onnx.onnx*
echo "bench_jax2onnx: $model, S=$seqlen, prompt tokens $tokens" >&2
echo "bench_jax2onnx: exporting with gptoss export-onnx" >&2
read -r g_rc g_wall g_rss g_killed < <(measure export_gptoss "$bin" export-onnx -m "$model" \
  -o "$out/gptoss.onnx" --sequence-length "$seqlen" "${layers_opt[@]}")
echo "bench_jax2onnx: exporting with jax2onnx" >&2
read -r j_rc j_wall j_rss j_killed < <(measure export_jax2onnx "$py" bench/jax2onnx_export.py \
  --checkpoint "$model" -o "$out/jax2onnx.onnx" --sequence-length "$seqlen" "${layers_opt[@]}")
rm -rf "$out"/.jax2onnx.* # the helper's temporary folder, left behind when it was stopped

status() { # rc killed log
  if [ "$2" = 1 ]; then
    # The innermost frames of the stack the helper printed when the watchdog stopped it.
    local where
    where=$(awk '/^Current thread/{c=1; next} /^Thread 0x/{c=0} c && /File "/' "$3" | head -3 |
      sed -E 's/.*File "([^"]*site-packages\/)?([^"]*)", line ([0-9]+) in (.*)/\2:\3 \4/' | paste -sd ';' -)
    echo "stopped at ${mem_gib} GiB in phase '$(grep '^phase:' "$3" | tail -1 | cut -c8-)'${where:+ at $where}"
  elif [ "$1" != 0 ]; then
    echo "failed (exit $1): $(grep -v '^phase:' "$3" | grep -v '^\s*$' | tail -1 | cut -c1-160)"
  else echo ok; fi
}
graphs=()
[ "$g_rc" = 0 ] && graphs+=("gptoss=$out/gptoss.onnx")
[ "$j_rc" = 0 ] && graphs+=("jax2onnx=$out/jax2onnx.onnx")
{
  echo "# jax2onnx vs gptoss export-onnx: \`$name\`, S=$seqlen$( [ "$max_layers" != 0 ] && echo ", max layers $max_layers")"
  echo
  echo "Prompt \"$prompt\" (tokens $tokens). ONNX Runtime $("$py" -c 'import onnxruntime as o; print(o.__version__)'),"
  echo "jax2onnx $("$py" -c 'import importlib.metadata as m; print(m.version("jax2onnx"))'), $(nproc) cores."
  echo
  echo "| export | gptoss export-onnx | jax2onnx | ratio (jax2onnx / gptoss) |"
  echo "|---|---|---|---|"
  echo "| result | $(status "$g_rc" "$g_killed" "$out/export_gptoss.log") | $(status "$j_rc" "$j_killed" "$out/export_jax2onnx.log") | |"
  awk -v a="$g_wall" -v b="$j_wall" 'BEGIN{printf "| wall time (s) | %.2f | %.2f | %.1fx |\n", a, b, (a>0? b/a : 0)}'
  awk -v a="$g_rss" -v b="$j_rss" 'BEGIN{printf "| peak RSS (MiB) | %.0f | %.0f | %.1fx |\n", a/1024, b/1024, (a>0? b/a : 0)}'
  echo
  if [ ${#graphs[@]} -gt 0 ]; then
    locked "$py" bench/onnx_stats.py --tokens "$tokens" --json "$out/onnx_stats.json" "${graphs[@]}"
  fi
} >"$out/bench_jax2onnx.md.tmp.$$" && mv "$out/bench_jax2onnx.md.tmp.$$" "$out/bench_jax2onnx.md"
cat "$out/bench_jax2onnx.md"
