# labels: release_only
"""Proof of format, Hugging Face layout: transformers' GptOssForCausalLM.from_pretrained
loads `gptoss synth --format hf` offline with no missing, unexpected or mismatched
tensors, its weights equal the official torch model's weights loaded from the original
layout of the same preset and seed (bit for bit, after HF's own MXFP4 dequantization and
transposition), and the two models compute the same logits.

transformers runs MXFP4 natively only with triton kernels; on CPU it is told to dequantize
(Mxfp4Config(dequantize=True)), which is what it falls back to by itself when `accelerate`
is installed.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import GptOssForCausalLM, Mxfp4Config  # noqa: E402

from gpt_oss.torch.model import Transformer  # noqa: E402
from testlib import check, fixture  # noqa: E402

def hf_view_of_official(model):
    """The official model's parameters under HF names and HF layouts."""
    out = {"model.embed_tokens.weight": model.embedding.weight,
           "model.norm.weight": model.norm.scale, "lm_head.weight": model.unembedding.weight}
    for l, b in enumerate(model.block):
        a, m, p = b.attn, b.mlp, f"model.layers.{l}."
        nq, nkv = a.num_attention_heads * a.head_dim, a.num_key_value_heads * a.head_dim
        w, bias = a.qkv.weight, a.qkv.bias
        out |= {p + "input_layernorm.weight": a.norm.scale,
                p + "self_attn.q_proj.weight": w[:nq], p + "self_attn.q_proj.bias": bias[:nq],
                p + "self_attn.k_proj.weight": w[nq:nq + nkv], p + "self_attn.k_proj.bias": bias[nq:nq + nkv],
                p + "self_attn.v_proj.weight": w[nq + nkv:], p + "self_attn.v_proj.bias": bias[nq + nkv:],
                p + "self_attn.o_proj.weight": a.out.weight, p + "self_attn.o_proj.bias": a.out.bias,
                p + "self_attn.sinks": a.sinks,
                p + "post_attention_layernorm.weight": m.norm.scale,
                p + "mlp.router.weight": m.gate.weight, p + "mlp.router.bias": m.gate.bias,
                # HF keeps expert weights as [E, in, out]
                p + "mlp.experts.gate_up_proj": m.mlp1_weight.transpose(1, 2),
                p + "mlp.experts.gate_up_proj_bias": m.mlp1_bias,
                p + "mlp.experts.down_proj": m.mlp2_weight.transpose(1, 2),
                p + "mlp.experts.down_proj_bias": m.mlp2_bias}
    return out


def main():
    transformers.logging.set_verbosity_error()
    for preset in ("tiny", "small"):
        hf_dir, orig_dir = fixture(preset, "hf"), fixture(preset, "original")
        hf, info = GptOssForCausalLM.from_pretrained(
            hf_dir, local_files_only=True, dtype=torch.float32, attn_implementation="eager",
            quantization_config=Mxfp4Config(dequantize=True), output_loading_info=True)
        hf.eval()
        for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            check(not info.get(k), f"{preset} hf: {k}: {info.get(k)}")
        official = Transformer.from_checkpoint(orig_dir, device="cpu").to(torch.float32)

        # 1. the same weights, bit for bit (every stored value is exact in fp32)
        ours = hf_view_of_official(official)
        theirs = dict(hf.named_parameters())
        check(set(ours) == set(theirs), f"{preset}: names differ: {sorted(set(ours) ^ set(theirs))[:6]}")
        for name, t in theirs.items():
            o = ours[name].detach().float()
            check(t.shape == o.shape, f"{preset}: {name}: shape {tuple(t.shape)} vs {tuple(o.shape)}")
            check(torch.equal(t.detach().view(torch.int32), o.contiguous().view(torch.int32)),
                  f"{preset}: {name}: values differ")
        print(f"{preset}: transformers loads the hf layout; its {len(theirs)} tensors equal the official model's")

        # 2. the same function: the HF config (layer types, window, YaRN, sinks) means what
        # the original config means. Both run in fp32 with different op orders, so logits
        # agree to ~1e-5 relative; a config mismatch (window, rope) moves them by O(1).
        tokens = torch.randint(0, 199998, (32,), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            a = official(tokens)
            b = hf(input_ids=tokens[None]).logits[0]
        diff = (a - b).abs().max().item()
        print(f"{preset}: logits (std {a.std().item():.2f}), official torch vs transformers: max |diff| {diff:.2e}")
        check(diff < 1e-3, f"{preset}: logits differ by {diff}")
    print("test_synth_hf: ok")


if __name__ == "__main__":
    main()
