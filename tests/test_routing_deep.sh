#!/usr/bin/env bash
# labels: release_only
# gptoss routing at full depth: the `deep` preset (24 layers x 32 experts, top-4), a
# 18-token prompt that crosses its 8-token sliding window, against the official torch model
# and against the Flax model of jax2onnx. Every decision must be identical on every layer.
# Gate weights: within 4e-6. Two independent fp32 references already differ by up to
# 1.8e-6 here (torch vs Flax with the official window: the residual stream grows over 24
# layers and summation orders differ), and the engine sits on that floor (1.7e-6 against
# torch, 1.8e-6 against Flax); 4e-6 is twice the floor, while a wrong weight (a softmax
# over the wrong logits, a missing renormalisation) is off by 1e-2 or more.
# The Flax model as shipped lets a query see one key more than the official model on
# sliding layers; given the official mask (--window torch) it must agree everywhere, and
# as shipped it may only disagree from the first token the window cuts (position 8).
. "$(dirname "$0")/lib.sh"
need_python
model=$(fixture deep)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prompt="What is the capital of France? The capital of France is Paris, on the Seine."

check() { # json want_pass
  "$GPTOSS_PYTHON" - "$@" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"{j['against']}: {j['order_matches']}/{j['decisions']} decisions, gate max {j['gate_diff_max']:.3g}, "
      f"near-ties {j['near_ties']}, {j['result']}")
assert j["layers"] == 24 and j["decisions"] == 24 * 18, j["decisions"]
assert j["result"] == "PASS" and j["order_matches"] == j["decisions"]
assert j["gate_diff_max"] <= 4e-6, j["gate_diff_max"]
EOF
}

"$GPTOSS_BIN" routing --against torch -m "$model" --prompt "$prompt" --output-dir "$tmp/t" \
  --json "$tmp/torch.json" --save-engine-dump "$tmp/eng.st" >/dev/null || fail "deep vs torch: not PASS"
check "$tmp/torch.json" || fail "deep vs torch"

if ! "$GPTOSS_PYTHON" -c "import jax2onnx" 2>/dev/null; then
  echo "ok (Flax part skipped: jax2onnx not installed)"
  exit 0
fi
"$GPTOSS_BIN" routing --against flax --window torch -m "$model" --prompt "$prompt" \
  --engine-dump "$tmp/eng.st" --output-dir "$tmp/f" --json "$tmp/flax.json" >/dev/null ||
  fail "deep vs flax (official window): not PASS"
check "$tmp/flax.json" || fail "deep vs flax"

rc=0
"$GPTOSS_BIN" routing --against flax -m "$model" --prompt "$prompt" --engine-dump "$tmp/eng.st" \
  --output-dir "$tmp/s" --json "$tmp/shipped.json" >/dev/null || rc=$?
"$GPTOSS_PYTHON" - "$tmp/shipped.json" <<'EOF' || fail "deep vs flax as shipped"
import json, sys
j = json.load(open(sys.argv[1]))
first = min((d["token"] for d in j["disagreements"]), default=None)
print(f"flax as shipped: {j['order_matches']}/{j['decisions']} decisions agree, first disagreement at "
      f"token {first}")
assert first is None or first >= 8, "a disagreement before the window cuts: not the window"
EOF
echo "ok"
