#!/usr/bin/env bash
# bench_synth.sh: `gptoss synth` throughput (GB/s) and peak memory on the 20b-2l and 20b
# presets, side by side with the disk's own sequential write speed (dd of the same number
# of bytes, fsync'ed like synth's files): the ceiling any checkpoint writer meets here.
#
#   bench/bench_synth.sh [--presets "20b-2l 20b"] [--threads N] [--keep]
#
# Writes under $GPTOSS_BENCH_DIR (default build/bench-data; the 20b preset needs 13.8 GB
# free, twice that while an older copy is being replaced) and removes the outputs unless
# --keep. Reported per preset: bytes, wall seconds of the whole `gptoss synth` process,
# GB/s, peak RSS (from /usr/bin/time), then dd's GB/s and synth / dd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GPTOSS_BIN:-$root/build/gptoss}
presets="20b-2l 20b" threads="" keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --presets) presets=$2; shift 2 ;;
    --threads) threads="--threads $2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_synth.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "bench_synth.sh: $bin not built (cmake --build build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_synth.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
data=${GPTOSS_BENCH_DIR:-$root/build/bench-data}
mkdir -p "$data"

now() { date +%s%N; }
rows=()
for p in $presets; do
  out=$data/synth-$p
  rm -rf "$out"
  sync
  t0=$(now)
  # shellcheck disable=SC2086
  rss=$( { /usr/bin/time -f "%M" "$bin" synth --preset "$p" --quiet $threads -o "$out" >/dev/null; } 2>&1 | tail -1)
  t1=$(now)
  bytes=$(du -sb --apparent-size "$out" | cut -f1)
  [ $keep = 1 ] || rm -rf "$out"
  sync
  # the disk's ceiling: the same bytes, 16 MiB writes, fsync at the end
  t2=$(now)
  dd if=/dev/zero of="$data/dd-$p" bs=16M count=$(( (bytes + 16777215) / 16777216 )) conv=fsync status=none
  t3=$(now)
  rm -f "$data/dd-$p"
  rows+=("$(awk -v p="$p" -v b="$bytes" -v s=$(( t1 - t0 )) -v d=$(( t3 - t2 )) -v r="$rss" 'BEGIN {
    gs = b / (s / 1e9) / 1e9; gd = b / (d / 1e9) / 1e9;
    printf "%-8s %9.2f %9.1f %9.2f %11.1f %9.2f %10.2f", p, b / 1e9, s / 1e9, gs, r / 1024, gd, gs / gd }')")
done

echo
echo "gptoss synth, $(nproc) CPUs, threads: ${threads:-all}; dd = the same bytes from /dev/zero, fsync'ed"
printf '%-8s %9s %9s %9s %11s %9s %10s\n' preset GB seconds "GB/s" "peak MB" "dd GB/s" "synth/dd"
printf '%s\n' "${rows[@]}"
