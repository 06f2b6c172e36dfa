#!/usr/bin/env bash
# bench_llamacpp.sh: gptoss beside llama.cpp (CPU) on the same synthetic weights, in one run.
#
#   bash bench/bench_llamacpp.sh [--preset 20b-2l|20b] [--runs N] [--threads N] [--json FILE]
#        [--data DIR] [--prompts 32,512] [--depths 0,1024,8192] [--build-only]
#
# 1. llama.cpp: the tree inside the PyPI sdist of llama-cpp-python (pinned below), CPU only,
#    CMake Release with GGML_NATIVE, built once into ~/.cache/gptoss/llama.cpp-<version>/
#    (GPTOSS_CACHE moves it; a stamp keyed by version, flags and targets decides a rebuild).
# 2. The weights: `gptoss synth --preset P --format hf` under --data (default
#    ~/.cache/gptoss/bench-llamacpp/P-hf), its tokenizer.json + tokenizer_config.json from
#    bench/hf_tokenizer.py (ids checked against gptoss tokenize), and llama.cpp's own
#    convert_hf_to_gguf.py --outtype bf16 (experts stay MXFP4) beside it; all reused later.
# 3. Timing, both engines interleaved (llama.cpp, gptoss, llama.cpp, ...; --runs N each,
#    default 3), --threads T (default 2): prefill tokens/s for each of --prompts, decode
#    tokens/s of 32 tokens after each of --depths context tokens, the peak RSS of every
#    process (/usr/bin/time), the memory bandwidth (bench_forward --bandwidth-only, before
#    and after) and the weight bytes a decoded token reads, hence each engine's fraction of
#    the memory roofline. Prints a table with the best run (min time) and the median, and
#    the ratio gptoss / llama.cpp of the medians; --json FILE writes everything (atomically).
#    llama.cpp runs llama-bench (its own random token ids, a warm-up pass before each
#    measurement); gptoss runs `gptoss generate --json` on a fixed list of ordinary token ids
#    (one process per measurement, no warm-up), or, where this gptoss has no `generate`,
#    `gptoss run --tokens` for prefill (its printed forward time) and decode is n/a.
# GPTOSS_BIN names another gptoss command (default build/gptoss).
# Memory: llama.cpp needs 18-21 GB on the full 20b; set GPTOSS_BIGMEM_LOCK to a lock file to
# hold it (flock) while measuring. The full 20b takes an hour or more with the default depths.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
caller=$PWD
cd "$root"
abs() { case $1 in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }  # paths given by the caller

llama_version=0.3.36   # llama-cpp-python sdist; its vendor/llama.cpp is the peer
llama_flags="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
 -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF"
llama_targets="llama-bench"

preset=20b-2l
runs=3
threads=2
cache=${GPTOSS_CACHE:-$HOME/.cache/gptoss}
data=
json=
prompts=32,512
depths=0,1024,8192
build_only=0
usage() {
  echo "usage: bench_llamacpp.sh [--preset 20b-2l|20b] [--runs N] [--threads N] [--json FILE]" >&2
  echo "       [--data DIR] [--prompts N,N..] [--depths N,N..] [--build-only]" >&2
  exit 2
}
need_arg() { if [ $# -lt 2 ] || [ -z "$2" ]; then echo "bench_llamacpp: $1 needs a value" >&2; usage; fi; }
while [ $# -gt 0 ]; do
  case $1 in
    --preset) need_arg "$@"; preset=$2; shift ;;
    --runs) need_arg "$@"; runs=$2; shift ;;
    --threads) need_arg "$@"; threads=$2; shift ;;
    --data) need_arg "$@"; data=$(abs "$2"); shift ;;
    --json) need_arg "$@"; json=$(abs "$2"); shift ;;
    --prompts) need_arg "$@"; prompts=$2; shift ;;
    --depths) need_arg "$@"; depths=$2; shift ;;
    --build-only) build_only=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_llamacpp: unknown argument $1" >&2; usage ;;
  esac
  shift
done
case $preset in 20b-2l|20b) ;; *) echo "bench_llamacpp: --preset $preset: expected 20b-2l or 20b" >&2; exit 2 ;; esac
for v in runs threads; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench_llamacpp: --$v ${!v}: expected a positive integer" >&2; exit 2; }
done
[[ $prompts =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "bench_llamacpp: --prompts $prompts: expected positive integers, comma-separated" >&2; exit 2; }
[[ $depths =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "bench_llamacpp: --depths $depths: expected integers, comma-separated" >&2; exit 2; }
if [ -n "$json" ] && [ ! -d "$(dirname "$json")" ]; then
  echo "bench_llamacpp: --json $json: folder $(dirname "$json") does not exist" >&2; exit 2
fi
say() { echo "bench_llamacpp: $*" >&2; }
die() { say "$*"; exit 1; }

# 1. llama.cpp, built once per version and flags
llama_dir=$cache/llama.cpp-$llama_version
llama_bin=$llama_dir/build/bin
llama_src=$llama_dir/src
build_llamacpp() {
  local stamp="$llama_version $llama_flags $llama_targets"
  if [ -f "$llama_dir/stamp" ] && [ "$(cat "$llama_dir/stamp")" = "$stamp" ]; then return; fi
  say "building llama.cpp from llama-cpp-python $llama_version (once; about 5 min on 2 cores)"
  mkdir -p "$llama_dir"
  rm -f "$llama_dir/stamp"
  local sdist=$llama_dir/llama_cpp_python-$llama_version.tar.gz
  if [ ! -f "$sdist" ]; then
    "$root/.venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
      --no-binary :all: "llama-cpp-python==$llama_version" -d "$llama_dir.tmp"
    mv "$llama_dir.tmp/$(basename "$sdist")" "$sdist"; rmdir "$llama_dir.tmp"
  fi
  rm -rf "$llama_src" "$llama_src.tmp"; mkdir -p "$llama_src.tmp"
  tar xzf "$sdist" -C "$llama_src.tmp" --strip-components=3 "llama_cpp_python-$llama_version/vendor/llama.cpp"
  mv "$llama_src.tmp" "$llama_src"
  # shellcheck disable=SC2086
  cmake -S "$llama_src" -B "$llama_dir/build" $llama_flags >"$llama_dir/build.log" 2>&1 ||
    die "llama.cpp configure failed, see $llama_dir/build.log"
  # shellcheck disable=SC2086
  cmake --build "$llama_dir/build" -j2 --target $llama_targets >>"$llama_dir/build.log" 2>&1 ||
    die "llama.cpp build failed, see $llama_dir/build.log"
  echo "$stamp" >"$llama_dir/stamp"
}
build_llamacpp
if [ ! -s "$llama_dir/commit" ]; then  # the vendored tree has no .git; the sdist records its commit
  tar xzf "$llama_dir/llama_cpp_python-$llama_version.tar.gz" -O \
    "llama_cpp_python-$llama_version/.git/modules/vendor/llama.cpp/HEAD" >"$llama_dir/commit" 2>/dev/null ||
    echo unknown >"$llama_dir/commit"
fi
[ $build_only = 0 ] || { say "llama.cpp ready in $llama_bin"; exit 0; }

# 2. the weights: synthetic HF-layout checkpoint, tokenizer files, GGUF (each made once)
bin=${GPTOSS_BIN:-$root/build/gptoss}
bench_forward=$root/build/bench/bench_forward
py=${GPTOSS_PYTHON:-$root/.venv/bin/python}
{ [ -x "$bin" ] && [ -x "$bench_forward" ]; } || die "build gptoss first (bash scripts/build.sh)"
[ -x "$py" ] || die "$py: no Python; run bash scripts/setup_python.sh"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
ckpt=${data:-$cache/bench-llamacpp}/$preset-hf
gguf=$ckpt/model-bf16.gguf
if [ ! -f "$ckpt/config.json" ]; then
  mkdir -p "$(dirname "$ckpt")"
  say "writing the $preset checkpoint (HF layout) to $ckpt"
  "$bin" synth --preset "$preset" --format hf -o "$ckpt" >&2
fi
if [ ! -f "$ckpt/tokenizer_config.json" ]; then
  "$py" "$root/bench/hf_tokenizer.py" "$ckpt" --gptoss "$bin" >&2
fi
if [ ! -f "$gguf" ]; then
  say "converting to GGUF with llama.cpp's convert_hf_to_gguf.py --outtype bf16"
  trap 'rm -f "$gguf.tmp"' EXIT
  "$py" "$llama_src/convert_hf_to_gguf.py" "$ckpt" --outtype bf16 --outfile "$gguf.tmp" \
    >"$ckpt/convert.log" 2>&1 || die "conversion failed, see $ckpt/convert.log"
  mv "$gguf.tmp" "$gguf"
  trap - EXIT
fi

# 3. timing, interleaved; every process's stdout, stderr, exit status and peak RSS kept in $work
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${GPTOSS_BIGMEM_LOCK:-}" ]; then exec 9>"$GPTOSS_BIGMEM_LOCK"; flock 9; fi
has_generate=0
"$bin" generate --help >/dev/null 2>&1 && has_generate=1
[ $has_generate = 1 ] || say "this gptoss has no 'generate': prefill timed with 'gptoss run', decode n/a"

# n deterministic ordinary token ids (< 199998), comma-separated
token_ids() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d", i ? "," : "", (1000 + i * 7919) % 199998 }'; }

# measure NAME CMD...: runs CMD under /usr/bin/time; NAME.{out,err,time,rc} in $work
measure() {
  local name=$1; shift
  local rc=0
  /usr/bin/time -f '%M %e' -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  echo $rc >"$work/$name.rc"
  [ $rc = 0 ] || say "$name failed (exit $rc): $(tail -1 "$work/$name.err")"
}
llama() { measure "llama.$1" "$llama_bin/llama-bench" -m "$gguf" -t "$threads" -r 1 -o json "${@:2}"; }
# the checkpoint's pages in the page cache, untimed, before every gptoss process (llama-bench
# reads its GGUF while loading, also untimed): both then measure compute, not the disk
warm_cache() { cat "$ckpt"/*.safetensors >/dev/null; }
gptoss_prefill() {
  local n=$1 name=$2
  warm_cache
  if [ $has_generate = 1 ]; then
    measure "$name" "$bin" generate -m "$ckpt" --tokens "$(token_ids "$n")" -n 1 --temperature 0 \
      --threads "$threads" --context $((n + 1)) --json
  else
    measure "$name" "$bin" run -m "$ckpt" --tokens "$(token_ids "$n")" --top 1 --threads "$threads"
  fi
}
gptoss_decode() {
  local name=$2 n=$(($1 > 0 ? $1 : 1))  # depth $1; at least one prompt token
  [ $has_generate = 1 ] || return 0
  warm_cache
  measure "$name" "$bin" generate -m "$ckpt" --tokens "$(token_ids "$n")" -n 32 --temperature 0 \
    --threads "$threads" --context $((n + 32)) --json
}

"$bench_forward" --bandwidth-only --threads "$threads" >"$work/bandwidth.before.json"
cut -d' ' -f1 /proc/loadavg >"$work/load.before"
say "$preset, $threads threads, $runs runs; prefill ${prompts//,/ } tokens, decode 32 at depth ${depths//,/ }"
for r in $(seq 1 "$runs"); do
  for p in ${prompts//,/ }; do
    say "run $r/$runs: prefill $p"
    llama "pp$p.r$r" -p "$p" -n 0
    gptoss_prefill "$p" "gptoss.pp$p.r$r"
  done
  for d in ${depths//,/ }; do
    say "run $r/$runs: decode 32 at depth $d"
    llama "tg$d.r$r" -p 0 -n 32 -d "$d"
    gptoss_decode "$d" "gptoss.tg$d.r$r"
  done
done
"$bench_forward" --bandwidth-only --threads "$threads" >"$work/bandwidth.after.json"

"$py" "$root/bench/bench_llamacpp_report.py" --work "$work" --checkpoint "$ckpt" --gguf "$gguf" \
  --preset "$preset" --runs "$runs" --threads "$threads" --prompts "$prompts" --depths "$depths" \
  --llama-version "$llama_version" --llama-commit "$(cat "$llama_dir/commit")" --gptoss-version "$("$bin" --version)" \
  --has-generate "$has_generate" ${json:+--json "$json"}
