#!/usr/bin/env bash
# The libFuzzer targets (fuzz/fuzz_*.c) run for a bounded time each, under ASan+UBSan.
# They exist only in the sanitizer tree (scripts/build.sh --sanitize, clang); elsewhere
# this test is skipped. GPTOSS_FUZZ_SECONDS overrides the time per target (default 30).
. "$(dirname "$0")/lib.sh"

fuzz_dir="$(dirname "$GPTOSS_BIN")/fuzz"
targets=(fuzz_safetensors_header fuzz_config fuzz_tokenizer)
for t in "${targets[@]}"; do
  [ -x "$fuzz_dir/$t" ] || { echo "skipped: $fuzz_dir/$t not built (sanitizer tree only)"; exit 77; }
done

secs=${GPTOSS_FUZZ_SECONDS:-30}
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
  echo "ok: $t: $runs inputs in ${secs}s, no crash"
done
