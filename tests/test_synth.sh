#!/usr/bin/env bash
# gptoss synth: usage errors, determinism (same preset + seed => same bytes whatever the
# thread count; another seed => other bytes), the files of both layouts (names, shapes,
# dtypes, config keys, header layout, parsed here with python3's json only), streaming
# memory, and atomicity (an interrupted write leaves the existing folder as it was).
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- usage -------------------------------------------------------------------------------
"$GPTOSS_BIN" synth --help | grep -q -- "--preset" || fail "--help does not document --preset"
usage_error() { # what, args...: exit 2 and exactly one line on stderr
  local what=$1; shift
  local err rc=0
  err=$("$GPTOSS_BIN" synth "$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$what: not one line: $err"
  echo "ok: $what -> $err"
}
usage_error "no arguments"
usage_error "unknown preset" --preset huge -o "$work/x"
usage_error "missing -o" --preset tiny
usage_error "missing value" --preset
usage_error "bad seed" --preset tiny --seed -1 -o "$work/x"
usage_error "bad seed text" --preset tiny --seed 12abc -o "$work/x"
usage_error "bad format" --preset tiny --format gguf -o "$work/x"
usage_error "zero shards" --preset tiny --shards 0 -o "$work/x"
usage_error "too many shards" --preset tiny --shards 5000 -o "$work/x"
usage_error "unknown option" --preset tiny --frobnicate -o "$work/x"
[ ! -e "$work/x" ] || fail "a failed synth left $work/x"
expect_fail "output under a missing folder" "$GPTOSS_BIN" synth --preset tiny -o "$work/no/such/dir"

# ---- determinism -------------------------------------------------------------------------
"$GPTOSS_BIN" synth --preset tiny --seed 7 --threads 1 -o "$work/a" 2>/dev/null
"$GPTOSS_BIN" synth --preset tiny --seed 7 --threads 3 -o "$work/b" 2>/dev/null
"$GPTOSS_BIN" synth --preset tiny --seed 8 -o "$work/c" 2>/dev/null
for f in config.json dtypes.json model.safetensors; do
  cmp -s "$work/a/$f" "$work/b/$f" || fail "seed 7: $f differs between 1 and 3 threads"
done
cmp -s "$work/a/model.safetensors" "$work/c/model.safetensors" && fail "seeds 7 and 8 give the same file"
cmp -s "$work/a/config.json" "$work/c/config.json" || fail "the config depends on the seed"
echo "ok: deterministic"

# Rewriting over an existing folder replaces it atomically (no leftovers beside it).
"$GPTOSS_BIN" synth --preset tiny --seed 8 --quiet -o "$work/a"
cmp -s "$work/a/model.safetensors" "$work/c/model.safetensors" || fail "rewrite did not replace the folder"
ls "$work" | grep -q '\.tmp\.\|\.old\.' && fail "temporaries left: $(ls "$work")"
echo "ok: replace"

# ---- the files -----------------------------------------------------------------------------
"$GPTOSS_BIN" synth --preset tiny --seed 7 --format hf --quiet -o "$work/hf"
"$GPTOSS_BIN" synth --preset tiny --format original --shards 3 --quiet -o "$work/s3"
python3 - "$work" <<'EOF'
import json, os, struct, sys
work = sys.argv[1]

def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
    size = os.path.getsize(path)
    assert n % 8 == 0, (path, n)
    assert raw.rstrip(b" ").endswith(b"}") and len(raw) - len(raw.rstrip(b" ")) < 8
    h = json.loads(raw)
    assert h.pop("__metadata__") == {"format": "pt"}
    end = 0
    for name, t in h.items():  # packed in declaration order, nothing after the last
        b, e = t["data_offsets"]
        assert b == end, (path, name)
        end = e
    assert 8 + n + end == size, (path, 8 + n + end, size)
    return h

def nbytes(t):
    k = {"BF16": 2, "U8": 1}[t["dtype"]]
    for d in t["shape"]:
        k *= d
    return k

def expect_original(c):
    H, I, E, D = c["hidden_size"], c["intermediate_size"], c["num_experts"], c["head_dim"]
    nq, nkv, V = c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]
    t = {"embedding.weight": ("BF16", [V, H]), "norm.scale": ("BF16", [H]),
         "unembedding.weight": ("BF16", [V, H])}
    for l in range(c["num_hidden_layers"]):
        b = f"block.{l}."
        t |= {b + "attn.norm.scale": ("BF16", [H]),
              b + "attn.qkv.weight": ("BF16", [D * (nq + 2 * nkv), H]),
              b + "attn.qkv.bias": ("BF16", [D * (nq + 2 * nkv)]),
              b + "attn.sinks": ("BF16", [nq]),
              b + "attn.out.weight": ("BF16", [H, nq * D]), b + "attn.out.bias": ("BF16", [H]),
              b + "mlp.norm.scale": ("BF16", [H]),
              b + "mlp.gate.weight": ("BF16", [E, H]), b + "mlp.gate.bias": ("BF16", [E]),
              b + "mlp.mlp1_weight.blocks": ("U8", [E, 2 * I, H // 32, 16]),
              b + "mlp.mlp1_weight.scales": ("U8", [E, 2 * I, H // 32]),
              b + "mlp.mlp1_bias": ("BF16", [E, 2 * I]),
              b + "mlp.mlp2_weight.blocks": ("U8", [E, H, I // 32, 16]),
              b + "mlp.mlp2_weight.scales": ("U8", [E, H, I // 32]),
              b + "mlp.mlp2_bias": ("BF16", [E, H])}
    return t

def expect_hf(c):
    H, I, E, D = c["hidden_size"], c["intermediate_size"], c["num_local_experts"], c["head_dim"]
    nq, nkv, V = c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]
    t = {"model.embed_tokens.weight": ("BF16", [V, H]), "model.norm.weight": ("BF16", [H]),
         "lm_head.weight": ("BF16", [V, H])}
    for l in range(c["num_hidden_layers"]):
        b = f"model.layers.{l}."
        t |= {b + "input_layernorm.weight": ("BF16", [H]),
              b + "post_attention_layernorm.weight": ("BF16", [H]),
              b + "self_attn.q_proj.weight": ("BF16", [nq * D, H]), b + "self_attn.q_proj.bias": ("BF16", [nq * D]),
              b + "self_attn.k_proj.weight": ("BF16", [nkv * D, H]), b + "self_attn.k_proj.bias": ("BF16", [nkv * D]),
              b + "self_attn.v_proj.weight": ("BF16", [nkv * D, H]), b + "self_attn.v_proj.bias": ("BF16", [nkv * D]),
              b + "self_attn.o_proj.weight": ("BF16", [H, nq * D]), b + "self_attn.o_proj.bias": ("BF16", [H]),
              b + "self_attn.sinks": ("BF16", [nq]),
              b + "mlp.router.weight": ("BF16", [E, H]), b + "mlp.router.bias": ("BF16", [E]),
              b + "mlp.experts.gate_up_proj_blocks": ("U8", [E, 2 * I, H // 32, 16]),
              b + "mlp.experts.gate_up_proj_scales": ("U8", [E, 2 * I, H // 32]),
              b + "mlp.experts.gate_up_proj_bias": ("BF16", [E, 2 * I]),
              b + "mlp.experts.down_proj_blocks": ("U8", [E, H, I // 32, 16]),
              b + "mlp.experts.down_proj_scales": ("U8", [E, H, I // 32]),
              b + "mlp.experts.down_proj_bias": ("BF16", [E, H])}
    return t

def check(got, want, what):
    assert set(got) == set(want), (what, set(got) ^ set(want))
    for k, (dt, shape) in want.items():
        assert (got[k]["dtype"], got[k]["shape"]) == (dt, shape), (what, k, got[k], dt, shape)

official_keys = ["num_hidden_layers", "num_experts", "experts_per_token", "vocab_size", "hidden_size",
                 "intermediate_size", "swiglu_limit", "head_dim", "num_attention_heads",
                 "num_key_value_heads", "sliding_window", "initial_context_length", "rope_theta",
                 "rope_scaling_factor", "rope_ntk_alpha", "rope_ntk_beta"]

# original, one file
c = json.load(open(f"{work}/a/config.json"))
assert list(c) == official_keys, list(c)
assert (c["num_hidden_layers"], c["num_experts"], c["experts_per_token"], c["vocab_size"],
        c["head_dim"], c["sliding_window"]) == (2, 4, 2, 201088, 64, 8), c
assert sorted(os.listdir(f"{work}/a")) == ["config.json", "dtypes.json", "model.safetensors"]
h = header(f"{work}/a/model.safetensors")
check(h, expect_original(c), "tiny original")
d = json.load(open(f"{work}/a/dtypes.json"))
assert set(d) == set(h) and d["block.0.mlp.mlp1_weight.blocks"] == "FP4" and \
    d["block.0.mlp.mlp1_weight.scales"] == "UE8" and d["embedding.weight"] == "BF16"

# original, three shards: together exactly the tensors of one file
c = json.load(open(f"{work}/s3/config.json"))
files = sorted(f for f in os.listdir(f"{work}/s3") if f.endswith(".safetensors"))
# gpt-oss-120b's original/ naming (1-based, double dash), with an index
assert files == [f"model--0000{i}-of-00003.safetensors" for i in (1, 2, 3)], files
idx = json.load(open(f"{work}/s3/model.safetensors.index.json"))
merged = {}
for f in files:
    hh = header(f"{work}/s3/{f}")
    assert hh and not (set(hh) & set(merged))
    assert all(idx["weight_map"][k] == f for k in hh)
    merged |= hh
check(merged, expect_original(c), "tiny original 3 shards")
assert set(idx["weight_map"]) == set(merged)
assert c["num_hidden_layers"] == 2 and c["num_experts"] == 4

# Hugging Face: config, index, shards
c = json.load(open(f"{work}/hf/config.json"))
assert c["model_type"] == "gpt_oss" and c["architectures"] == ["GptOssForCausalLM"]
assert c["layer_types"] == ["sliding_attention", "full_attention"]
assert c["rope_scaling"] == {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                             "original_max_position_embeddings": 4096, "rope_type": "yarn",
                             "truncate": False}
assert c["quantization_config"]["quant_method"] == "mxfp4"
assert (c["num_local_experts"], c["num_experts_per_tok"], c["sliding_window"]) == (4, 2, 8)
idx = json.load(open(f"{work}/hf/model.safetensors.index.json"))
files = sorted(set(idx["weight_map"].values()))
# gpt-oss-20b's HF naming: 3 files, 0-based, "of" the last index
assert files == [f"model-0000{i}-of-00002.safetensors" for i in (0, 1, 2)], files
assert sorted(os.listdir(f"{work}/hf")) == ["config.json"] + files + ["model.safetensors.index.json"]
merged, total = {}, 0
for f in files:
    hh = header(f"{work}/hf/{f}")
    for k, t in hh.items():
        assert idx["weight_map"][k] == f
        total += nbytes(t)
    merged |= hh
check(merged, expect_hf(c), "tiny hf")
assert idx["metadata"]["total_size"] == total
print("ok: files")
EOF

# The same values in both layouts: MXFP4 bytes are identical, q/k/v are the rows of qkv.
python3 - "$work" <<'EOF'
import json, struct, sys
work = sys.argv[1]
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n)); h.pop("__metadata__")
        data = f.read()
    return {k: data[t["data_offsets"][0]:t["data_offsets"][1]] for k, t in h.items()}
o = tensors(f"{work}/b/model.safetensors")  # seed 7, like hf
hf = {}
for i in (0, 1, 2):
    hf |= tensors(f"{work}/hf/model-0000{i}-of-00002.safetensors")
assert o["embedding.weight"] == hf["model.embed_tokens.weight"]
assert o["block.1.mlp.mlp1_weight.blocks"] == hf["model.layers.1.mlp.experts.gate_up_proj_blocks"]
assert o["block.1.mlp.mlp2_weight.scales"] == hf["model.layers.1.mlp.experts.down_proj_scales"]
assert o["block.0.attn.qkv.weight"] == b"".join(hf[f"model.layers.0.self_attn.{p}_proj.weight"] for p in "qkv")
assert o["block.0.attn.qkv.bias"] == b"".join(hf[f"model.layers.0.self_attn.{p}_proj.bias"] for p in "qkv")
assert o["unembedding.weight"] == hf["lm_head.weight"]
print("ok: both layouts hold the same values")
EOF

# --shards 1 in the HF layout: one model.safetensors, no index (as save_pretrained does)
"$GPTOSS_BIN" synth --preset tiny --format hf --shards 1 --quiet -o "$work/hf1"
[ "$(ls "$work/hf1" | tr '\n' ' ')" = "config.json model.safetensors " ] || fail "hf, 1 shard: $(ls "$work/hf1")"
cmp -s "$work/hf1/config.json" "$work/hf/config.json" || fail "hf config depends on the shards"

# ---- streaming: peak memory far below the file size -------------------------------------
if [ "${GPTOSS_SANITIZE:-0}" != 1 ]; then  # the sanitizers' shadow memory inflates RSS
  out=$("$GPTOSS_BIN" synth --preset small -o "$work/small" 2>&1)
  rss=$(printf '%s\n' "$out" | sed -n 's/.*peak RSS \([0-9]*\) MB.*/\1/p')
  size=$(( $(stat -c %s "$work/small/model.safetensors") / 1000000 ))
  [ -n "$rss" ] || fail "no peak RSS in: $out"
  # 4 chunk buffers of 1 MiB per thread + the header; the file is ~100 MB.
  [ "$rss" -lt $(( size / 3 )) ] || fail "peak RSS $rss MB for a $size MB file"
  echo "ok: small: peak RSS $rss MB for $size MB"
fi

# ---- atomicity: an interrupt leaves the existing folder untouched -----------------------
mkdir -p "$work/keep" && echo old >"$work/keep/marker"
"$GPTOSS_BIN" synth --preset 20b-2l --quiet -o "$work/keep" &
pid=$!
for _ in $(seq 200); do compgen -G "$work/keep.tmp.*/model.safetensors.tmp.*" >/dev/null && break; sleep 0.05; done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ $rc -ne 0 ] || fail "interrupted synth exited 0"
[ "$(cat "$work/keep/marker")" = old ] || fail "the existing folder was changed"
[ "$(ls "$work/keep")" = marker ] || fail "the existing folder has new files: $(ls "$work/keep")"
ls "$work" | grep -q '\.tmp\.' && fail "temporaries left after an interrupt: $(ls "$work")"
echo "ok: interrupt (exit $rc) left the folder untouched"
echo "test_synth: ok"
