#!/usr/bin/env bash
# labels: release_only
# Long context on tiny (real YaRN RoPE: initial_context_length 4096, factor 32): the
# engine's logits at positions past 4096 against the official torch model in fp32 and in
# fp64 (python/ref_torch.py, attention evaluated 512 queries at a time with
# --attention-chunk semantics, identical per query).
#
# Tokens: GPTOSS_LONG_CONTEXT_TOKENS (default 16448) deterministic ordinary ids. Checked
# positions: 4096 (the first past the original context), 4100, and the last; with more than
# 16400 tokens also 16384 and 16400 (past 16384). Each checked position is its own
# `gptoss run` ending there (a chunked prefill that computes only the last position's
# logits), which prints its top 20 logits (6 decimals). The reference runs once over all
# tokens and unembeds only the checked positions.
#
# Assertions at each position: the engine's top-20 ids are the fp32 reference's top 20
# (ties within the tolerance may swap), and every printed logit is within 1e-4 of the
# reference's for that id. The tolerance: the parity target for logits is 1e-5 over short
# sequences; attention here sums over thousands of keys in fp32 in different orders and the
# print rounds to 5e-7, so 1e-4 (10x) leaves room for that and still catches any RoPE or
# YaRN error (a wrong frequency or concentration moves logits by 1e-2 and more). The
# distances of both sides to the fp64 model are reported.
. "$(dirname "$0")/lib.sh"
need_python
n=${GPTOSS_LONG_CONTEXT_TOKENS:-16448}
[ "$n" -gt 4097 ] || fail "GPTOSS_LONG_CONTEXT_TOKENS=$n: must exceed 4097 (positions past 4096)"
ckpt=$(fixture tiny)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

positions="4096 4100"
[ "$n" -gt 16400 ] && positions="$positions 16384 16400"
positions="$positions $((n - 1))"
ids=$(python3 -c "import sys; print(','.join(str((i * 7919 + 13) % 199998) for i in range(int(sys.argv[1]))))" "$n")

for p in $positions; do
  prefix=$(printf '%s' "$ids" | cut -d, -f1-$((p + 1)))
  start=$(date +%s)
  "$GPTOSS_BIN" run -m "$ckpt" --tokens "$prefix" --top 20 >"$work/engine_$p.txt" \
    || fail "gptoss run over $((p + 1)) tokens failed"
  echo "engine: position $p ($((p + 1)) tokens) in $(( $(date +%s) - start )) s"
done

"$GPTOSS_PYTHON" - "$ckpt" "$ids" "$work" $positions <<'PY'
import os, re, sys, time
import torch
sys.path.insert(0, os.path.join(os.environ["GPTOSS_HOME"], "python"))
import ref_torch

ckpt, ids, work = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], sys.argv[3]
positions = [int(p) for p in sys.argv[4:]]
TOL, TOP = 1e-4, 20

def engine_top(p):
    rows = []
    for line in open(f"{work}/engine_{p}.txt", errors="replace"):  # token texts may be partial UTF-8
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(-?\d+\.\d+)\s", line)
        if m: rows.append((int(m.group(2)), float(m.group(3))))
    assert len(rows) == TOP, f"position {p}: {len(rows)} rows in the engine's output"
    return rows

def reference(precision):
    """The reference's forward (Transformer.forward's four steps), unembedding only the
    checked positions; attention 512 queries at a time."""
    class A:
        checkpoint, max_layers, experts = ckpt, 0, "eager"
    A.precision = precision
    model, _, _ = ref_torch.load_reference(A)
    ref_torch.chunk_attention(512)
    start = time.time()
    with torch.inference_mode():
        x = model.embedding(torch.tensor(ids, dtype=torch.int64))
        for block in model.block:
            x = block(x)
        x = model.norm(x)
        logits = model.unembedding(x[positions]).double()
    print(f"reference {precision}: {len(ids)} tokens in {time.time() - start:.0f} s")
    return {p: logits[i] for i, p in enumerate(positions)}

r32, r64 = reference("fp32"), reference("fp64")
bad = 0
for p in positions:
    e = engine_top(p)
    want = torch.topk(r32[p], TOP)
    e_ids = [i for i, _ in e]
    floor = float(want.values[-1])
    for i, v in e:
        if abs(v - float(r32[p][i])) > TOL:
            print(f"FAIL: position {p}: id {i}: engine {v} vs reference {float(r32[p][i])}"); bad += 1
    for i, v in zip(want.indices.tolist(), want.values.tolist()):
        if i not in e_ids and v > floor + TOL:
            print(f"FAIL: position {p}: reference top-{TOP} id {i} ({v}) missing from the engine's"); bad += 1
    ev = torch.tensor([v for _, v in e], dtype=torch.float64)
    idx = torch.tensor(e_ids)
    d32 = float((ev - r32[p][idx]).abs().max())
    d64 = float((ev - r64[p][idx]).abs().max())
    dref = float((r32[p][idx] - r64[p][idx]).abs().max())
    print(f"position {p}: top-{TOP} logits max |engine - torch fp32| {d32:.2g}, "
          f"|engine - fp64| {d64:.2g}, |torch fp32 - fp64| {dref:.2g}; top-1 {e_ids[0]}")
sys.exit(1 if bad else 0)
PY
echo "ok: long context: tiny, $n tokens, positions $positions within 1e-4 of torch fp32"
