# Helpers for tests/test_*.sh. Source it: . "$(dirname "$0")/lib.sh"
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

# fixture PRESET [FORMAT] -> prints the folder of a synthetic checkpoint, made once per build.
fixture() {
  local preset=$1 fmt=${2:-original}
  local dir="$GPTOSS_FIXTURES/$preset-$fmt"
  mkdir -p "$GPTOSS_FIXTURES"
  (
    flock 9
    [ -d "$dir" ] || "$GPTOSS_BIN" synth --preset "$preset" --format "$fmt" -o "$dir" >&2
  ) 9>"$GPTOSS_FIXTURES/.lock"
  echo "$dir"
}

need_python() {
  [ -x "${GPTOSS_PYTHON:-}" ] || { echo "skipped: no reference Python"; exit 77; }
}

# expect_fail "what" cmd...  : the command must exit non-zero with a one-line error on stderr
expect_fail() {
  local what=$1; shift
  local err rc=0
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -ne 0 ] || fail "$what: expected a non-zero exit"
  [ $rc -lt 128 ] || fail "$what: crashed (exit $rc): $err"
  [ "$(printf '%s\n' "$err" | grep -c .)" -ge 1 ] || fail "$what: no error message"
  echo "ok: $what -> $err"
}
