#!/usr/bin/env bash
# export-onnx on the tiny preset: the checker (full_check) accepts every variant, no dead
# nodes or unused initializers, external data aligned; ONNX Runtime reproduces the C
# engine; bad arguments and failed writes (unwritable folder, file-size limit as a full
# disk, an interrupt, a crash between the data file and the model) leave no partial output
# and an existing pair untouched.
. "$(dirname "$0")/lib.sh"
need_python
"$GPTOSS_BIN" synth --help >/dev/null 2>&1 || { echo "skipped: gptoss synth not built"; exit 77; }
py() { "$GPTOSS_PYTHON" "$@"; }
check="$GPTOSS_HOME/tests/onnx_check.py"

ck=$(fixture tiny)
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
layers=$(py -c "import json,sys; print(json.load(open(sys.argv[1]))['num_hidden_layers'])" "$ck/config.json")

# --- variants, each checked structurally and run by ONNX Runtime
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/m.onnx" -q
py "$check" "$tmp/m.onnx" --run --outputs 1 --layers "$layers"
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/h.onnx" -q --emit-hidden-states --max-layers 1 --opset 17
py "$check" "$tmp/h.onnx" --run --outputs 2 --layers 1
# 17 stages per block + final_normed + logits
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/d.onnx" -q --emit-block-debug --packed-weights --opset 23 \
  --sequence-length 16
py "$check" "$tmp/d.onnx" --run --outputs $((17 * layers + 2)) --layers "$layers"
# everything inline (no data file) is valid too
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/i.onnx" -q --external-threshold 1000000000
[ ! -e "$tmp/i.onnx.data" ] || fail "threshold: a data file was written"
py "$check" "$tmp/i.onnx" --run

# --- parity: ONNX Runtime on the graph vs the C engine, every position, every stage
if "$GPTOSS_BIN" parity --help 2>/dev/null | grep -q -- --onnx; then
  # Tolerance 1e-5 absolute: the target of the project (both sides fp32, the same weights;
  # only summation order differs).
  "$GPTOSS_BIN" parity --against onnx -m "$ck" --onnx "$tmp/d.onnx" --prompt "What is the capital of France?" \
    --sequence-length 16 --tolerance 1e-5
else
  echo "note: gptoss parity --against onnx not available in this build; adapter checked alone"
  py "$GPTOSS_HOME/python/ref_onnx.py" --checkpoint "$ck" --tokens 1,2,3 --out "$tmp/dump.safetensors" --onnx "$tmp/d.onnx"
  py -c "
import sys; from safetensors.numpy import load_file
d = load_file(sys.argv[1])
assert d['logits'].shape[0] == 3 and d['tokens'].tolist() == [1, 2, 3], d['logits'].shape
assert 'block0.mlp_expert_indices' in d and 'final_normed' in d
" "$tmp/dump.safetensors"
fi

# --- bad input: one-line errors, non-zero exit, nothing written
expect_fail "no model" "$GPTOSS_BIN" export-onnx -o "$tmp/x.onnx"
expect_fail "bad opset" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/x.onnx" --opset 12
expect_fail "bad length" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/x.onnx" --sequence-length 0
expect_fail "missing checkpoint" "$GPTOSS_BIN" export-onnx -m "$tmp/nothing" -o "$tmp/x.onnx"
[ ! -e "$tmp/x.onnx" ] || fail "a failed export left $tmp/x.onnx"
"$GPTOSS_BIN" export-onnx --help | grep -q "emit-block-debug" || fail "--help"

# --- atomicity: an existing pair stays byte-identical when a new export fails
mkdir "$tmp/keep"
cp "$tmp/m.onnx" "$tmp/m.onnx.data" "$tmp/keep/"
sum_before=$(cat "$tmp/keep/m.onnx" "$tmp/keep/m.onnx.data" | md5sum)
no_leftovers() { ! ls "$1" | grep -q '\.tmp\.' || fail "$2: temporary files left: $(ls "$1")"; }
# 1. a full disk: the file-size limit makes the data write fail part-way
( ulimit -f 1; expect_fail "file-size limit" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q )
no_leftovers "$tmp/keep" "file-size limit"
# 2. an unwritable folder
if [ "$(id -u)" != 0 ]; then
  chmod a-w "$tmp/keep"
  expect_fail "unwritable folder" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q
  chmod u+w "$tmp/keep"
fi
expect_fail "output is a folder" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep" -q
# 3. an interrupt while writing (the test hook pauses after the first external tensor)
GPTOSS_EXPORT_TEST_PAUSE=5 "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q &
pid=$!
for _ in $(seq 50); do ls "$tmp/keep" | grep -q '\.tmp\.' && break; sleep 0.1; done
ls "$tmp/keep" | grep -q '\.tmp\.' || fail "interrupt: the export never started writing"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ $rc -ne 0 ] || fail "interrupt: the export finished anyway"
no_leftovers "$tmp/keep" "interrupt"
[ "$(cat "$tmp/keep/m.onnx" "$tmp/keep/m.onnx.data" | md5sum)" = "$sum_before" ] || fail "existing target changed"
# 4. a crash between the data file's rename and the model's (the test hook pauses there;
#    SIGKILL runs no clean-up): the new data went under the other name, so the existing
#    pair is byte-identical and still valid
GPTOSS_EXPORT_TEST_PAUSE_COMMIT=10 "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q --max-layers 1 &
pid=$!
for _ in $(seq 300); do [ -e "$tmp/keep/m.onnx.2.data" ] && break; sleep 0.1; done
[ -e "$tmp/keep/m.onnx.2.data" ] || fail "crash: the export never put its data file in place"
kill -KILL "$pid"
wait "$pid" || true
[ "$(cat "$tmp/keep/m.onnx" "$tmp/keep/m.onnx.data" | md5sum)" = "$sum_before" ] || fail "crash before the commit: existing pair changed"
py "$check" "$tmp/keep/m.onnx" --layers "$layers"
rm -f "$tmp/keep"/*.tmp.* # what SIGKILL left: the new model, never renamed
# and a successful export over it works and is valid, replaces the pair, and removes the
# old data file; the next one goes back to the first name
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q --max-layers 1
py "$check" "$tmp/keep/m.onnx" --layers 1
[ "$(ls "$tmp/keep" | tr '\n' ' ')" = "m.onnx m.onnx.2.data " ] || fail "after a re-export: $(ls "$tmp/keep")"
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q
py "$check" "$tmp/keep/m.onnx" --layers "$layers"
[ "$(ls "$tmp/keep" | tr '\n' ' ')" = "m.onnx m.onnx.data " ] || fail "after a second re-export: $(ls "$tmp/keep")"
# a model without external data removes the old data file too
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/keep/m.onnx" -q --max-layers 1 --external-threshold 1000000000
[ "$(ls "$tmp/keep" | tr '\n' ' ')" = "m.onnx " ] || fail "after an export without data: $(ls "$tmp/keep")"
no_leftovers "$tmp/keep" "success"
echo "PASS"
