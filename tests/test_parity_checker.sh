#!/usr/bin/env bash
# gptoss parity can fail: an engine dump compared with deliberately damaged copies of
# itself (a logit moved by 2e-5, a stage by 1e-3, a stage removed, experts swapped, a shape
# changed, other ids, a NaN) must exit 1 and say what and where; bad arguments and a broken
# reference must give a one-line error and a non-zero exit.
. "$(dirname "$0")/lib.sh"
need_python
dir=$(fixture tiny)
work=$(mktemp -d /tmp/gptoss_parity_checker_XXXXXX)
trap 'rm -rf "$work"' EXIT
ids=4827,382,290,9029,328,10128,30
"$GPTOSS_BIN" parity --against torch -m "$dir" --tokens $ids --sequence-length 16 \
    --save-engine-dump "$work/engine.safetensors" --save-reference-dump "$work/torch.safetensors" \
    >/dev/null || fail "gptoss parity --save-engine-dump --save-reference-dump"
# The saved dumps compare as the run did.
"$GPTOSS_BIN" parity --against torch --engine-dump "$work/engine.safetensors" \
    --reference-dump "$work/torch.safetensors" >/dev/null || fail "the saved dumps"

# damage NAME PYTHON-STATEMENTS: writes $work/NAME.safetensors from the engine dump; `d` is
# the dict of numpy arrays.
damage() {
  "$GPTOSS_PYTHON" - "$work/engine.safetensors" "$work/$1.safetensors" "$2" <<'PY'
import sys
import numpy as np
from safetensors.numpy import load_file, save_file
d = {k: v.copy() for k, v in load_file(sys.argv[1]).items()}
exec(sys.argv[3])
save_file(d, sys.argv[2])
PY
}

# compare NAME [options]: prints the report to $work/out; returns parity's exit status.
compare() {
  local name=$1; shift
  local rc=0
  "$GPTOSS_BIN" parity --against torch --engine-dump "$work/engine.safetensors" \
      --reference-dump "$work/$name.safetensors" "$@" >"$work/out" 2>&1 || rc=$?
  return $rc
}

expect_exit() { # expect_exit CODE NAME WHAT [options]
  local code=$1 name=$2 what=$3; shift 3
  local rc=0
  compare "$name" "$@" || rc=$?
  [ $rc -eq "$code" ] || { cat "$work/out"; fail "$what: exit $rc, expected $code"; }
  echo "ok: $what -> exit $rc"
}

need_line() { grep -q -- "$1" "$work/out" || { cat "$work/out"; fail "missing in the report: $1"; }; }

cp "$work/engine.safetensors" "$work/same.safetensors"
expect_exit 0 same "a dump against itself" --json "$work/same.json"
need_line "all positions (16) *0 "
need_line "expert indices: identical"
"$GPTOSS_PYTHON" -c "
import json, sys; r = json.load(open('$work/same.json'))
assert r['pass'] and not r['failures'] and not r['issues'], r['failures']
assert r['logits']['all']['max'] == 0 and len(r['stages']) == 17 * r['n_blocks'] + 2
" || fail "the JSON of a clean comparison"

damage logit 'd["logits"][3, 100] += 2e-5'
expect_exit 1 logit "one logit moved by 2e-5" --json "$work/logit.json"
need_line "logits: max |diff| 2e-05 > logits tolerance 1e-05"
need_line "^FAIL"
"$GPTOSS_PYTHON" -c "
import json; r = json.load(open('$work/logit.json'))
assert not r['pass'] and r['logits']['all']['argmax'] == [3, 100], r['logits']
assert r['logits']['real']['max'] > 1.9e-5 and r['logits']['last_real']['max'] == 0
" || fail "the JSON of a failed comparison"
expect_exit 0 logit "the same with --tolerance 1e-4" --tolerance 1e-4

damage stage 'd["block1.mlp_fused"][12, 0] += 1e-3'
expect_exit 1 stage "a stage moved by 1e-3 (padding position)"
need_line "block1.mlp_fused: max |diff| 0.001 > stage tolerance 0.0001"
expect_exit 0 stage "the same with --stage-tolerance 2e-3" --stage-tolerance 2e-3

damage missing 'del d["block0.attn_q"]'
expect_exit 0 missing "a stage the reference did not write (reported, not fatal)"
need_line "block0.attn_q: missing in torch (reported, not fatal)"
expect_exit 1 missing "the same with --strict" --strict

damage experts 'd["block0.mlp_expert_indices"][2] = d["block0.mlp_expert_indices"][2][::-1]'
expect_exit 1 experts "two experts swapped"
need_line "block0.mlp_expert_indices: 2 of .* values differ, first at token 2"
need_line "expert indices: DIFFER"

damage shape 'd["block1.attn_k"] = d["block1.attn_k"].reshape(d["block1.attn_k"].shape[0], -1)'
expect_exit 1 shape "a stage with another shape"
need_line "block1.attn_k: shape .* in engine, .* in torch"

damage tokens 'd["tokens"][5] = 11'
expect_exit 1 tokens "other token ids"
need_line "tokens: differ at position 5"

damage nan 'd["final_normed"][0, 1] = float("nan")'
expect_exit 1 nan "a NaN on one side"
need_line "final_normed: 1 values are NaN/Inf on one side only"

# Bad arguments: exit 2 with a one-line error.
bad2() {
  local what=$1; shift
  local rc=0 err
  err=$("$GPTOSS_BIN" parity "$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$what: not one line: $err"
  echo "ok: $what -> $err"
}
bad2 "no arguments"
bad2 "no --against" -m "$dir" --tokens 1,2
bad2 "no -m" --against torch --tokens 1,2
bad2 "no ids" --against torch -m "$dir"
bad2 "both --prompt and --tokens" --against torch -m "$dir" --prompt hi --tokens 1
bad2 "a bad tolerance" --against torch -m "$dir" --tokens 1 --tolerance abc
bad2 "a negative tolerance" --against torch -m "$dir" --tokens 1 --stage-tolerance -1
bad2 "--max-layers 0" --against torch -m "$dir" --tokens 1 --max-layers 0
bad2 "a missing value" --against torch -m "$dir" --tokens
bad2 "a stray argument" --against torch -m "$dir" --tokens 1 extra
bad2 "bad ids" --against torch -m "$dir" --tokens 1,x
bad2 "a prompt longer than --sequence-length" --against torch -m "$dir" --tokens 1,2,3 --sequence-length 2
help=$("$GPTOSS_BIN" parity --help) || fail "--help: exit status"
case $help in *"--against NAME"*"--exact-check"*) ;; *) fail "--help: $help";; esac

# Failures of the inputs or of the reference: exit 1 with a one-line error naming it.
expect_fail "no such model" "$GPTOSS_BIN" parity --against torch -m "$work/none" --tokens 1
expect_fail "no such adapter" "$GPTOSS_BIN" parity --against nosuch -m "$dir" --tokens 1
expect_fail "no such reference dump" "$GPTOSS_BIN" parity --against torch \
    --engine-dump "$work/engine.safetensors" --reference-dump "$work/none.safetensors"
expect_fail "an id out of range" "$GPTOSS_BIN" parity --against torch -m "$dir" --tokens 999999
err=$(GPTOSS_PYTHON=$work/none "$GPTOSS_BIN" parity --against torch -m "$dir" --tokens 1 2>&1 >/dev/null) \
  && fail "a missing Python must fail"
case $err in *"GPTOSS_PYTHON=$work/none"*) echo "ok: missing Python -> $err";; *) fail "missing Python: $err";; esac
# The torch reference on a Hugging Face layout folder: the adapter's own last line.
hf=$(fixture tiny hf)
err=$("$GPTOSS_BIN" parity --against torch -m "$hf" --tokens 1,2 2>&1 >/dev/null) && fail "torch on HF layout"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "adapter failure not one line: $err"
case $err in "gptoss parity: ref_torch.py: exit status 1: "*) echo "ok: adapter failure -> $err";;
  *) fail "adapter failure message: $err";; esac
# --json into a folder that does not exist: an error, and no file left behind.
expect_fail "--json into a missing folder" "$GPTOSS_BIN" parity --against torch \
    --engine-dump "$work/engine.safetensors" --reference-dump "$work/same.safetensors" \
    --json "$work/none/report.json"
[ ! -e "$work/none" ] || fail "--json left something behind"
echo "all checker tests passed"
