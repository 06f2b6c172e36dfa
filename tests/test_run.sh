#!/usr/bin/env bash
# gptoss run on the tiny synthetic checkpoint: the candidates table, padding, --dump
# contents and shapes, thread-count independence of the output, and argument errors.
. "$(dirname "$0")/lib.sh"
"$GPTOSS_BIN" synth --help >/dev/null 2>&1 || { echo "skipped: gptoss synth not available"; exit 77; }
dir=$(fixture tiny)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the candidates table: 3 rows, ranks 1..3, probabilities in (0, 1] and decreasing logits
"$GPTOSS_BIN" run -m "$dir" --tokens 4827,382,290,9029 --top 3 --threads 1 >"$tmp/out1"
cat "$tmp/out1"
grep -q '^tokens: 4 real; kernels: ' "$tmp/out1" || fail "no tokens line"
rows=$(awk '$1 ~ /^[0-9]+$/ && NF >= 4' "$tmp/out1")
[ "$(printf '%s\n' "$rows" | wc -l)" -eq 3 ] || fail "want 3 candidate rows"
printf '%s\n' "$rows" | awk 'NR > 1 && $3 > prev { exit 1 } { prev = $3; if ($4 <= 0 || $4 > 1) exit 1 }' \
  || fail "candidates not sorted by logit or probabilities out of (0, 1]"

# the table does not depend on the thread count (logits are bit-identical)
"$GPTOSS_BIN" run -m "$dir" --tokens 4827,382,290,9029 --top 3 --threads 2 >"$tmp/out2"
diff <(grep -v '^tokens:' "$tmp/out1") <(grep -v '^tokens:' "$tmp/out2") || fail "threads change the output"

# padding after the real tokens changes nothing for them
"$GPTOSS_BIN" run -m "$dir" --tokens 4827,382,290,9029 --top 3 --sequence-length 9 >"$tmp/out3"
grep -q '^tokens: 4 real + 5 padding' "$tmp/out3" || fail "padding not reported"
diff <(awk '$1 ~ /^[0-9]+$/' "$tmp/out1") <(awk '$1 ~ /^[0-9]+$/' "$tmp/out3") || fail "padding changes the candidates"

# --prompt goes through the tokenizer: the same ids give the same table
"$GPTOSS_BIN" run -m "$dir" --prompt "What is the capital" --top 3 >"$tmp/out4"
diff <(awk '$1 ~ /^[0-9]+$/' "$tmp/out1") <(awk '$1 ~ /^[0-9]+$/' "$tmp/out4") || fail "--prompt differs from its ids"

# --dump: every stage, with the documented shapes
"$GPTOSS_BIN" run -m "$dir" --tokens 4827,382,290,9029 --sequence-length 6 --dump "$tmp/d.safetensors" >/dev/null
[ -s "$tmp/d.safetensors" ] || fail "no dump"
ls "$tmp" | grep -q '\.tmp\.' && fail "temporary left behind"
if [ -x "${GPTOSS_PYTHON:-}" ]; then
  "$GPTOSS_PYTHON" - "$tmp/d.safetensors" "$dir/config.json" <<'PY' || fail "dump contents"
import json, sys
from safetensors.numpy import load_file
t = load_file(sys.argv[1]); c = json.load(open(sys.argv[2]))
S, H, E, K = 6, c["hidden_size"], c["num_experts"], c["experts_per_token"]
I, d, nh, nkv, V = c["intermediate_size"], c["head_dim"], c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]
assert list(t["tokens"]) == [4827, 382, 290, 9029, 199999, 199999], t["tokens"]
assert t["n_valid"].tolist() == [4] and str(t["tokens"].dtype) == "int64"
want = {"logits": (S, V), "final_normed": (S, H)}
for i in range(c["num_hidden_layers"]):
    b = f"block{i}."
    want.update({b + "input": (S, H), b + "attn_normed": (S, H), b + "attn_q": (S, nkv, nh // nkv, d),
                 b + "attn_k": (S, nkv, d), b + "attn_v": (S, nkv, d), b + "attn_projected": (S, H),
                 b + "post_attention": (S, H), b + "mlp_normed": (S, H), b + "mlp_gate_logits": (S, E),
                 b + "mlp_expert_indices": (S, K), b + "mlp_expert_weights": (S, K),
                 b + "mlp_dense_gate_weights": (S, E), b + "mlp_prelinear_outputs": (S, K, 2 * I),
                 b + "mlp_activated_outputs": (S, K, I), b + "mlp_expert_outputs": (S, K, H),
                 b + "mlp_fused": (S, H), b + "output": (S, H)})
    # consistency between stages: residuals, routing weights
    assert abs(t[b + "post_attention"] - t[b + "input"] - t[b + "attn_projected"]).max() < 1e-4
    assert abs(t[b + "output"] - t[b + "post_attention"] - t[b + "mlp_fused"]).max() < 1e-4
    assert abs(t[b + "mlp_expert_weights"].sum(-1) - 1).max() < 1e-5
    assert abs(t[b + "mlp_dense_gate_weights"].sum(-1) - 1).max() < 1e-5
    assert str(t[b + "mlp_expert_indices"].dtype) == "int64"
want.update({"tokens": (S,), "n_valid": (1,)})
assert set(t) == set(want), set(t) ^ set(want)
for k, s in want.items():
    assert t[k].shape == s, (k, t[k].shape, s)
print("dump ok:", len(t), "tensors")
PY
fi

# argument errors: usage errors exit 2 with one line naming the argument
for args in "--tokens 1,2" "-m $dir" "-m $dir --tokens 1,2 --prompt x" "-m $dir --tokens 1,,2" \
            "-m $dir --tokens 1 --top 0" "-m $dir --tokens 1,2,3 --sequence-length 2" \
            "-m $dir --tokens 1 --threads x" "-m $dir --tokens 1 --bogus 1"; do
  rc=0; err=$("$GPTOSS_BIN" run $args 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 2 ] || fail "run $args: exit $rc, want 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "run $args: not one line: $err"
done
# the argument layer as tokenize uses it: "--" ends the options, a second TEXT, a missing
# value and an unknown option are usage errors
[ "$("$GPTOSS_BIN" tokenize --json -- --x)" = "$(printf -- '--x' | "$GPTOSS_BIN" tokenize --json -)" ] ||
  fail "tokenize -- --x differs from --x read from standard input"
for args in "a b" "--decode" "--bogus" "--json"; do
  rc=0; err=$("$GPTOSS_BIN" tokenize $args 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 2 ] || fail "tokenize $args: exit $rc, want 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "tokenize $args: not one line: $err"
done
expect_fail "missing model folder" "$GPTOSS_BIN" run -m "$tmp/nope" --tokens 1
expect_fail "token id out of range" "$GPTOSS_BIN" run -m "$dir" --tokens 1,999999
expect_fail "dump into a missing folder" "$GPTOSS_BIN" run -m "$dir" --tokens 1 --dump "$tmp/no/such/d.safetensors"
GPTOSS_KERNELS=bogus expect_fail "unknown GPTOSS_KERNELS" "$GPTOSS_BIN" run -m "$dir" --tokens 1
"$GPTOSS_BIN" run --help | grep -q 'padding' || fail "--help does not explain padding"
echo "ok"
