#!/usr/bin/env bash
# labels: release_only
# gptoss synth on the 20b-2l preset (3.3 GB): writing streams (peak RSS a few MB, far below
# the file size), progress lines on stderr, the real gpt-oss-20b config with 2 layers, the
# exact file size of the real geometry.
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
err=$("$GPTOSS_BIN" synth --preset 20b-2l -o "$work/ck" 2>&1 >/dev/null)
printf '%s\n' "$err" | tail -3

progress=$(printf '%s\n' "$err" | grep -c ' GB (.*%)') || true
[ "$progress" -ge 3 ] || fail "expected progress lines on stderr, got: $err"
rss=$(printf '%s\n' "$err" | sed -n 's/.*peak RSS \([0-9]*\) MB.*/\1/p')
size=$(stat -c %s "$work/ck/model.safetensors")
# header: u64 length + JSON of 35 tensors; data: the real geometry's bytes
python3 - "$work/ck" "$size" <<'EOF'
import json, struct, sys
d, size = sys.argv[1], int(sys.argv[2])
c = json.load(open(f"{d}/config.json"))
real = {"num_hidden_layers": 2, "num_experts": 32, "experts_per_token": 4, "vocab_size": 201088,
        "hidden_size": 2880, "intermediate_size": 2880, "swiglu_limit": 7.0, "head_dim": 64,
        "num_attention_heads": 64, "num_key_value_heads": 8, "sliding_window": 128,
        "initial_context_length": 4096, "rope_theta": 150000.0, "rope_scaling_factor": 32.0,
        "rope_ntk_alpha": 1.0, "rope_ntk_beta": 32.0}
assert c == real, c
with open(f"{d}/model.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
h.pop("__metadata__")
assert len(h) == 3 + 2 * 15, len(h)
assert h["block.1.mlp.mlp1_weight.blocks"]["shape"] == [32, 5760, 90, 16]
assert h["block.1.mlp.mlp2_weight.scales"]["shape"] == [32, 2880, 90]
assert 8 + n + 3270266624 == size, size
print("ok: 20b-2l config and geometry")
EOF
[ -n "$rss" ] || fail "no peak RSS reported: $err"
# Chunk buffers (4 x 1 MiB per thread) + header + binary: tens of MB at most on 16 threads.
[ "$rss" -lt 100 ] || fail "peak RSS $rss MB while writing $((size / 1000000)) MB"
echo "ok: 20b-2l: $((size / 1000000)) MB written with a peak RSS of $rss MB"
echo "test_synth_big: ok"
