# labels: release_only
"""The Flax reference adapter (python/ref_flax.py) against the official torch model.

Builds a small original-layout checkpoint (bf16 weights, MXFP4 experts, a 4-token sliding
window, YaRN RoPE) in a temporary folder, runs the adapter on 10 tokens, and runs the
official gpt_oss.torch model upcast to fp32 on the same tokens. Checks:
  - the adapter's MXFP4 decoding equals the official loader's bit for bit;
  - with --window torch (the official mask) every block output, the gate logits and the
    logits agree within 1e-4 and the expert choices are identical;
  - with --window flax (the model as shipped) positions before the window agree, and later
    positions of the first sliding layer differ: the shipped model's window is one key wider.
Tolerance: both sides are fp32 on the same weights; the remaining differences are summation
order in dot products over at most 128 terms of values up to ~1e2, i.e. a few 1e-6
relative; 1e-4 absolute leaves margin while a real bug (a wrong mask, a swapped half of
RoPE, a wrong expert) moves values by 1e-1 or more.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import jax  # noqa: F401
    import torch
    from gpt_oss.torch.model import Transformer
    from safetensors.numpy import load_file
    from safetensors.torch import save_file
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

HOME = os.environ.get("GPTOSS_HOME", os.path.join(os.path.dirname(__file__), ".."))
TOKENS = [3, 141, 59, 26, 535, 89, 793, 238, 46, 264]
WINDOW = 4


def write_checkpoint(folder, n_layers=2):
    H, E, I, V, d, nh, nkv = 64, 8, 64, 1000, 16, 4, 2
    cfg = dict(num_hidden_layers=n_layers, num_experts=E, experts_per_token=4, vocab_size=V,
               hidden_size=H, intermediate_size=I, swiglu_limit=7.0, head_dim=d,
               num_attention_heads=nh, num_key_value_heads=nkv, sliding_window=WINDOW,
               initial_context_length=4096, rope_theta=150000.0, rope_scaling_factor=32.0,
               rope_ntk_alpha=1.0, rope_ntk_beta=32.0)
    g = torch.Generator().manual_seed(1)

    def bf(*shape, std=1.0):
        return (torch.randn(*shape, generator=g) * std).to(torch.bfloat16)

    def scale(n):
        return (1 + 0.1 * torch.randn(n, generator=g)).float()

    def mxfp4(name, rows, cols):
        t[name + ".blocks"] = torch.randint(0, 256, (E, rows, cols // 32, 16), generator=g,
                                            dtype=torch.int32).to(torch.uint8)
        t[name + ".scales"] = torch.randint(120, 126, (E, rows, cols // 32), generator=g,
                                            dtype=torch.int32).to(torch.uint8)

    qkv = d * (nh + 2 * nkv)
    t = {"embedding.weight": bf(V, H), "norm.scale": scale(H), "unembedding.weight": bf(V, H, std=0.1)}
    for i in range(n_layers):
        p = f"block.{i}."
        t[p + "attn.norm.scale"] = scale(H)
        t[p + "attn.qkv.weight"], t[p + "attn.qkv.bias"] = bf(qkv, H, std=0.2), bf(qkv, std=0.1)
        t[p + "attn.sinks"] = bf(nh)
        t[p + "attn.out.weight"], t[p + "attn.out.bias"] = bf(H, d * nh, std=0.1), bf(H, std=0.1)
        t[p + "mlp.norm.scale"] = scale(H)
        t[p + "mlp.gate.weight"], t[p + "mlp.gate.bias"] = bf(E, H, std=0.3), bf(E, std=0.1)
        mxfp4(p + "mlp.mlp1_weight", 2 * I, H)
        t[p + "mlp.mlp1_bias"] = bf(E, 2 * I, std=0.1)
        mxfp4(p + "mlp.mlp2_weight", H, I)
        t[p + "mlp.mlp2_bias"] = bf(E, H, std=0.1)
    save_file(t, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)


def torch_stages(folder):
    model = Transformer.from_checkpoint(folder, device="cpu").float()
    out = {}
    for i, block in enumerate(model.block):
        block.register_forward_hook(
            lambda m, a, o, i=i: out.__setitem__(f"block{i}.output", o.detach().numpy().copy()))
        block.mlp.gate.register_forward_hook(
            lambda m, a, o, i=i: out.__setitem__(f"block{i}.mlp_gate_logits", o.detach().numpy().copy()))
    with torch.no_grad():
        out["logits"] = model(torch.tensor(TOKENS)).numpy()
    return out


def flax_stages(folder, window):
    path = os.path.join(folder, f"flax_{window}.safetensors")
    cmd = [sys.executable, os.path.join(HOME, "python", "ref_flax.py"), "--checkpoint", folder,
           "--tokens", ",".join(map(str, TOKENS)), "--out", path, "--window", window]
    subprocess.run(cmd, check=True)
    return load_file(path)


def check_mxfp4(folder):
    """The adapter's own MXFP4 decoding equals the official loader's, bit for bit."""
    sys.path.insert(0, os.path.join(HOME, "python"))
    import ref_flax
    from gpt_oss.torch.weights import Checkpoint

    ours, official = ref_flax.Checkpoint(folder), Checkpoint(folder, torch.device("cpu"))
    for name in ("block.0.mlp.mlp1_weight", "block.1.mlp.mlp2_weight"):
        a = np.asarray(ours.mxfp4_bf16(name)).astype(np.float32)
        b = official.get(name).float().numpy()
        assert a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)), name


def maxdiff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b)))


def main():
    with tempfile.TemporaryDirectory() as folder:
        write_checkpoint(folder)
        check_mxfp4(folder)
        ref = torch_stages(folder)
        fixed = flax_stages(folder, "torch")
        shipped = flax_stages(folder, "flax")

    assert fixed["tokens"].tolist() == TOKENS and fixed["n_valid"].tolist() == [len(TOKENS)]
    for name in sorted(ref):
        d = maxdiff(fixed[name], ref[name])
        print(f"window=torch {name:24s} max |diff| {d:.2e}")
        assert d <= 1e-4, f"{name}: {d} > 1e-4"
    for i in range(2):
        k = fixed[f"block{i}.mlp_expert_indices"].shape[1]
        want = np.argsort(-ref[f"block{i}.mlp_gate_logits"], axis=1, kind="stable")[:, :k]
        assert (fixed[f"block{i}.mlp_expert_indices"] == want).all(), f"block{i}: experts differ"

    early = maxdiff(shipped["block0.output"][:WINDOW], ref["block0.output"][:WINDOW])
    late = maxdiff(shipped["block0.output"][WINDOW:], ref["block0.output"][WINDOW:])
    print(f"window=flax block0.output max |diff|: positions < {WINDOW}: {early:.2e}, later: {late:.2e}")
    assert early <= 1e-4, "the shipped model should agree before the window matters"
    assert late > 1e-2, "the shipped model's wider window should show after position 4"
    print("ok")


if __name__ == "__main__":
    main()
