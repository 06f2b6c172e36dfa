#!/usr/bin/env python3
"""ref_torch: the official GPT-OSS PyTorch reference (PyPI `gpt-oss`, gpt_oss/torch/model.py
and weights.py), run in fp32 on CPU, dumping every stage of docs/stages.md.

    python python/ref_torch.py --checkpoint DIR --tokens 1,2,3 [--n-valid N]
        [--max-layers N] --out FILE.safetensors [--mlp-chunk-mb MB] [--verbose]

DIR is a checkpoint in the original layout (config.json + *.safetensors). The model is
loaded with the reference's own loader (Transformer.from_checkpoint; with --max-layers N
through a config that declares N layers, so the other blocks are never read), then upcast
to fp32 as the reference's precision notes prescribe (every stored weight, MXFP4 included,
is exact in fp32), and run once on the ids.

Where the reference has a module boundary, the stage is that module's own output, taken
with forward hooks (norms, qkv, out, gate, attention, MLP, blocks, unembedding). Where it
has none (the q/k/v split, the MoE internals) the stage is recomputed from the module's own
parameters with the reference's own functions (its rope, sdpa, swiglu), and the recomposed
module output is checked against the real one, so this adapter cannot drift from the
reference unnoticed.

--mlp-chunk-mb bounds the memory of the reference MoE, which gathers the weights of the
selected experts per token (about 400 MB per token in the 20b geometry): the MLP module is
called on slices of tokens (every op in it is per token).

--experts lazy (the default `auto` picks it when the experts upcast to fp32 would exceed
8 GiB, e.g. gpt-oss-120b's 128 experts: 25 GB for 2 blocks) keeps the expert weights packed
in the checkpoint file: the model is built and loaded as Transformer.from_checkpoint does
(the reference's own Checkpoint.get for every other parameter), but MLPBlock.mlp1_weight /
mlp2_weight are stand-ins that, when MLPBlock.forward indexes them with the selected
experts, decode just those experts with the reference's own MXFP4 decoder
(Checkpoint._get_mxfp4_tensor, to bf16 as the loader does) and upcast them. Decoding and
upcasting are exact, so this computes the same numbers as the eager path.

--attention-chunk N evaluates attention N queries at a time: the reference's sdpa builds
[T, T] scores and masks per head (16k tokens on 4 heads: ~4 GB fp32, several times that in
temporaries). Each slice of queries runs sdpa's own operations (the same einsums, scale,
causal and sliding-window mask, sink column, softmax) against the keys it can see; every
query's output depends on its own row only, so this is mathematically identical (fp32
results may differ by rounding of the shorter reductions).
"""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refdump  # noqa: E402


def extra_options(p):
    p.add_argument("--mlp-chunk-mb", type=int, default=1024,
                   help="bound on the gathered expert weights per MLP call (default 1024)")
    p.add_argument("--experts", choices=("auto", "eager", "lazy"), default="auto",
                   help="eager: upcast every expert at load; lazy: decode the selected experts "
                        "per MLP call; auto (default): lazy when eager needs over 8 GiB")
    p.add_argument("--attention-chunk", type=int, default=0,
                   help="evaluate attention this many queries at a time (0 = all at once)")
    p.add_argument("--precision", choices=("fp32", "fp64"), default="fp32",
                   help="fp32 (the reference's precision notes) or fp64: the same model "
                        "upcast to float64, a yardstick for the fp32 rounding of both sides")


def load_reference(args):
    """Transformer.from_checkpoint on the first --max-layers blocks, then fp32."""
    import torch
    from gpt_oss.torch.model import Transformer

    cfg_path = os.path.join(args.checkpoint, "config.json")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        refdump.fail(f"{cfg_path}: cannot read: {e}")
    if "num_local_experts" in cfg or "architectures" in cfg or "num_experts" not in cfg:
        refdump.fail(f"{cfg_path}: not an original-layout checkpoint (a Hugging Face one? "
                     "the official torch model reads the original/ layout; use --against hf)")
    n_layers = cfg["num_hidden_layers"]
    if args.max_layers:
        n_layers = min(n_layers, args.max_layers)
    path, tmp = args.checkpoint, None
    if n_layers != cfg["num_hidden_layers"]:
        # The reference loads exactly the blocks its config declares: give it a folder whose
        # config declares n_layers and whose safetensors are links to the real ones.
        tmp = tempfile.mkdtemp(prefix="gptoss_ref_torch_")
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(dict(cfg, num_hidden_layers=n_layers), f)
        for name in os.listdir(args.checkpoint):
            if name.endswith(".safetensors"):
                os.symlink(os.path.abspath(os.path.join(args.checkpoint, name)),
                           os.path.join(tmp, name))
        path = tmp
    dtype = torch.float64 if args.precision == "fp64" else torch.float32
    lazy = args.experts == "lazy" or (args.experts == "auto" and
                                      expert_bytes(cfg, n_layers, dtype.itemsize) > 8 << 30)
    try:
        with torch.no_grad():
            if lazy:
                model = load_lazy_experts(path, dtype)
            else:
                model = Transformer.from_checkpoint(path, device="cpu")
    except Exception as e:  # the reference's own loader: report its message
        refdump.fail(f"{args.checkpoint}: the reference loader failed: {type(e).__name__}: {e}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return model.to(dtype), n_layers, lazy


def expert_bytes(cfg, n_layers, itemsize):
    """The expert weights of n_layers blocks once upcast (mlp1 [E, 2I, H] + mlp2 [E, H, I])."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    return n_layers * cfg["num_experts"] * 3 * i * h * itemsize


class LazyExperts:
    """Stands in for MLPBlock.mlp1_weight / mlp2_weight ([E, rows, cols]): the packed MXFP4
    stays in the file; self[idx, ...] decodes only the experts in idx with the reference's
    Checkpoint._get_mxfp4_tensor (reading just their rows), in bf16 as the loader does, then
    upcasts (exact) and gathers as indexing the full tensor would. The last decoding is
    kept, since the stage recorder indexes the same experts again."""

    def __init__(self, checkpoint, blocks, scales, shape, dtype):
        self.checkpoint, self.blocks, self.scales = checkpoint, blocks, scales
        self.shape, self.dtype = shape, dtype
        self.last = (None, None)

    def element_size(self):
        return self.dtype.itemsize

    def __getitem__(self, key):
        import torch

        idx = key[0] if isinstance(key, tuple) else key
        experts, where = torch.unique(idx, return_inverse=True)
        ids = tuple(experts.tolist())
        if self.last[0] != ids:
            self.last = (None, None)  # free the previous decoding first
            self.last = (ids, self.decode(ids))
        return self.last[1][where]

    def decode(self, ids):
        from gpt_oss.torch.weights import Checkpoint

        view = ExpertRows(self.checkpoint, ids)
        return Checkpoint._get_mxfp4_tensor(view, self.blocks, self.scales).to(self.dtype)


class ExpertRows:
    """What Checkpoint._get_mxfp4_tensor reads from `self`, restricted to some experts: the
    same file map, and _get_tensor returning only those experts' rows (safetensors slices)."""

    def __init__(self, checkpoint, ids):
        self.tensor_name_to_file, self.ids = checkpoint.tensor_name_to_file, ids

    def _get_tensor(self, name):
        import torch
        from safetensors import safe_open

        with safe_open(self.tensor_name_to_file[name], framework="pt", device="cpu") as f:
            part = f.get_slice(name)
            return torch.stack([part[e] for e in self.ids])


def load_lazy_experts(path, dtype):
    """Transformer.from_checkpoint's steps on one process (its sharding is then the identity),
    except that the expert weights become LazyExperts instead of being decoded at load."""
    import torch
    from gpt_oss.torch.model import ModelConfig, Transformer
    from gpt_oss.torch.weights import PARAM_NAME_MAP, Checkpoint

    with open(os.path.join(path, "config.json")) as f:
        config = ModelConfig(**json.load(f))
    model = Transformer(config=config, device=torch.device("cpu"))  # experts: never touched
    model.eval()
    checkpoint = Checkpoint(path, torch.device("cpu"))
    for block in model.block:
        mlp = block.mlp
        for attr in ("mlp1_weight", "mlp2_weight"):
            name = f"block.{block.layer_idx}.mlp.{attr}"
            shape = tuple(getattr(mlp, attr).shape)
            del mlp._parameters[attr]
            setattr(mlp, attr, LazyExperts(checkpoint, *PARAM_NAME_MAP[name], shape, dtype))
    for name, param in model.named_parameters():
        param.data.copy_(checkpoint.get(name))
    return model


def chunk_attention(chunk):
    """Makes the reference's AttentionBlock evaluate sdpa on slices of `chunk` queries."""
    from gpt_oss.torch import model as ref

    whole = ref.sdpa

    def sdpa(Q, K, V, S, sm_scale, sliding_window=0):
        import torch

        if Q.shape[0] <= chunk:
            return whole(Q, K, V, S, sm_scale, sliding_window)
        return torch.cat([sdpa_rows(Q, K, V, S, sm_scale, sliding_window, a, min(a + chunk, Q.shape[0]))
                          for a in range(0, Q.shape[0], chunk)])

    ref.sdpa = sdpa


def sdpa_rows(Q, K, V, S, sm_scale, sliding_window, a, b):
    """Rows a..b-1 of gpt_oss.torch.model.sdpa(Q, K, V, S, sm_scale, sliding_window): its
    operations on those queries and the keys k0..b-1 they can see (the later keys are masked
    for all of them, the earlier ones by the sliding window)."""
    import torch

    n_heads, q_mult = Q.shape[1], Q.shape[2]
    k0 = max(0, a - sliding_window + 1) if sliding_window > 0 else 0
    k = K[k0:b, :, None, :].expand(-1, -1, q_mult, -1)
    v = V[k0:b, :, None, :].expand(-1, -1, q_mult, -1)
    s = S.reshape(n_heads, q_mult, 1, 1).expand(-1, -1, b - a, -1)
    i = torch.arange(a, b)[:, None]
    j = torch.arange(k0, b)[None, :]
    hidden = j > i
    if sliding_window > 0:
        hidden |= j <= i - sliding_window
    mask = Q.new_zeros((b - a, b - k0)).masked_fill(hidden, -float("inf"))
    QK = torch.einsum("qhmd,khmd->hmqk", Q[a:b], k)
    QK *= sm_scale
    QK += mask[None, None, :, :]
    QK = torch.cat([QK, s], dim=-1)
    W = torch.softmax(QK, dim=-1)[..., :-1]
    return torch.einsum("hmqk,khmd->qhmd", W, v).reshape(b - a, -1)


class Recorder:
    """name -> list of tensors (one per call; the MLP may be called on token slices)."""

    def __init__(self):
        self.parts = {}

    def put(self, name, tensor):
        self.parts.setdefault(name, []).append(tensor.detach().clone())

    def stages(self):
        import torch

        return {n: torch.cat(p, dim=0) for n, p in self.parts.items()}


def attention_stages(rec, i, attn, x, out):
    """q/k/v from the qkv module's output, split as AttentionBlock.forward does; recomposes
    the attention output with the reference's rope + sdpa + out and checks it."""
    from gpt_oss.torch.model import sdpa

    nh, nkv, d = attn.num_attention_heads, attn.num_key_value_heads, attn.head_dim
    t = attn.norm.forward(x)
    qkv = attn.qkv.forward(t)
    q = qkv[:, : nh * d].contiguous().view(-1, nkv, nh // nkv, d)
    k = qkv[:, nh * d: (nh + nkv) * d].contiguous().view(-1, nkv, d)
    v = qkv[:, (nh + nkv) * d: (nh + 2 * nkv) * d].contiguous().view(-1, nkv, d)
    rec.put(f"block{i}.attn_q", q)
    rec.put(f"block{i}.attn_k", k)
    rec.put(f"block{i}.attn_v", v)
    qr, kr = attn.rope.forward(q, k)
    o = sdpa(qr, kr, v, attn.sinks, attn.sm_scale, attn.sliding_window)
    refdump.check_close(f"block{i}.attn", x + attn.out.forward(o), out)


def mlp_stages(rec, i, mlp, x, out):
    """The MoE internals recomputed from MLPBlock's parameters as MLPBlock.forward computes
    them (its topk, softmax, gathers, einsums and the reference's swiglu); the recomposed
    output is checked against the module's."""
    import torch
    from gpt_oss.torch.model import swiglu

    t = mlp.norm.forward(x)
    g = mlp.gate.forward(t)
    experts = torch.topk(g, k=mlp.experts_per_token, dim=-1, sorted=True)
    weights = torch.nn.functional.softmax(experts.values, dim=1)
    idx = experts.indices
    pre = torch.einsum("beck,bk->bec", mlp.mlp1_weight[idx, ...], t) + mlp.mlp1_bias[idx, ...]
    act = swiglu(pre, limit=mlp.swiglu_limit)
    y = torch.einsum("beck,bek->bec", mlp.mlp2_weight[idx, ...], act)
    y += mlp.mlp2_bias[idx, ...]
    fused = torch.einsum("bec,be->bc", y, weights)
    refdump.check_close(f"block{i}.mlp", x + fused, out)
    dense = torch.zeros_like(g).scatter(1, idx, weights)
    for name, value in [("mlp_expert_indices", idx), ("mlp_expert_weights", weights),
                        ("mlp_dense_gate_weights", dense), ("mlp_prelinear_outputs", pre),
                        ("mlp_activated_outputs", act), ("mlp_expert_outputs", y),
                        ("mlp_fused", fused)]:
        rec.put(f"block{i}.{name}", value)


def token_slices(mlp, n_tokens, max_bytes):
    """Slices of tokens for which the gathered expert weights stay under max_bytes."""
    e1, e2 = mlp.mlp1_weight.shape, mlp.mlp2_weight.shape
    per_token = mlp.experts_per_token * mlp.mlp1_weight.element_size() * (e1[1] * e1[2] + e2[1] * e2[2])
    n = max(1, max_bytes // per_token)
    return [slice(s, min(s + n, n_tokens)) for s in range(0, n_tokens, n)]


def chunk_mlp(rec, i, mlp, max_bytes):
    """Calls the MLP module's own forward on slices of tokens (every op in it is per token),
    and takes its internal stages on the same slices (unless rec is None)."""
    import torch

    forward = mlp.forward

    def sliced(x):
        outs = []
        for s in token_slices(mlp, x.shape[0], max_bytes):
            out = forward(x[s])
            if rec is not None:
                mlp_stages(rec, i, mlp, x[s], out)
            outs.append(out)
        return torch.cat(outs, dim=0)

    mlp.forward = sliced


def install_hooks(model, rec):
    def output_of(name):
        return lambda mod, inp, out: rec.put(name, out)

    for i, block in enumerate(model.block):
        block.register_forward_pre_hook(lambda mod, inp, i=i: rec.put(f"block{i}.input", inp[0]))
        block.register_forward_hook(output_of(f"block{i}.output"))
        a, m = block.attn, block.mlp
        a.norm.register_forward_hook(output_of(f"block{i}.attn_normed"))
        a.out.register_forward_hook(output_of(f"block{i}.attn_projected"))
        a.register_forward_hook(output_of(f"block{i}.post_attention"))
        a.register_forward_hook(lambda mod, inp, out, i=i: attention_stages(rec, i, mod, inp[0], out))
        m.norm.register_forward_hook(output_of(f"block{i}.mlp_normed"))
        m.gate.register_forward_hook(output_of(f"block{i}.mlp_gate_logits"))
    model.norm.register_forward_hook(output_of("final_normed"))
    model.unembedding.register_forward_hook(output_of("logits"))


def main():
    args = refdump.parse_args("Dump the stages of the official torch reference (fp32, CPU).",
                              extra_options)
    try:
        import torch
        import gpt_oss.torch.model  # noqa: F401
    except ImportError as e:
        refdump.fail(f"ref_torch: the reference is not installed: {e}")
    model, n_layers, lazy = load_reference(args)
    refdump.note(args, f"ref_torch: loaded {n_layers} blocks in {args.precision}"
                       f"{' (experts decoded per MLP call)' if lazy else ''}")
    vocab = model.embedding.weight.shape[0]
    bad = [t for t in args.tokens if not 0 <= t < vocab]
    if bad:
        refdump.fail(f"--tokens: id {bad[0]} out of range 0..{vocab - 1}")
    if args.attention_chunk > 0:
        chunk_attention(args.attention_chunk)
    rec = Recorder()
    install_hooks(model, rec)
    for i, block in enumerate(model.block):
        chunk_mlp(rec, i, block.mlp, args.mlp_chunk_mb << 20)
    with torch.inference_mode():
        logits = model(torch.tensor(args.tokens, dtype=torch.int64))
    stages = rec.stages()
    refdump.check_close("logits", stages["logits"], logits, rel=0.0)
    refdump.write(args, stages, metadata={"reference": f"gpt_oss.torch {args.precision}",
                                          "layers": str(n_layers)})
    refdump.note(args, f"ref_torch: wrote {len(stages)} stages to {args.out}; self-checks: "
                       f"recomposed outputs within {refdump.self_check_worst[0]:.3g} (relative)")


if __name__ == "__main__":
    main()
