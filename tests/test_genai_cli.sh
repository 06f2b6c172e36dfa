#!/usr/bin/env bash
# export-onnx --target genai without Python: the folder's files, usage errors (option
# combinations), a target folder or file that exists (one-line error, left untouched), an
# interrupt mid-export (nothing left behind), and that a .onnx -o still means the parity
# graph.
. "$(dirname "$0")/lib.sh"
ck=$(fixture tiny)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/out" -q --context-length 256
for f in model.onnx model.onnx.data genai_config.json tokenizer.json tokenizer_config.json; do
  [ -s "$tmp/out/$f" ] || fail "folder lacks $f"
done
[ "$(ls "$tmp" | wc -l)" = 1 ] || fail "leftovers beside the folder: $(ls "$tmp")"
grep -q '"type": "gptoss"' "$tmp/out/genai_config.json" || fail "genai_config.json: model type"
grep -q '"context_length": 256' "$tmp/out/genai_config.json" || fail "genai_config.json: --context-length"
grep -q '"num_hidden_layers": 2' "$tmp/out/genai_config.json" || fail "genai_config.json: layers"
grep -q '"ignore_merges": true' "$tmp/out/tokenizer.json" || fail "tokenizer.json: ignore_merges"
grep -q '"id": 201087, "content": "<|reserved_201087|>"' "$tmp/out/tokenizer.json" || fail "tokenizer.json: last special"
grep -q '"chat_template"' "$tmp/out/tokenizer_config.json" || fail "tokenizer_config.json: chat template"
# the same export twice gives the same bytes
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/again" -q --context-length 256
for f in model.onnx model.onnx.data genai_config.json tokenizer.json tokenizer_config.json; do
  cmp -s "$tmp/out/$f" "$tmp/again/$f" || fail "$f differs between two exports"
done
rm -rf "$tmp/again"
# the compact option: MatMulNBits and QMoE weights, written the same way
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/q8" -q --context-length 256 --weights int8
[ -s "$tmp/q8/model.onnx.data" ] || fail "--weights int8: no data"
[ "$(stat -c %s "$tmp/q8/model.onnx.data")" -lt "$(stat -c %s "$tmp/out/model.onnx.data")" ] ||
  fail "--weights int8 is not smaller than fp32"
grep -aq QMoE "$tmp/q8/model.onnx" && grep -aq MatMulNBits "$tmp/q8/model.onnx" || fail "--weights int8: ops"
rm -rf "$tmp/q8"

# usage errors: exit 2, one line
usage() {
  local what=$1; shift
  local rc=0 err
  err=$("$GPTOSS_BIN" export-onnx "$@" 2>&1 >/dev/null) || rc=$?
  [ $rc = 2 ] || fail "$what: exit $rc, expected 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "$what: not one line: $err"
  echo "ok: $what -> $err"
}
usage "--weights with parity" -m "$ck" -o "$tmp/m.onnx" --weights fp32
usage "--context-length with parity" -m "$ck" -o "$tmp/m.onnx" --context-length 64
usage "--sequence-length with genai" -m "$ck" -o "$tmp/g" --sequence-length 16
usage "--packed-weights with genai" -m "$ck" -o "$tmp/g" --target genai --packed-weights
usage "--emit-block-debug with genai" -m "$ck" -o "$tmp/g" --emit-block-debug
usage "unknown --weights" -m "$ck" -o "$tmp/g" --weights int3
usage "unknown --target" -m "$ck" -o "$tmp/g" --target tflite
[ ! -e "$tmp/g" ] && [ ! -e "$tmp/m.onnx" ] || fail "a usage error wrote something"

# an existing folder or file: one-line error, untouched
sum=$(cat "$tmp/out"/* | md5sum)
expect_fail "target folder exists" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/out" -q
[ "$(cat "$tmp/out"/* | md5sum)" = "$sum" ] || fail "existing folder changed"
echo keep > "$tmp/afile"
expect_fail "target is a file" "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/afile" -q --target genai
[ "$(cat "$tmp/afile")" = keep ] || fail "existing file changed"

# an interrupt while the weights are written: nothing left
GPTOSS_EXPORT_TEST_PAUSE=5 "$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/int" -q &
pid=$!
for _ in $(seq 50); do ls "$tmp" | grep -q '^int\.tmp\.' && [ -e "$tmp"/int.tmp.*/model.onnx.data.tmp.* ] && break; sleep 0.1; done
ls "$tmp" | grep -q '^int\.tmp\.' || fail "interrupt: the export never started writing"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ $rc -ne 0 ] || fail "interrupt: the export finished anyway"
[ ! -e "$tmp/int" ] || fail "interrupt: the target folder exists"
! ls "$tmp" | grep -q '\.tmp\.' || fail "interrupt: temporaries left: $(ls "$tmp")"

# -o X.onnx is still the parity graph
"$GPTOSS_BIN" export-onnx -m "$ck" -o "$tmp/p.onnx" -q --max-layers 1
[ -f "$tmp/p.onnx" ] && [ -f "$tmp/p.onnx.data" ] || fail "-o .onnx no longer writes the parity graph"
echo "PASS"
