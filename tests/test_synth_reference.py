# labels: release_only
"""Proof of format: the official gpt-oss loader reads `gptoss synth` checkpoints, its MXFP4
decoding equals `gptoss inspect --dequantize` bit for bit, and the values keep the official
torch model's activations in realistic ranges.

Per preset (GPTOSS_SYNTH_PRESETS, default "tiny small deep"):
  1. gpt_oss.torch.weights.Checkpoint sees exactly the tensors the model uses (none missing,
     none extra) and Transformer.from_checkpoint(device="cpu") loads them.
  2. Every MXFP4 weight of the first and last block, decoded by the official loader (bf16)
     and by gptoss inspect --dequantize (F32): identical bit patterns (signed zeros included).
  3. A 128-token forward pass (16 on the 20b geometry) with hooks (fp32 for the small presets, bf16 otherwise):
     routing uses every expert (entropy of the expert load close to uniform), the SwiGLU
     clamp (limit 7) hits some but few elements, sinks differ per head, MXFP4 scales span
     several exponents, logits are finite, spread and not one-hot. The numbers are printed.

The 20b-2l geometry needs ~10 GB of memory (the bf16 torch model, 16 tokens); a manual run:
    GPTOSS_SYNTH_PRESETS=20b-2l tests/run_py.sh tests/test_synth_reference.py
(with GPTOSS_BIN, GPTOSS_FIXTURES and GPTOSS_PYTHON set as ctest sets them).
"""

import math
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

from gpt_oss.torch.model import Transformer
from gpt_oss.torch.weights import PARAM_NAME_MAP, Checkpoint
from testlib import BIN, check, fixture

def check_loader(path, model):
    ckpt = Checkpoint(path, torch.device("cpu"))
    used = set()
    for name, _ in model.named_parameters():
        src = PARAM_NAME_MAP.get(name, name)
        used |= set(src) if isinstance(src, tuple) else {src}
    have = set(ckpt.tensor_name_to_file)
    check(have == used, f"{path}: tensors not used by the model: {sorted(have - used)[:5]}, "
                        f"missing: {sorted(used - have)[:5]}")
    return ckpt


def check_mxfp4(path, ckpt, layers):
    with tempfile.TemporaryDirectory() as tmp:
        for l in layers:
            for w in ("mlp1_weight", "mlp2_weight"):
                name = f"block.{l}.mlp.{w}"
                out = os.path.join(tmp, f"{name}.safetensors")
                subprocess.run([BIN, "inspect", path, "--dequantize", name, "-o", out], check=True,
                               stdout=subprocess.DEVNULL)
                ours = load_file(out)[name]
                theirs = ckpt.get(name)  # bf16
                check(ours.dtype == torch.float32 and ours.shape == theirs.shape,
                      f"{name}: {ours.dtype} {tuple(ours.shape)} vs {tuple(theirs.shape)}")
                diff = 0
                for e in range(ours.shape[0]):  # per expert: bf16 -> f32 is exact
                    diff += (ours[e].view(torch.int32) != theirs[e].float().view(torch.int32)).sum().item()
                check(diff == 0, f"{name}: {diff} elements differ from the official decoding")
                del ours, theirs
                os.unlink(out)
    print(f"  MXFP4: blocks {list(layers)} decode bit for bit as the official loader does")


def measure(model, cfg, tokens):
    """Runs the model with hooks on every MoE block; returns per-layer statistics."""
    stats = []

    def mlp_hook(mod, inp, out):
        t = mod.norm(inp[0])
        g = mod.gate(t)
        top = torch.topk(g, k=mod.experts_per_token, dim=-1, sorted=True)
        # W1 t + b1 of each selected expert, one matrix at a time (gathering [T, k, 2I, H]
        # at once, as the official forward does, takes GBs on the 20b geometry)
        h = torch.stack([torch.stack([mod.mlp1_weight[e] @ t[i] + mod.mlp1_bias[e] for e in top.indices[i].tolist()])
                         for i in range(t.shape[0])])
        glu, lin = h[..., ::2].float(), h[..., 1::2].float()
        load = torch.bincount(top.indices.flatten(), minlength=mod.num_experts).float()
        p = load / load.sum()
        ent = -(p[p > 0] * p[p > 0].log()).sum().item() / math.log(mod.num_experts)
        lim = mod.swiglu_limit
        stats.append(dict(
            experts_used=int((load > 0).sum()), load_entropy=ent,
            gate_std=g.float().std().item(), top1_weight=torch.softmax(top.values.float(), -1)[:, 0].mean().item(),
            prelinear_std=h.float().std().item(),
            clamp_glu=(glu > lim).float().mean().item(), clamp_linear=(lin.abs() > lim).float().mean().item()))

    hooks = [b.mlp.register_forward_hook(mlp_hook) for b in model.block]
    with torch.no_grad():
        logits = model(tokens).float()
    for h in hooks:
        h.remove()
    return stats, logits


def check_values(path, preset, model, cfg, ckpt, big):
    E, k, L = cfg["num_experts"], cfg["experts_per_token"], cfg["num_hidden_layers"]
    # Routing statistics want a few picks per expert (T*k = 512 for E <= 32); the official
    # forward gathers [T, k, 2I, H] expert weights, ~130 MB per token on the 20b geometry.
    T = 16 if big else 128
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 199998, (T,), generator=gen)
    stats, logits = measure(model, cfg, tokens)

    print(f"  {'layer':>5} {'used':>4} {'H(load)':>7} {'gate sd':>7} {'top1 w':>6} {'W1t sd':>6} {'clamp glu':>9} {'clamp lin':>9}")
    for l, s in enumerate(stats):
        print(f"  {l:5d} {s['experts_used']:4d} {s['load_entropy']:7.3f} {s['gate_std']:7.3f} {s['top1_weight']:6.3f} "
              f"{s['prelinear_std']:6.2f} {s['clamp_glu']:9.4f} {s['clamp_linear']:9.4f}")
    picks = T * k
    for l, s in enumerate(stats):
        # Routing spreads: uniform routing leaves E*(1-k/E)^T experts unused (~1e-6 at
        # T = 128, ~4 of 32 at T = 16); demand all but E/16 plus twice that many used (a real
        # router is not uniform either) and a load entropy above 0.75 of the uniform one's
        # (one expert hogging all picks would give 0).
        slack = E // 16 + math.ceil(2 * E * (1 - k / E) ** T)
        check(s["experts_used"] >= min(E, picks) - slack, f"layer {l}: only {s['experts_used']} of {E} experts used")
        check(s["load_entropy"] > 0.75, f"layer {l}: expert load entropy {s['load_entropy']:.3f}")
        # The clamp bites some elements but not most: between 0.1 % and 20 % per side.
        check(0.001 < s["clamp_glu"] < 0.2, f"layer {l}: glu clamp fraction {s['clamp_glu']:.4f}")
        check(0.001 < s["clamp_linear"] < 0.2, f"layer {l}: linear clamp fraction {s['clamp_linear']:.4f}")

    # Sinks differ per head (and per layer). Drawn uniformly in [-2, 4) and rounded to bf16
    # (~700 values there), 64 heads share a value now and then by chance: demand 3/4 distinct.
    sinks = [b.attn.sinks.float() for b in model.block]
    nh = cfg["num_attention_heads"]
    for l, s in enumerate(sinks):
        check(len(set(s.tolist())) >= nh - nh // 4, f"layer {l}: only {len(set(s.tolist()))} distinct sinks of {nh}")
    check(L == 1 or not torch.equal(sinks[0], sinks[1]), "layers 0 and 1 share their sinks")
    print(f"  sinks (layer 0): {[round(v, 2) for v in sinks[0].tolist()]}")

    # MXFP4 scales span several exponents (read raw, per tensor).
    for l in (0, L - 1):
        for w in ("mlp1_weight", "mlp2_weight"):
            sc = ckpt._get_tensor(f"block.{l}.mlp.{w}.scales").int() - 127
            vals = sorted(set(sc.flatten().tolist()))
            check(len(vals) >= 4, f"block.{l}.mlp.{w}.scales: only exponents {vals}")
            if l == 0:
                print(f"  block.0.mlp.{w}.scales: exponents {vals[0]}..{vals[-1]}")

    # Logits: finite, spread, not one-hot, not the same argmax everywhere.
    check(torch.isfinite(logits).all().item(), "non-finite logits")
    sd = logits.std(-1).mean().item()
    top = torch.softmax(logits, -1).max(-1).values
    distinct = len(set(logits.argmax(-1).tolist()))
    print(f"  logits: std {sd:.2f}, max top-1 probability {top.max().item():.3f}, {distinct} distinct argmax over {T}")
    check(1.0 < sd < 10.0, f"logit std {sd}")
    check(top.max().item() < 0.9, "a one-hot prediction")
    check(distinct >= T // 4, f"only {distinct} distinct predictions")


def main():
    presets = os.environ.get("GPTOSS_SYNTH_PRESETS", "tiny small deep").split()
    for preset in presets:
        path = fixture(preset)
        import json
        cfg = json.load(open(os.path.join(path, "config.json")))
        model = Transformer.from_checkpoint(path, device="cpu")
        print(f"{preset}: loaded by the official gpt_oss.torch loader")
        ckpt = check_loader(path, model)
        check_mxfp4(path, ckpt, sorted({0, cfg["num_hidden_layers"] - 1}))
        big = cfg["hidden_size"] > 1024
        if not big:  # fp32: the stored values are exact in it
            model = model.to(torch.float32)
        check_values(path, preset, model, cfg, ckpt, big)
        del model, ckpt
    print("test_synth_reference: ok")


if __name__ == "__main__":
    main()
