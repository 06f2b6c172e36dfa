#!/usr/bin/env bash
# bench_load.sh: time from `gptoss` start to a usable model, on the tiny and the full 20b
# synthetic checkpoints, side by side with the official loader's opening step.
#
#   bench/bench_load.sh [--runs N] [--tiny DIR] [--20b DIR]
#
# Without --tiny/--20b the checkpoints are made once with `gptoss synth` under
# $GPTOSS_BENCH_DIR (default build/bench-data; the 20b preset is about 13.8 GB on disk).
# Measured, warm page cache, N runs after one warm-up, min and median wall time:
#   gptoss inspect DIR       whole process: start, mmap, validate every header, the config,
#                            every tensor, convert small vectors, print the table, exit
#   bench_load DIR           the same open + close in process (no process start)
#   official loader          gpt_oss.torch.weights.Checkpoint(DIR): safe_open of every file to
#                            map tensor names (in process, after `import torch`), and the
#                            whole python process
#   official usable model    Transformer.from_checkpoint(DIR, "cpu") in process: the
#                            reference's time to a usable model (dequantizes every MXFP4
#                            expert; tiny only: on 20b it needs about 42 GB of memory)
# "Independent of file size" shows as the 20b / tiny ratio of our times next to the ratio
# of the checkpoint sizes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GPTOSS_BIN:-$root/build/gptoss}
bench_load=$(dirname "$bin")/bench/bench_load
py=${GPTOSS_PYTHON:-$root/.venv/bin/python}
runs=10 tiny="" big=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --tiny) tiny=$2; shift 2 ;;
    --20b) big=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_load.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "bench_load.sh: $bin not built (cmake --build build)" >&2; exit 1; }
data=${GPTOSS_BENCH_DIR:-$root/build/bench-data}
if [ -z "$tiny" ]; then
  tiny=$data/tiny
  [ -d "$tiny" ] || { mkdir -p "$data"; "$bin" synth --preset tiny -o "$tiny"; }
fi
if [ -z "$big" ]; then
  big=$data/20b
  [ -d "$big" ] || { mkdir -p "$data"; echo "writing the 20b preset (about 13.8 GB) to $big ..." >&2;
                     "$bin" synth --preset 20b -o "$big"; }
fi

# wall seconds of "$@" over $runs runs after one warm-up: prints "min median"
time_runs() {
  "$@" >/dev/null 2>&1 || { echo "bench_load.sh: failed: $*" >&2; "$@" >/dev/null; exit 1; }
  local ts=() i t0 t1
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    ts+=($(( t1 - t0 )))
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.4f %.4f\n", a[1]/1e9, a[int((NR+1)/2)]/1e9}'
}

peer_model() { # official Transformer.from_checkpoint, in process
  "$py" - "$1" "$runs" <<'PY'
import sys, time, torch
from gpt_oss.torch.model import Transformer
d, n = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
Transformer.from_checkpoint(d, "cpu")
ts = []
for _ in range(n):
    t0 = time.perf_counter(); Transformer.from_checkpoint(d, "cpu"); ts.append(time.perf_counter() - t0)
ts.sort(); print(f"{ts[0]:.4f} {ts[len(ts)//2]:.4f}")
PY
}

peer_inproc() { # official loader, in process: min seconds of Checkpoint(dir) over $runs runs
  "$py" - "$1" "$runs" <<'PY'
import sys, time, torch
from gpt_oss.torch.weights import Checkpoint
d, n = sys.argv[1], int(sys.argv[2])
Checkpoint(d, torch.device("cpu"))
ts = []
for _ in range(n):
    t0 = time.perf_counter(); Checkpoint(d, torch.device("cpu")); ts.append(time.perf_counter() - t0)
ts.sort(); print(f"{ts[0]:.4f} {ts[len(ts)//2]:.4f}")
PY
}

size_of() { du -sb --apparent-size "$1" | cut -f1; }
have_py=0
[ -x "$py" ] && "$py" -c "import gpt_oss.torch.weights" 2>/dev/null && have_py=1

declare -A R
for name in tiny 20b; do
  dir=$tiny; [ $name = 20b ] && dir=$big
  R[$name.size]=$(size_of "$dir")
  R[$name.inspect]=$(time_runs "$bin" inspect "$dir")
  R[$name.inproc]=$("$bench_load" "$dir" --runs "$runs" | sed -E 's/.*min ([0-9.]+) s, median ([0-9.]+) s.*/\1 \2/')
  R[$name.rss]=$( { /usr/bin/time -f "%M" "$bin" inspect "$dir" >/dev/null; } 2>&1 | tail -1)
  if [ $have_py = 1 ]; then
    R[$name.peer]=$(peer_inproc "$dir")
    R[$name.model]="- -"
    [ $name = tiny ] && R[$name.model]=$(peer_model "$dir")
    R[$name.peerproc]=$(time_runs "$py" -c "import sys, torch; from gpt_oss.torch.weights import Checkpoint; Checkpoint(sys.argv[1], torch.device('cpu'))" "$dir")
  else
    R[$name.peer]="- -"; R[$name.peerproc]="- -"; R[$name.model]="- -"
  fi
done

med() { echo "$1" | cut -d' ' -f2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3g", a / b }'; }
echo
echo "load time, warm cache, $runs runs (min / median seconds); $(nproc) CPUs"
printf '%-34s %20s %20s %10s\n' "" "tiny" "20b" "20b/tiny"
printf '%-34s %20s %20s %10s\n' "checkpoint size (GB)" \
  "$(awk -v s="${R[tiny.size]}" 'BEGIN{printf "%.3f", s/1e9}')" "$(awk -v s="${R[20b.size]}" 'BEGIN{printf "%.3f", s/1e9}')" \
  "$(ratio "${R[20b.size]}" "${R[tiny.size]}")"
for k in inspect inproc peer model peerproc; do
  case $k in
    inspect) label="gptoss inspect (whole process)" ;;
    inproc) label="gptoss_model_open+close (in proc)" ;;
    peer) label="official Checkpoint() (in proc)" ;;
    model) label="official from_checkpoint (in proc)" ;;
    peerproc) label="official Checkpoint() (py process)" ;;
  esac
  printf '%-34s %20s %20s %10s\n' "$label" "${R[tiny.$k]/ / / }" "${R[20b.$k]/ / / }" \
    "$(ratio "$(med "${R[20b.$k]}")" "$(med "${R[tiny.$k]}")")"
done
printf '%-34s %20s %20s\n' "gptoss inspect peak RSS (KB)" "${R[tiny.rss]}" "${R[20b.rss]}"
echo
echo "tiny: official from_checkpoint / gptoss_model_open (in process, median):  $(ratio "$(med "${R[tiny.model]}")" "$(med "${R[tiny.inproc]}")")x"
echo "20b:  official Checkpoint() / gptoss_model_open (in process, median):     $(ratio "$(med "${R[20b.peer]}")" "$(med "${R[20b.inproc]}")")x"
echo "20b:  official Checkpoint() python process / gptoss inspect (median):     $(ratio "$(med "${R[20b.peerproc]}")" "$(med "${R[20b.inspect]}")")x"
echo "(the official Checkpoint() only maps names to files; it validates nothing and has not yet"
echo " read a tensor, while gptoss_model_open has validated everything and converted the small vectors)"
