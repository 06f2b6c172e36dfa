#!/usr/bin/env bash
# `gptoss export-onnx --target genai` beside onnxruntime-genai's own model builder
# (`python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p PRECISION -e cpu`) on
# the same Hugging Face-layout checkpoint, in one run: export wall time and peak RSS,
# folder size, node and op counts, then onnxruntime-genai's load time, prefill and decode
# tokens/s, and each model's logits against the engine's (max |diff| over the prefill's
# positions and over the decode steps; top-1 agreement with the engine's greedy tokens).
#
#   bash bench/bench_ortgenai.sh [-m HF_DIR | --preset NAME] [--precisions fp32,int8,int4]
#        [--prompt-tokens P] [--decode N] [--mem-limit-gib G] [--out DIR]
#
# Defaults: --preset small (made with `gptoss synth --format hf` under artifacts/models/),
# fp32 only, P = 128, N = 32. Precisions: fp32 (ours: --weights fp32; builder: -p fp32),
# int8 (ours: --weights int8; builder: -p int8), int4 (the builder only; ours has none).
# The builder reads the tokenizer files from the checkpoint folder: it gets ours, through
# a folder of links beside the outputs (the checkpoint is not touched). It needs
# `accelerate` (python/requirements-extra-genai.txt). Decode feeds the engine's greedy
# continuation one token at a time (so both models see the same inputs); the continuation
# comes from our fp32 folder and is checked against one engine run over the whole sequence.
# Each export runs under bench/watchdog.py (default limit 20 GiB); for checkpoints over 1 GB
# every heavy step runs under `flock $GPTOSS_BIGMEM_LOCK` when that variable names a lock.
# Results: a markdown table on stdout and <out>/bench_ortgenai.{md,json}.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${GPTOSS_BIN:-build/gptoss}
py=${GPTOSS_PYTHON:-$root/.venv/bin/python}
preset=small model= precisions=fp32 prompt_tokens=128 decode=32 mem_gib=20 out=
while [ $# -gt 0 ]; do
  case $1 in
    -m) model=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --prompt-tokens) prompt_tokens=$2; shift 2 ;;
    --decode) decode=$2; shift 2 ;;
    --mem-limit-gib) mem_gib=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_ortgenai: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "bench_ortgenai: $bin not built" >&2; exit 1; }
"$py" -c "import onnxruntime_genai, accelerate" 2>/dev/null ||
  { echo "bench_ortgenai: onnxruntime-genai or accelerate missing in $py (scripts/setup_python.sh)" >&2; exit 1; }
if [ -z "$model" ]; then
  model=artifacts/models/$preset-hf
  mkdir -p artifacts/models
  [ -f "$model/config.json" ] || "$bin" synth --preset "$preset" --format hf -o "$model" >&2 || exit 1
fi
name=$(basename "$model")
out=${out:-artifacts/bench_ortgenai/$name}
mkdir -p "$out"
out=$(cd "$out" && pwd)
lock=${GPTOSS_BIGMEM_LOCK:-}
big=$(( $(du -sbL "$model" | cut -f1) > 1000000000 ))
locked() { if [ "$big" = 1 ] && [ -n "$lock" ]; then flock "$lock" "$@"; else "$@"; fi; }
measure() { # measure TAG CMD... -> "<exit> <wall s> <peak RSS KiB> <stopped>"
  local tag=$1; shift
  locked "$py" bench/watchdog.py --limit-gib "$mem_gib" --report "$out/$tag.time" -- "$@" >"$out/$tag.log" 2>&1
  cat "$out/$tag.time"
}

# the prompt: P ids of ordinary English text
text=$(for _ in $(seq 40); do printf 'The quick brown fox jumps over the lazy dog while the committee reviews the annual budget. '; done)
prompt=$("$bin" tokenize --json "$text" | "$py" -c "import json,sys; print(','.join(map(str, json.load(sys.stdin)['ids'][:$prompt_tokens])))")

declare -A ex_time ex_rss ex_rc
IFS=, read -r -a plist <<< "$precisions"
have_fp32=0; for p in "${plist[@]}"; do [ "$p" = fp32 ] && have_fp32=1; done
[ $have_fp32 = 1 ] || plist=(fp32 "${plist[@]}")

shadow=$out/hf-with-tokenizer
for p in "${plist[@]}"; do
  if [ "$p" != int4 ]; then
    rm -rf "$out/gptoss-$p"
    echo "bench_ortgenai: gptoss export-onnx --weights $p" >&2
    read -r rc wall rss _ < <(measure "export-gptoss-$p" "$bin" export-onnx -m "$model" -o "$out/gptoss-$p" \
      --target genai --weights "$p" -q)
    ex_rc[gptoss-$p]=$rc ex_time[gptoss-$p]=$wall ex_rss[gptoss-$p]=$rss
  fi
  if [ ! -d "$shadow" ]; then
    mkdir -p "$shadow"
    for f in "$(cd "$model" && pwd)"/*; do ln -sf "$f" "$shadow/"; done
    cp "$out/gptoss-fp32/tokenizer.json" "$out/gptoss-fp32/tokenizer_config.json" "$shadow/"
  fi
  rm -rf "$out/builder-$p" "$out/builder-cache"
  echo "bench_ortgenai: onnxruntime-genai builder -p $p" >&2
  read -r rc wall rss _ < <(measure "export-builder-$p" "$py" -m onnxruntime_genai.models.builder -i "$shadow" \
    -o "$out/builder-$p" -p "$p" -e cpu -c "$out/builder-cache")
  ex_rc[builder-$p]=$rc ex_time[builder-$p]=$wall ex_rss[builder-$p]=$rss
  rm -rf "$out/builder-cache"
done

# the engine's greedy continuation (from our fp32 folder, checked against the engine)
cont=$(locked "$py" bench/ortgenai_run.py "$out/gptoss-fp32" --tokens "$prompt" --greedy "$decode" 2>"$out/greedy.log") ||
  { echo "bench_ortgenai: greedy run failed (see $out/greedy.log)" >&2; exit 1; }
echo "$prompt" > "$out/prompt.txt"
echo "$cont" > "$out/continuation.txt"
locked "$bin" run -m "$model" --tokens "$prompt,$cont" --dump "$out/engine.safetensors" --top 1 >"$out/engine.log" 2>&1 ||
  { echo "bench_ortgenai: engine run failed (see $out/engine.log)" >&2; exit 1; }
engine_agrees=$("$py" - "$out/engine.safetensors" "$prompt_tokens" "$cont" <<'EOF'
import sys
import numpy as np
from safetensors.numpy import load_file
logits = load_file(sys.argv[1])["logits"]
S, cont = int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]
print(sum(int(np.argmax(logits[S - 1 + i])) == t for i, t in enumerate(cont)), "/", len(cont))
EOF
)
results=()
for f in "$out"/gptoss-* "$out"/builder-*; do
  [ -f "$f/genai_config.json" ] || continue
  tag=$(basename "$f")
  echo "bench_ortgenai: running $tag" >&2
  locked "$py" bench/ortgenai_run.py "$f" --tokens "$prompt" --continuation "$cont" \
    --engine-dump "$out/engine.safetensors" --json "$out/run-$tag.json" >"$out/run-$tag.log" 2>&1 ||
    echo "bench_ortgenai: $tag failed (see $out/run-$tag.log)" >&2
  results+=("$tag")
done
rm -f "$out/engine.safetensors"

"$py" - "$out" "$name" "$prompt_tokens" "$decode" "$engine_agrees" "${plist[*]}" <<EOF
import json, os, sys
out, name, P, N, agrees, plist = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6].split()
ex = {$(for k in "${!ex_time[@]}"; do printf '"%s": (%s, %s, %s), ' "$k" "${ex_rc[$k]}" "${ex_time[$k]}" "${ex_rss[$k]}"; done)}
def run(tag):
    p = os.path.join(out, f"run-{tag}.json")
    return json.load(open(p)) if os.path.exists(p) else None
def ops(r):
    return ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items(), key=lambda kv: -kv[1])[:6]) if r else "-"
def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"
lines = [f"# gptoss export-onnx --target genai vs onnxruntime-genai's builder: \`{name}\`",
         "", f"Prompt {P} tokens, {N} decode tokens (the engine's greedy continuation: the engine's own argmax agrees {agrees}).", ""]
summary = {}
for p in plist:
    g, b = run(f"gptoss-{p}"), run(f"builder-{p}")
    eg, eb = ex.get(f"gptoss-{p}"), ex.get(f"builder-{p}")
    summary[p] = {"gptoss": {"export": eg, "run": g}, "builder": {"export": eb, "run": b}}
    lines += [f"## {p}", "", "| | gptoss | builder | builder / gptoss |", "|---|---|---|---|"]
    if eg or eb:
        t = lambda e: f"{e[1]:.1f} s" if e and e[0] == 0 else ("failed" if e else "-")
        m = lambda e: f"{e[2] / 1048576:.2f} GiB" if e else "-"
        lines.append(f"| export wall | {t(eg)} | {t(eb)} | {ratio(eb and eb[1], eg and eg[1])} |")
        lines.append(f"| export peak RSS | {m(eg)} | {m(eb)} | {ratio(eb and eb[2], eg and eg[2])} |")
    f = lambda r, k, fmt: (fmt % r[k]) if r else "-"
    lines.append(f"| folder size | {f(g, 'bytes', '%d')} B | {f(b, 'bytes', '%d')} B | {ratio(b and b['bytes'], g and g['bytes'])} |")
    lines.append(f"| nodes | {f(g, 'nodes', '%d')} | {f(b, 'nodes', '%d')} | |")
    lines.append(f"| ops | {ops(g)} | {ops(b)} | |")
    lines.append(f"| load | {f(g, 'load_s', '%.2f s')} | {f(b, 'load_s', '%.2f s')} | {ratio(b and b['load_s'], g and g['load_s'])} |")
    lines.append(f"| prefill tok/s | {f(g, 'prefill_tok_s', '%.1f')} | {f(b, 'prefill_tok_s', '%.1f')} | {ratio(b and b['prefill_tok_s'], g and g['prefill_tok_s'])} |")
    lines.append(f"| decode tok/s | {f(g, 'decode_tok_s', '%.1f')} | {f(b, 'decode_tok_s', '%.1f')} | {ratio(b and b['decode_tok_s'], g and g['decode_tok_s'])} |")
    lines.append(f"| logits max diff vs engine (prefill / decode) | {f(g, 'logits_max_diff_prefill', '%.2e')} / {f(g, 'logits_max_diff_decode', '%.2e')} | {f(b, 'logits_max_diff_prefill', '%.2e')} / {f(b, 'logits_max_diff_decode', '%.2e')} | |")
    lines.append(f"| top-1 = engine's greedy | {g and g['top1_agree']}/{g and g['top1_total']} | {b and b['top1_agree']}/{b and b['top1_total']} | |")
    lines.append("")
md = "\n".join(lines)
print(md)
open(os.path.join(out, "bench_ortgenai.md"), "w").write(md + "\n")
json.dump(summary, open(os.path.join(out, "bench_ortgenai.json"), "w"), indent=1)
EOF
