#!/usr/bin/env python3
"""ref_hf: Hugging Face transformers' GptOssForCausalLM, run in fp32 on CPU with eager
attention and eager experts, dumping every stage of docs/stages.md.

    python python/ref_hf.py --checkpoint DIR --tokens 1,2,3 [--n-valid N]
        [--max-layers N] --out FILE.safetensors [--precision fp32|fp64] [--verbose]

DIR is a checkpoint in the Hugging Face layout (config.json with HF names, model*.safetensors
[+ index]). Loaded offline (local files only), MXFP4 experts dequantized by transformers'
own Mxfp4 loader straight into fp32 parameters (exact), with --max-layers N through a
config that declares N layers (the other layers' tensors are not loaded).

Stages come from module outputs through hooks where HF has a module boundary (norms,
q/k/v/o projections, router, experts, decoder layers, final norm, lm_head); post_attention
is the input of post_attention_layernorm. The expert internals (prelinear, activated,
per-expert outputs) have no boundary: they are recomputed per selected expert from the
experts module's own parameters with its own _apply_gate, and their weighted sum is checked
against the experts module's real output.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refdump  # noqa: E402


def load_model(args):
    import torch
    import transformers
    from transformers import AutoConfig, GptOssForCausalLM, Mxfp4Config

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        cfg = AutoConfig.from_pretrained(args.checkpoint, local_files_only=True)
    except Exception as e:
        refdump.fail(f"{args.checkpoint}: not a Hugging Face GPT-OSS checkpoint: {e}")
    if getattr(cfg, "model_type", None) != "gpt_oss":
        refdump.fail(f"{args.checkpoint}/config.json: model_type is not gpt_oss")
    n_layers = cfg.num_hidden_layers
    if args.max_layers:
        n_layers = min(n_layers, args.max_layers)
    cfg.num_hidden_layers = n_layers
    cfg.layer_types = list(cfg.layer_types)[:n_layers]
    dtype = torch.float64 if args.precision == "fp64" else torch.float32
    options = dict(config=cfg, dtype=dtype, attn_implementation="eager",
                   experts_implementation="eager", local_files_only=True)
    if getattr(cfg, "quantization_config", None):
        options["quantization_config"] = Mxfp4Config(dequantize=True)
    try:
        model = GptOssForCausalLM.from_pretrained(args.checkpoint, **options)
    except Exception as e:
        refdump.fail(f"{args.checkpoint}: transformers could not load it: {type(e).__name__}: {e}")
    model = model.to(dtype)  # also the modules transformers keeps in fp32 by default
    model.eval()
    for name, p in model.named_parameters():
        if p.dtype != dtype:
            refdump.fail(f"{args.checkpoint}: parameter {name} loaded as {p.dtype}, not {dtype}")
    if model.config._attn_implementation != "eager":
        refdump.fail("ref_hf: transformers did not select eager attention")
    return model, n_layers


def expert_stages(rec, i, experts, h, indices, weights, out):
    """Per selected expert e of each token: gate_up = h @ gate_up_proj[e] + bias[e] (HF stores
    the weights transposed, [E, in, out]), the module's own _apply_gate, then down_proj."""
    w1 = experts.gate_up_proj[indices]                 # [T, k, H, 2I]
    pre = (h[:, None, None, :] @ w1).squeeze(2) + experts.gate_up_proj_bias[indices]
    act = experts._apply_gate(pre)
    y = (act[:, :, None, :] @ experts.down_proj[indices]).squeeze(2) + experts.down_proj_bias[indices]
    fused = (y * weights[:, :, None]).sum(dim=1)
    # The module accumulates expert by expert (index_add_) while this sums over k per token:
    # the same terms in another order, so fp32 rounding (a few ulps of the largest term).
    refdump.check_close(f"layer{i}.experts", fused, out, rel=1e-5)
    rec.update({f"block{i}.mlp_prelinear_outputs": pre, f"block{i}.mlp_activated_outputs": act,
                f"block{i}.mlp_expert_outputs": y})


def install_hooks(model, rec):
    import torch

    def output_of(name, index=None):
        def hook(mod, inp, out):
            rec[name] = (out[index] if index is not None else out)[0] if out is not None else None
        return hook

    def output_2d(name):  # modules called on [1, T, ...]
        return lambda mod, inp, out: rec.__setitem__(name, out[0])

    cfg = model.config
    nh, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    d = cfg.head_dim
    for i, layer in enumerate(model.model.layers):
        p = f"block{i}."
        layer.register_forward_pre_hook(lambda mod, args, kwargs, p=p: rec.__setitem__(p + "input", args[0][0] if args else kwargs["hidden_states"][0]), with_kwargs=True)
        layer.register_forward_hook(output_2d(p + "output"))
        layer.input_layernorm.register_forward_hook(output_2d(p + "attn_normed"))
        a = layer.self_attn
        a.q_proj.register_forward_hook(lambda m, i_, o, p=p: rec.__setitem__(p + "attn_q", o[0].reshape(-1, nkv, nh // nkv, d)))
        a.k_proj.register_forward_hook(lambda m, i_, o, p=p: rec.__setitem__(p + "attn_k", o[0].reshape(-1, nkv, d)))
        a.v_proj.register_forward_hook(lambda m, i_, o, p=p: rec.__setitem__(p + "attn_v", o[0].reshape(-1, nkv, d)))
        a.o_proj.register_forward_hook(output_2d(p + "attn_projected"))
        ln2 = layer.post_attention_layernorm
        ln2.register_forward_pre_hook(lambda m, args, p=p: rec.__setitem__(p + "post_attention", args[0][0]))
        ln2.register_forward_hook(output_2d(p + "mlp_normed"))

        def router_hook(m, args, out, p=p):
            logits, scores, indices = out
            rec[p + "mlp_gate_logits"] = logits
            rec[p + "mlp_expert_indices"] = indices
            rec[p + "mlp_expert_weights"] = scores
            rec[p + "mlp_dense_gate_weights"] = torch.zeros_like(logits).scatter(1, indices, scores)

        layer.mlp.router.register_forward_hook(router_hook)

        def experts_hook(m, args, kwargs, out, i=i, p=p):
            h = args[0]
            indices = args[1] if len(args) > 1 else kwargs["router_indices"]
            weights = args[2] if len(args) > 2 else kwargs["routing_weights"]
            rec[p + "mlp_fused"] = out
            expert_stages(rec, i, m, h, indices, weights, out)

        layer.mlp.experts.register_forward_hook(experts_hook, with_kwargs=True)
    model.model.norm.register_forward_hook(output_2d("final_normed"))
    model.lm_head.register_forward_hook(output_2d("logits"))


def extra_options(p):
    p.add_argument("--precision", choices=("fp32", "fp64"), default="fp32",
                   help="fp32, or fp64: the same model in float64 (a yardstick for fp32 "
                        "rounding; HF's RMSNorm still normalises in float32 internally)")


def main():
    args = refdump.parse_args("Dump the stages of Hugging Face transformers' GptOss (fp32, eager).",
                              extra_options)
    try:
        import torch
    except ImportError as e:
        refdump.fail(f"ref_hf: torch is not installed: {e}")
    model, n_layers = load_model(args)
    refdump.note(args, f"ref_hf: loaded {n_layers} layers in {args.precision}")
    vocab = model.config.vocab_size
    bad = [t for t in args.tokens if not 0 <= t < vocab]
    if bad:
        refdump.fail(f"--tokens: id {bad[0]} out of range 0..{vocab - 1}")
    rec = {}
    install_hooks(model, rec)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([args.tokens], dtype=torch.int64), use_cache=False)
    refdump.check_close("logits", rec["logits"], out.logits[0], rel=0.0)
    refdump.write(args, rec, metadata={"reference": f"transformers GptOssForCausalLM {args.precision} eager",
                                       "layers": str(n_layers)})
    refdump.note(args, f"ref_hf: wrote {len(rec)} stages to {args.out}; self-checks: recomposed "
                       f"outputs within {refdump.self_check_worst[0]:.3g} (relative)")


if __name__ == "__main__":
    main()
