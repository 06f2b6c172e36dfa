#!/usr/bin/env bash
# labels: release_only
# `gptoss generate --temperature 0` against the greedy references of python/ref_generate.py:
# the official torch model (full recompute) and transformers' generate (its own KV cache),
# on small and deep, 64 tokens after the 7-token France prompt. The token lists must be
# equal; where a step differs it passes only if the reference's margin there (top-1 minus
# top-2 logit) is below 1e-4: the engine's and the references' logits agree to 1e-5 (the
# parity target, fp32 rounding in different orders), so a top-1 flip is legitimate only
# when the two best logits are within a few times that; 1e-4 leaves a 10x margin for the
# KV-cache path accumulating its rounding over 64 steps. The continuations diverge after
# such a step, so the comparison stops there (the report line gives the step and margin).
# Skipped (77) while this build's gptoss has no `generate`.
. "$(dirname "$0")/lib.sh"
need_python
"$GPTOSS_BIN" generate --help >/dev/null 2>&1 || { echo "skipped: gptoss generate is not built"; exit 77; }

prompt=4827,382,290,9029,328,10128,30
n=64
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for preset in small deep; do
  "$GPTOSS_BIN" generate -m "$(fixture "$preset")" --tokens "$prompt" -n $n --temperature 0 --json \
      >"$work/engine.json" || fail "gptoss generate on $preset failed"
  "$GPTOSS_PYTHON" "$GPTOSS_HOME/python/ref_generate.py" --against torch --checkpoint "$(fixture "$preset")" \
      --tokens "$prompt" -n $n --out "$work/torch.json" || fail "ref_generate torch on $preset"
  "$GPTOSS_PYTHON" "$GPTOSS_HOME/python/ref_generate.py" --against hf --checkpoint "$(fixture "$preset" hf)" \
      --tokens "$prompt" -n $n --out "$work/hf.json" || fail "ref_generate hf on $preset"
  for ref in torch hf; do
    "$GPTOSS_PYTHON" - "$work/engine.json" "$work/$ref.json" "$preset" "$ref" "$prompt" $n <<'PY' \
      || fail "$preset: gptoss generate differs from $ref"
import json, sys
e, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
preset, ref, prompt, n = sys.argv[3], sys.argv[4], [int(x) for x in sys.argv[5].split(",")], int(sys.argv[6])
NEAR_TIE = 1e-4
if e.get("prompt_tokens") != prompt:
    sys.exit(f"FAIL: engine prompt_tokens {e.get('prompt_tokens')} != {prompt}")
got, want, margins = e["tokens"], r["tokens"], r["margins"]
if len(got) != n:
    sys.exit(f"FAIL: {preset}: the engine generated {len(got)} tokens, not {n}")
for i, (a, b) in enumerate(zip(got, want)):
    if a != b:
        if margins[i] < NEAR_TIE:
            print(f"ok: {preset} vs {ref}: first {i} tokens equal; step {i} differs "
                  f"(engine {a}, {ref} {b}) at a near-tie: {ref} margin {margins[i]:.3g} < {NEAR_TIE}")
            sys.exit(0)
        sys.exit(f"FAIL: {preset} vs {ref}: step {i}: engine {a}, {ref} {b}, {ref} margin "
                 f"{margins[i]:.3g} >= {NEAR_TIE}: not a near-tie")
print(f"ok: {preset} vs {ref}: all {n} tokens equal (smallest {ref} margin {min(margins):.3g})")
PY
  done
done
