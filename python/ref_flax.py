"""Reference adapter: the Flax/NNX GPT-OSS shipped in jax2onnx, on our checkpoint, in fp32.

    python python/ref_flax.py --checkpoint DIR --tokens 1,2,3 [--n-valid N] [--max-layers N]
                              --out FILE.safetensors [--window flax|torch] [--verbose]

This is the model behind the baseline parity report (PyPI jax2onnx,
jax2onnx.plugins.examples.nnx.gpt_oss_flax). The adapter only loads weights and reads the
stages the model itself records (its capture_block_debug hook); it computes nothing of its
own except `final_normed`, which is the model's own final RMSNorm module applied to the
last block's output (the model applies it internally and does not record it).

Weights come from an original-layout checkpoint (config.json + *.safetensors). MXFP4
experts are decoded here (numpy, independent of the torch loader) and kept in bf16: every
MXFP4 value (a 4-bit e2m1 number times a power of two) is exact in bf16, and the Flax MLP
upcasts the gathered expert weights to fp32 before use, so the arithmetic stays fp32 while
the memory halves. Every other weight is converted to fp32.

--window: the Flax model's sliding-window mask lets query i see keys j with
i - j <= sliding_window (sliding_window + 1 keys), one more than the official torch model
(i - j < sliding_window). `flax` (default) runs the model as shipped, as the baseline did;
`torch` hands the model the official mask instead (the Transformer takes its masks as
constructor arguments, so nothing is patched).

The command line, stage names and writer are python/refdump.py's (docs/stages.md); the
output is written to a temporary name and renamed, so a failure never leaves a partial file.
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refdump  # noqa: E402

FP4_VALUES = np.array(
    [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0],
    dtype=np.float32,
)
CONFIG_KEYS = (
    "num_hidden_layers num_experts experts_per_token vocab_size hidden_size "
    "intermediate_size swiglu_limit head_dim num_attention_heads num_key_value_heads "
    "sliding_window initial_context_length rope_theta rope_scaling_factor rope_ntk_alpha "
    "rope_ntk_beta"
).split()


def die(msg):
    refdump.fail(f"ref_flax: {msg}")


class Checkpoint:
    """Tensors of every *.safetensors file in an original-layout folder, read lazily."""

    def __init__(self, folder):
        from safetensors import safe_open

        self.files = {}
        names = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
        if not names:
            die(f"{folder}: no .safetensors files")
        for name in names:
            path = os.path.join(folder, name)
            handle = safe_open(path, framework="flax")
            for key in handle.keys():
                self.files[key] = handle

    def get(self, name):
        if name not in self.files:
            die(f"checkpoint: tensor {name} missing (original layout expected)")
        return self.files[name].get_tensor(name)

    def f32(self, name):
        return np.asarray(self.get(name), dtype=np.float32)

    def mxfp4_bf16(self, name):
        """Decodes name.blocks [..., G, 16] u8 and name.scales [..., G] u8 to bf16 [..., G*32]."""
        import ml_dtypes

        blocks = np.asarray(self.get(name + ".blocks"))
        scales = np.asarray(self.get(name + ".scales"))
        if blocks.shape[:-1] != scales.shape or blocks.shape[-1] != 16:
            die(f"checkpoint: {name}: blocks {blocks.shape} and scales {scales.shape} disagree")
        out = np.empty(blocks.shape[:-1] + (32,), dtype=ml_dtypes.bfloat16)
        for e in range(blocks.shape[0]):  # one expert at a time keeps the fp32 scratch small
            exp = scales[e].astype(np.int32)[..., None] - 127
            lo = np.ldexp(FP4_VALUES[blocks[e] & 0x0F], exp)
            hi = np.ldexp(FP4_VALUES[blocks[e] >> 4], exp)
            out[e, ..., 0::2] = lo.astype(ml_dtypes.bfloat16)  # exact: see the module doc
            out[e, ..., 1::2] = hi.astype(ml_dtypes.bfloat16)
        return out.reshape(blocks.shape[:-2] + (-1,))


def official_sliding_mask(n, window):
    """The official torch mask: query i sees keys i - window < j <= i."""
    q = np.arange(n)[:, None]
    k = np.arange(n)[None, :]
    return np.where((k > q) | (q - k >= window), -np.inf, 0.0).astype(np.float32)


def build_model(gof, cfg, n_tokens, window_mode):
    """The Flax Transformer, built abstractly (no random init of GB-sized weights)."""
    import jax.numpy as jnp
    from flax import nnx

    fcfg = gof.GPTOSSConfig(**{k: cfg[k] for k in CONFIG_KEYS})
    cos, sin = gof._rotary_tables_for_config(fcfg, min_length=n_tokens)
    if window_mode == "torch":
        mask_sliding = jnp.asarray(official_sliding_mask(n_tokens, cfg["sliding_window"]))
    else:
        mask_sliding = gof._causal_mask(n_tokens, n_tokens, sliding_window=fcfg.sliding_window)
    mask_causal = gof._causal_mask(n_tokens, n_tokens, sliding_window=0)

    def make():
        return gof.Transformer(
            config=fcfg, cos_table=cos, sin_table=sin, sequence_length=n_tokens,
            mask_sliding=mask_sliding, mask_causal=mask_causal, dtype=jnp.float32, rng=0)

    model = nnx.eval_shape(make)
    # eval_shape leaves every array abstract, the rope tables and masks included: give
    # them back their values.
    model.cos_table, model.sin_table = cos, sin
    model.mask_sliding, model.mask_causal = mask_sliding, mask_causal
    for i in range(fcfg.num_hidden_layers):
        att = model.blocks[f"block_{i}"].attention
        att.cos_table, att.sin_table = cos, sin
        att.rope.cos_table, att.rope.sin_table = cos, sin
        att.mask = mask_sliding if (i % 2 == 0 and fcfg.sliding_window > 0) else mask_causal
    return model


def set_param(param, value, what):
    want = tuple(param.get_value().shape)
    if tuple(value.shape) != want:
        die(f"checkpoint: {what}: shape {tuple(value.shape)}, the model wants {want}")
    param.set_value(value)


def load_weights(model, ck, n_layers):
    import jax.numpy as jnp

    set_param(model.token_embedding.embedding, jnp.asarray(ck.f32("embedding.weight")),
              "embedding.weight")
    for i in range(n_layers):
        b = model.blocks[f"block_{i}"]
        p = f"block.{i}."
        set_param(b.norm1.scale, jnp.asarray(ck.f32(p + "attn.norm.scale")), p + "attn.norm.scale")
        # torch Linear stores W [out, in]; the Flax kernels are [in, out].
        set_param(b.attention.qkv_kernel, jnp.asarray(ck.f32(p + "attn.qkv.weight").T),
                  p + "attn.qkv.weight")
        set_param(b.attention.qkv_bias, jnp.asarray(ck.f32(p + "attn.qkv.bias")), p + "attn.qkv.bias")
        set_param(b.attention.out_kernel, jnp.asarray(ck.f32(p + "attn.out.weight").T),
                  p + "attn.out.weight")
        set_param(b.attention.out_bias, jnp.asarray(ck.f32(p + "attn.out.bias")), p + "attn.out.bias")
        set_param(b.attention.sinks, jnp.asarray(ck.f32(p + "attn.sinks")), p + "attn.sinks")
        set_param(b.norm2.scale, jnp.asarray(ck.f32(p + "mlp.norm.scale")), p + "mlp.norm.scale")
        set_param(b.mlp.gate_kernel, jnp.asarray(ck.f32(p + "mlp.gate.weight").T), p + "mlp.gate.weight")
        set_param(b.mlp.gate_bias, jnp.asarray(ck.f32(p + "mlp.gate.bias")), p + "mlp.gate.bias")
        set_param(b.mlp.mlp1_weight, jnp.asarray(ck.mxfp4_bf16(p + "mlp.mlp1_weight")),
                  p + "mlp.mlp1_weight")
        set_param(b.mlp.mlp1_bias, jnp.asarray(ck.f32(p + "mlp.mlp1_bias")), p + "mlp.mlp1_bias")
        set_param(b.mlp.mlp2_weight, jnp.asarray(ck.mxfp4_bf16(p + "mlp.mlp2_weight")),
                  p + "mlp.mlp2_weight")
        set_param(b.mlp.mlp2_bias, jnp.asarray(ck.f32(p + "mlp.mlp2_bias")), p + "mlp.mlp2_bias")
    set_param(model.norm.scale, jnp.asarray(ck.f32("norm.scale")), "norm.scale")
    set_param(model.unembedding_kernel, jnp.asarray(ck.f32("unembedding.weight").T),
              "unembedding.weight")


def read_config(folder, max_layers):
    """The original config.json as a dict, num_hidden_layers cut to max_layers (0 = all)."""
    cfg_path = os.path.join(folder, "config.json")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{cfg_path}: {e}")
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        die(f"{cfg_path}: not an original-layout config (missing {', '.join(missing)})")
    if max_layers < 0:
        die(f"--max-layers: {max_layers} is negative")
    if max_layers:
        cfg["num_hidden_layers"] = min(cfg["num_hidden_layers"], max_layers)
    return cfg


def extra_options(p):
    p.add_argument("--window", choices=("flax", "torch"), default="flax",
                   help="sliding-window mask: the model's own (default) or the official one")


def main():
    args = refdump.parse_args("Dump the stages of jax2onnx's Flax GPT-OSS (fp32, CPU).",
                              extra=extra_options)
    cfg = read_config(args.checkpoint, args.max_layers)
    bad = [t for t in args.tokens if not 0 <= t < cfg["vocab_size"]]
    if bad:
        die(f"--tokens: id {bad[0]} out of range 0..{cfg['vocab_size'] - 1}")

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax

        # fp32 matmuls on every backend (a no-op on CPU, where f32 dots are f32 already).
        jax.config.update("jax_default_matmul_precision", "highest")
        import jax.numpy as jnp
        from jax2onnx.plugins.examples.nnx import gpt_oss_flax as gof
    except ImportError as e:
        die(f"the Flax reference is not installed ({e}); see python/requirements-extra-flax.txt")

    t0 = time.time()
    ck = Checkpoint(args.checkpoint)
    model = build_model(gof, cfg, len(args.tokens), args.window)
    load_weights(model, ck, cfg["num_hidden_layers"])
    t1 = time.time()
    refdump.note(args, f"ref_flax: loaded {cfg['num_hidden_layers']} blocks in {t1 - t0:.1f} s")

    debug = []
    logits = model(jnp.asarray(args.tokens, dtype=jnp.int32), capture_block_debug=debug)
    stages = {"logits": np.asarray(logits)}
    if debug:
        # The model applies its final norm internally without recording it: apply the same
        # module to the recorded output of the last block.
        stages["final_normed"] = np.asarray(model.norm(debug[-1]["output"]))
    for i, entry in enumerate(debug):
        for stage, value in entry.items():
            stages[f"block{i}.{stage}"] = np.asarray(value)
    refdump.note(args, f"ref_flax: forward {time.time() - t1:.1f} s")
    refdump.write(args, stages, metadata={"reference": "jax2onnx gpt_oss_flax fp32",
                                          "window": args.window})
    return 0


if __name__ == "__main__":
    sys.exit(main())
