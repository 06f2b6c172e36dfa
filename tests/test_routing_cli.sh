#!/usr/bin/env bash
# gptoss routing on tiny, end to end: PASS against the official torch model with every
# report written (markdown table, JSON, SVG); FAIL detected on a perturbed reference dump;
# a near-tie flagged as such; bad arguments and unwritable outputs refused cleanly.
. "$(dirname "$0")/lib.sh"
need_python
model=$(fixture tiny)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# 18 tokens: longer than tiny's 8-token sliding window, so the window shapes real tokens.
prompt="What is the capital of France? The capital of France is Paris, on the Seine."
py=$GPTOSS_PYTHON

# ---- PASS against torch, reports written ------------------------------------------------
rc=0
"$GPTOSS_BIN" routing --against torch -m "$model" --prompt "$prompt" --output-dir "$tmp/r" \
  --json "$tmp/r.json" --save-engine-dump "$tmp/eng.st" --save-reference-dump "$tmp/ref.st" \
  >"$tmp/out.txt" || rc=$?
cat "$tmp/out.txt"
[ $rc -eq 0 ] || fail "routing against torch: exit $rc (want 0, PASS)"
md=$(ls "$tmp"/r/*_summary.md) || fail "no summary markdown"
stamp=$(basename "$md" _summary.md)
[[ $stamp =~ ^[0-9]{8}-[0-9]{6}$ ]] || fail "summary name $stamp is not YYYYmmdd-HHMMSS"
[ -f "$tmp/r/${stamp}_summary.json" ] || fail "no summary JSON"
[ -f "$tmp/r/${stamp}_expert_load.svg" ] || fail "no expert load SVG"
grep -q '^| Layer | Expert Match | Mean Gate Diff | Max Gate Diff | Status |$' "$md" || fail "table header"
grep -q '^\*\*Result: PASS\*\*' "$md" || fail "markdown verdict"
grep -q "$prompt" "$md" || fail "markdown lacks the prompt"
[ "$(grep -c '^| [0-9]* | .* | PASS |$' "$md")" = 2 ] || fail "want 2 PASS layer rows"
ls "$tmp"/r | grep -q tmp && fail "temporary files left behind"
# The target: every decision identical, gate weights within 1e-6 (both sides fp32 on the
# same weights; the softmax over k <= 4 logits adds a few ulps of 1.0 at most).
"$py" - "$tmp/r.json" "$tmp/r/${stamp}_summary.json" "$tmp/r/${stamp}_expert_load.svg" <<'EOF' || fail "JSON/SVG check"
import json, sys, xml.dom.minidom
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a == b, "--json and the summary JSON differ"
n = len(a["tokens"])
assert n == 18 and a["result"] == "PASS" and a["order_matches"] == a["decisions"] == n * 2, a
assert a["set_matches"] == a["decisions"] and a["near_ties"] == 0
assert a["gate_diff_max"] <= 1e-6, a["gate_diff_max"]
assert len(a["per_layer"]) == 2 and all(sum(l["load_engine"]) == n * a["experts_per_token"] for l in a["per_layer"])
svg = xml.dom.minidom.parse(sys.argv[3])
assert len(svg.getElementsByTagName("rect")) >= 2 * a["experts"]
print("ok: reports", a["decisions"], "decisions, gate max", a["gate_diff_max"])
EOF

# ---- FAIL: a perturbed reference (layer 1, token 3: the last choice replaced) ------------
"$py" - "$tmp/ref.st" "$tmp/bad.st" <<'EOF'
import sys, numpy as np
from safetensors.numpy import load_file, save_file
d = load_file(sys.argv[1])
idx = d["block1.mlp_expert_indices"]
E = d["block1.mlp_gate_logits"].shape[1]
idx[3, -1] = next(e for e in range(E) if e not in idx[3])
save_file(d, sys.argv[2])
EOF
rc=0
"$GPTOSS_BIN" routing --engine-dump "$tmp/eng.st" --reference-dump "$tmp/bad.st" \
  --output-dir "$tmp/bad" >"$tmp/bad.txt" || rc=$?
[ $rc -eq 1 ] || fail "perturbed reference: exit $rc (want 1, FAIL)"
grep -q '^result: FAIL' "$tmp/bad.txt" || fail "perturbed reference: no FAIL"
grep -q '^| 1 | 17/18 (94.44%) | .* | FAIL |$' "$tmp/bad/"*_summary.md || fail "layer 1 row"
grep -q '^| 1 | 3 | .* | set | .* | no |$' "$tmp/bad/"*_summary.md || fail "the disagreement is not listed as a set difference"
echo "ok: a perturbed reference fails"

# ---- a gate-weight perturbation alone fails under the default rule, passes a looser one --
"$py" - "$tmp/ref.st" "$tmp/gate.st" <<'EOF'
import sys
from safetensors.numpy import load_file, save_file
d = load_file(sys.argv[1])
d["block0.mlp_expert_weights"][0, :2] += [0.015, -0.015]
save_file(d, sys.argv[2])
EOF
rc=0
"$GPTOSS_BIN" routing --engine-dump "$tmp/eng.st" --reference-dump "$tmp/gate.st" --output-dir "$tmp/g" >/dev/null || rc=$?
[ $rc -eq 1 ] || fail "gate perturbation 0.015: exit $rc (want 1)"
"$GPTOSS_BIN" routing --engine-dump "$tmp/eng.st" --reference-dump "$tmp/gate.st" --output-dir "$tmp/g" \
  --gate-tolerance 0.02 >/dev/null || fail "gate perturbation 0.015 under --gate-tolerance 0.02 should pass"
echo "ok: gate tolerance"

# ---- a near-tie: the k-th and (k+1)-th logits a few ulps apart, resolved differently ----
"$py" - "$tmp/eng.st" "$tmp/ref.st" "$tmp/tie_eng.st" "$tmp/tie_ref.st" <<'EOF'
import sys, numpy as np
from safetensors.numpy import load_file, save_file
eng, ref = load_file(sys.argv[1]), load_file(sys.argv[2])
L, t = "block0", 5
g = eng[f"{L}.mlp_gate_logits"][t]
k = eng[f"{L}.mlp_expert_indices"].shape[1]
order = np.argsort(-g, kind="stable")
ek, ek1 = order[k - 1], order[k]
step = np.float32(4) * np.spacing(np.float32(abs(g[ek])))
for d, sign in ((eng, -1), (ref, +1)):
    d[f"{L}.mlp_gate_logits"][t] = g
    d[f"{L}.mlp_gate_logits"][t, ek1] = g[ek] + sign * step
ref[f"{L}.mlp_expert_indices"][t, k - 1] = ek1
save_file(eng, sys.argv[3])
save_file(ref, sys.argv[4])
EOF
rc=0
"$GPTOSS_BIN" routing --engine-dump "$tmp/tie_eng.st" --reference-dump "$tmp/tie_ref.st" \
  --output-dir "$tmp/tie" --json "$tmp/tie.json" >"$tmp/tie.txt" || rc=$?
[ $rc -eq 1 ] || fail "near-tie: exit $rc (want 1: the rule is 100%)"
"$py" -c '
import json, sys
j = json.load(open(sys.argv[1]))
d = j["disagreements"]
assert j["near_ties"] == 1 and len(d) == 1 and d[0]["near_tie"] and d[0]["token"] == 5, j
print("ok: near-tie flagged, margins", d[0]["engine_margin"], d[0]["reference_margin"], "rounding", d[0]["rounding"])
' "$tmp/tie.json" || fail "near-tie not flagged"
grep -q '^## Near-ties' "$tmp/tie/"*_summary.md || fail "near-tie section"

# ---- bad input -----------------------------------------------------------------------------
expect_fail "no arguments" "$GPTOSS_BIN" routing
expect_fail "bad tolerance" "$GPTOSS_BIN" routing --against torch -m "$model" --tokens 1 --gate-tolerance x
expect_fail "missing dump" "$GPTOSS_BIN" routing --engine-dump "$tmp/nope.st" --reference-dump "$tmp/ref.st"
expect_fail "unwritable output" "$GPTOSS_BIN" routing --engine-dump "$tmp/eng.st" \
  --reference-dump "$tmp/ref.st" --output-dir /proc/gptoss_routing
rc=0
"$GPTOSS_BIN" routing --against torch -m "$model" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "usage error: exit $rc (want 2)"
"$GPTOSS_BIN" routing --help | grep -q -- '--gate-tolerance' || fail "--help"
echo "ok"
