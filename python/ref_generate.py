#!/usr/bin/env python3
"""ref_generate: greedy continuations from a reference, as JSON, to judge
`gptoss generate --temperature 0`.

    python python/ref_generate.py --against torch|hf --checkpoint DIR --tokens IDS -n N
        [--max-layers N] [--precision fp32|fp64] [--out FILE.json] [--verbose]

prints {"reference": ..., "prompt_tokens": [...], "tokens": [the N generated ids],
"margins": [top-1 minus top-2 logit at each step]}.

- torch: the official gpt_oss.torch model, loaded and upcast by python/ref_torch.py's own
  loader (its --mlp-chunk-mb and --experts options apply), with no KV cache: every step
  runs the whole sequence and takes the argmax of the last position's logits (ties to the
  lower id, as torch.argmax); the original layout.
- hf: transformers' GptOssForCausalLM loaded by python/ref_hf.py (fp32, eager attention
  and experts), its own generate(do_sample=False) with its own KV cache, no stop token;
  the margins come from the raw logits generate returns (output_logits). The HF layout.

A margin tells how decisive a step is: where two implementations differ, a margin near the
fp32 rounding of the logits (~1e-5) is a near-tie, anything larger a real difference.
Errors: one line on stderr, exit 1 (2 for usage errors).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refdump  # noqa: E402


def parse_args(argv=None):
    p = refdump._Parser(description="Greedy continuation from a reference, as JSON.")
    p.add_argument("--against", required=True, choices=("torch", "hf"), help="the reference")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (torch: original "
                   "layout; hf: Hugging Face layout)")
    p.add_argument("--tokens", required=True, type=refdump._token_list, help="prompt ids, comma-separated")
    p.add_argument("-n", type=int, required=True, help="tokens to generate")
    p.add_argument("--max-layers", type=int, default=0, help="run only the first N blocks")
    p.add_argument("--precision", choices=("fp32", "fp64"), default="fp32")
    p.add_argument("--mlp-chunk-mb", type=int, default=1024, help="torch: see ref_torch.py")
    p.add_argument("--experts", choices=("auto", "eager", "lazy"), default="auto",
                   help="torch: see ref_torch.py")
    p.add_argument("--out", help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--verbose", action="store_true", help="progress on stderr")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error(f"-n {args.n}: must be >= 1")
    if args.max_layers < 0:
        p.error(f"--max-layers {args.max_layers}: must be >= 0")
    if not os.path.isdir(args.checkpoint):
        refdump.fail(f"{args.checkpoint}: not a folder")
    return args


def top2_margin(logits):
    """(argmax, top-1 minus top-2) of a 1-D logits tensor."""
    import torch

    v = torch.topk(logits, 2).values
    return int(torch.argmax(logits)), float(v[0] - v[1])


def generate_torch(args):
    """Full recompute: the whole sequence through the model at every step."""
    import torch
    import ref_torch

    model, n_layers, _ = ref_torch.load_reference(args)
    for i, block in enumerate(model.block):
        ref_torch.chunk_mlp(None, i, block.mlp, args.mlp_chunk_mb << 20)
    check_ids(args, model.embedding.weight.shape[0])
    seq, out, margins = list(args.tokens), [], []
    with torch.inference_mode():
        for step in range(args.n):
            logits = model(torch.tensor(seq, dtype=torch.int64))[-1]
            tok, margin = top2_margin(logits)
            seq.append(tok)
            out.append(tok)
            margins.append(margin)
            refdump.note(args, f"ref_generate: step {step}: {tok} (margin {margin:.3g})")
    return out, margins, f"gpt_oss.torch {args.precision}, full recompute, {n_layers} blocks"


def generate_hf(args):
    """transformers' own greedy generate with its KV cache."""
    import torch
    import ref_hf

    model, n_layers = ref_hf.load_model(args)
    check_ids(args, model.config.vocab_size)
    model.generation_config.eos_token_id = None  # generate exactly n tokens
    model.generation_config.pad_token_id = 0
    with torch.inference_mode():
        r = model.generate(torch.tensor([args.tokens], dtype=torch.int64), do_sample=False,
                           max_new_tokens=args.n, min_new_tokens=0, use_cache=True,
                           return_dict_in_generate=True, output_logits=True,
                           temperature=None, top_p=None, top_k=None)
    out = r.sequences[0, len(args.tokens):].tolist()
    margins = []
    for step, (tok, logits) in enumerate(zip(out, r.logits)):
        best, margin = top2_margin(logits[0])
        if best != tok:
            refdump.fail(f"ref_generate: hf step {step}: generate chose {tok}, its logits' argmax is {best}")
        margins.append(margin)
    if len(out) != args.n:
        refdump.fail(f"ref_generate: hf generated {len(out)} tokens, not {args.n}")
    return out, margins, f"transformers GptOssForCausalLM {args.precision} eager, generate(do_sample=False), {n_layers} layers"


def check_ids(args, vocab):
    bad = [t for t in args.tokens if not 0 <= t < vocab]
    if bad:
        refdump.fail(f"--tokens: id {bad[0]} out of range 0..{vocab - 1}")


def write(args, result):
    text = json.dumps(result) + "\n"
    if not args.out:
        sys.stdout.write(text)
        return
    tmp = f"{args.out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        refdump.fail(f"{args.out}: cannot write: {e.strerror}")


def main():
    args = parse_args()
    try:
        import torch  # noqa: F401
    except ImportError as e:
        refdump.fail(f"ref_generate: torch is not installed: {e}")
    tokens, margins, what = (generate_torch if args.against == "torch" else generate_hf)(args)
    write(args, {"reference": what, "prompt_tokens": list(args.tokens), "tokens": tokens,
                 "margins": margins})


if __name__ == "__main__":
    main()
