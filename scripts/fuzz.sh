#!/usr/bin/env bash
# Long fuzzing runs that keep what they find.
#
#   bash scripts/fuzz.sh [--minutes N] [--runs N] [TARGET...]
#
# Runs each libFuzzer target (default: every fuzz/fuzz_*.c) under ASan+UBSan from the
# sanitizer tree (scripts/build.sh --sanitize; GPTOSS_FUZZ_BUILD overrides build-asan), one
# after another, one process at a time, for N minutes (default 10) or N executions,
# whichever comes first. Then it merges what the run found into fuzz/corpus/<target>/ and
# minimises it (libFuzzer -merge=1): the named files there (hand-written seeds and
# findings, replayed by tests/test_fuzz.sh) are always kept; the others (named by their
# SHA-1) are replaced by the smallest set that keeps the coverage of everything.
# Findings (crash, leak, timeout, out-of-memory inputs) go to <build>/fuzz-findings/<target>/;
# fix each, then copy its input into the corpus under a name saying what it was.
# Prints one line per target: executions, coverage, corpus before -> after, findings.
# Exit status: 0, 1 if any target had a finding, 2 for usage errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GPTOSS_FUZZ_BUILD:-$root/build-asan}

usage() { echo "scripts/fuzz.sh: $1 (usage: scripts/fuzz.sh [--minutes N] [--runs N] [TARGET...])" >&2; exit 2; }
count() { [[ ${2:-} =~ ^[0-9]{1,12}$ ]] && [ "$2" -gt 0 ] || usage "$1 ${2:-}: want a positive integer"; }
minutes=10 runs=-1 targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) count "$@"; minutes=$2; shift 2 ;;
    --runs) count "$@"; runs=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage "$1: unknown option" ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
for t in "${targets[@]}"; do
  [ -f "$root/fuzz/$t.c" ] || { echo "scripts/fuzz.sh: $t: no fuzz/$t.c" >&2; exit 2; }
  [ -x "$build/fuzz/$t" ] || { echo "scripts/fuzz.sh: $build/fuzz/$t: not built (run scripts/build.sh --sanitize)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

corpus_size() { echo "$(find "$1" -type f | wc -l) files $(du -sb "$1" | cut -f1) B"; }

status=0
for t in "${targets[@]}"; do
  bin=$build/fuzz/$t corpus=$root/fuzz/corpus/$t findings=$build/fuzz-findings/$t
  mkdir -p "$corpus" "$findings" "$work/$t/new" "$work/$t/hashed" "$work/$t/kept"
  before=$(corpus_size "$corpus")
  # -timeout 5: one input may take at most 5 s; -rss_limit_mb also caps any one allocation.
  rc=0
  (cd "$work/$t" && "$bin" "$work/$t/new" "$corpus" -max_total_time=$((minutes * 60)) -runs="$runs" \
      -timeout=5 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$findings/" >"$work/$t/log" 2>&1) || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t/log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$work/$t/log" | tail -n 1 | grep -o '[0-9]*' || echo 0)
  found=0
  if [ $rc -ne 0 ]; then
    status=1 found=1
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$work/$t/log" >&2 || tail -n 20 "$work/$t/log" >&2
  fi
  # Merge: named files kept as they are; hashed ones and the new inputs minimised on top.
  for f in "$corpus"/*; do
    [ -f "$f" ] || continue
    if [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]]; then cp "$f" "$work/$t/hashed/"; else cp "$f" "$work/$t/kept/"; fi
  done
  "$bin" -merge=1 -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
      "$work/$t/kept" "$work/$t/hashed" "$work/$t/new" >"$work/$t/merge.log" 2>&1 ||
    { tail -n 20 "$work/$t/merge.log" >&2; echo "scripts/fuzz.sh: $t: merge failed; corpus left as it was" >&2; exit 1; }
  rm -rf "$corpus.tmp.$$" && cp -r "$work/$t/kept" "$corpus.tmp.$$" && chmod 644 "$corpus.tmp.$$"/*
  rm -rf "$corpus" && mv "$corpus.tmp.$$" "$corpus"
  echo "$t: $execs runs, cov $cov, corpus $before -> $(corpus_size "$corpus"), findings $found$(
        [ $found -eq 0 ] || echo " (in $findings)")"
done
exit $status
