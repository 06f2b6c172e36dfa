#!/usr/bin/env bash
# The libFuzzer targets (fuzz/fuzz_*.c) run for a bounded time each, under ASan+UBSan,
# starting from the kept corpus (fuzz/corpus/<target>/, which holds every past finding, so
# each is replayed). They exist only in the sanitizer tree (scripts/build.sh --sanitize,
# clang); elsewhere this test is skipped. GPTOSS_FUZZ_SECONDS overrides the time per target
# (default 15).
#
# Each target must also reach a stated coverage (libFuzzer's "cov:", edges of the harness
# and the library together): the library is built with -fsanitize=fuzzer-no-link in this
# tree, and without it a target sees only its harness's own edges (the "blind" figures
# below, measured with the same corpus; scripts/fuzz.sh and README.md give the full ones).
# A minimum far above the blind figure fails if the library stops being instrumented.
. "$(dirname "$0")/lib.sh"

fuzz_dir="$(dirname "$GPTOSS_BIN")/fuzz"
#                       minimum   blind (the committed corpus, library uninstrumented)
declare -A min_cov=([fuzz_safetensors_header]=110  # 28
                    [fuzz_config]=110              # 14
                    [fuzz_tokenizer]=330           # 49
                    [fuzz_chat]=450                # 25
                    [fuzz_stage_dump]=500          # 29
                    [fuzz_tokens]=55               # 43: the two parsers are small loops
                    [fuzz_sampler]=100)            # 142 in 15 s; the harness is a few lines
targets=()
for src in "$GPTOSS_HOME"/fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
for t in "${targets[@]}"; do
  [ -x "$fuzz_dir/$t" ] || { echo "skipped: $fuzz_dir/$t not built (sanitizer tree only)"; exit 77; }
  [ -n "${min_cov[$t]:-}" ] || fail "$t: no coverage minimum stated in this test"
done

secs=${GPTOSS_FUZZ_SECONDS:-15}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  seeds="$GPTOSS_HOME/fuzz/corpus/$t"
  [ -d "$seeds" ] || fail "$t: no seed corpus at $seeds"
  mkdir -p "$work/$t"
  # New inputs go to the scratch corpus (first folder); the seeds are only read.
  # -timeout: one input may not take a second; -rss_limit_mb keeps memory modest.
  if ! (cd "$work" && "$fuzz_dir/$t" "$work/$t" "$seeds" -max_total_time="$secs" -timeout=1 \
          -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 >"$work/$t.log" 2>&1); then
    tail -n 40 "$work/$t.log" >&2
    fail "$t: the fuzzer found a crash, leak or timeout (reproducer under $work is removed; rerun by hand)"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || true)
  [ -n "$runs" ] && [ "$runs" -gt 0 ] || { tail -n 20 "$work/$t.log" >&2; fail "$t: did not run"; }
  cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -n 1 | grep -o '[0-9]*' || echo 0)
  [ "$cov" -ge "${min_cov[$t]}" ] ||
    fail "$t: coverage $cov, below the minimum ${min_cov[$t]}: is libgptoss still built with -fsanitize=fuzzer-no-link?"
  echo "ok: $t: $runs inputs in ${secs}s, coverage $cov (minimum ${min_cov[$t]}), no crash"
done
