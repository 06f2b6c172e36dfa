"""Runs one onnxruntime-genai folder for bench_ortgenai.sh: load time, prefill and decode
speed, logits against the engine's, top-1 agreement, op counts and size.

    python bench/ortgenai_run.py FOLDER --greedy N --tokens PROMPT_IDS     # prints N greedy ids
    python bench/ortgenai_run.py FOLDER --tokens PROMPT_IDS --continuation IDS
        --engine-dump FILE --json OUT

Prefill: one append_tokens of the prompt, tokens/s = its length / wall time. Decode: the
continuation is fed one token per append_tokens (each runs the model on one new token
with the KV cache, as generation does), so every model sees the same inputs; tokens/s =
tokens / wall time. Logits: the prefill's at every prompt position and each decode step's,
against the engine's logits at the same positions (one `gptoss run --dump` over the whole
sequence); top-1 agreement: the model's argmax against the next token of the
continuation (the engine's greedy choice).
"""
import argparse
import collections
import json
import os
import time

import numpy as np


def op_counts(path):
    import onnx

    m = onnx.load(path, load_external_data=False)
    return dict(collections.Counter(n.op_type for n in m.graph.node)), len(m.graph.node)


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--greedy", type=int, help="only print this many greedy ids")
    ap.add_argument("--continuation", help="ids fed one by one after the prompt")
    ap.add_argument("--engine-dump", help="engine logits over prompt + continuation")
    ap.add_argument("--json")
    args = ap.parse_args()
    import onnxruntime_genai as og

    ids = [int(x) for x in args.tokens.split(",")]
    t0 = time.perf_counter()
    model = og.Model(args.folder)
    load_s = time.perf_counter() - t0
    params = og.GeneratorParams(model)
    n = args.greedy or len(args.continuation.split(","))
    params.set_search_options(max_length=len(ids) + n, do_sample=False)
    gen = og.Generator(model, params)
    if args.greedy:
        gen.append_tokens(ids)
        out = []
        while not gen.is_done():
            gen.generate_next_token()
            out.append(int(gen.get_next_tokens()[0]))
        print(",".join(map(str, out)))
        return
    from safetensors.numpy import load_file

    cont = [int(x) for x in args.continuation.split(",")]
    ref = load_file(args.engine_dump)["logits"]
    t0 = time.perf_counter()
    gen.append_tokens(ids)
    prefill_s = time.perf_counter() - t0
    prefill = np.array(gen.get_output("logits"))[0]
    S = len(ids)
    errs = [float(np.abs(prefill - ref[:S]).max())]
    top1 = [int(np.argmax(prefill[-1])) == cont[0]]
    decode_s = 0.0
    for i, t in enumerate(cont[:-1]):
        t0 = time.perf_counter()
        gen.append_tokens([t])
        decode_s += time.perf_counter() - t0
        step = np.array(gen.get_output("logits"))[0, -1]
        errs.append(float(np.abs(step - ref[S + i]).max()))
        top1.append(int(np.argmax(step)) == cont[i + 1])
    ops, nodes = op_counts(os.path.join(args.folder, "model.onnx"))
    res = {
        "folder": args.folder, "bytes": folder_bytes(args.folder), "nodes": nodes, "ops": ops,
        "load_s": load_s, "prefill_tokens": S, "prefill_tok_s": S / prefill_s,
        "decode_tokens": len(cont) - 1, "decode_tok_s": (len(cont) - 1) / decode_s,
        "logits_max_diff_prefill": errs[0], "logits_max_diff_decode": max(errs[1:]),
        "top1_agree": sum(top1), "top1_total": len(top1),
    }
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
