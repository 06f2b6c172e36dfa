#!/usr/bin/env python3
"""Reference adapter: runs an exported ONNX graph with ONNX Runtime (CPU) and writes a
stage dump (docs/stages.md).

    python python/ref_onnx.py --checkpoint DIR --tokens 1,2,3 [--n-valid N]
        [--max-layers N] --out FILE.safetensors --onnx MODEL.onnx [--threads N]

The graph (from `gptoss export-onnx`) has a static sequence length S. Fewer tokens than S
are padded with id 0 at the end; the graph is causal, so the padding cannot change the
positions before it, and every output is cut back to the tokens given. The dump holds
`tokens`, `n_valid`, `logits` and every other output of the graph (hidden states, stage
tensors) under its own name, which the exporter already spells as docs/stages.md does.
--checkpoint is accepted for a uniform command line; the weights come from the graph.
"""
import argparse
import os
import sys

import numpy as np


def fail(msg):
    print(f"ref_onnx: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint folder (unused: weights are in the graph)")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--n-valid", type=int, help="real (unpadded) tokens, a prefix of --tokens")
    ap.add_argument("--max-layers", type=int, help="must match the blocks the graph was exported with")
    ap.add_argument("--out", required=True, help="the safetensors dump to write")
    ap.add_argument("--onnx", required=True, help="the exported .onnx file")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = default)")
    args = ap.parse_args()

    try:
        tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    except ValueError:
        fail(f"--tokens {args.tokens!r}: not a comma-separated list of integers")
    if not tokens:
        fail("--tokens: empty")
    n_valid = args.n_valid if args.n_valid is not None else len(tokens)
    if not 0 < n_valid <= len(tokens):
        fail(f"--n-valid {n_valid}: must be in 1..{len(tokens)}")
    if not os.path.isfile(args.onnx):
        fail(f"{args.onnx}: no such file")

    import onnx
    import onnxruntime as ort
    from safetensors.numpy import save_file

    meta = {p.key: p.value for p in onnx.load(args.onnx, load_external_data=False).metadata_props}
    layers = meta.get("gptoss.num_layers")
    if args.max_layers is not None and layers is not None and int(layers) != args.max_layers:
        fail(f"{args.onnx}: exported with {layers} blocks, but --max-layers {args.max_layers} was asked")

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if args.threads:
        so.intra_op_num_threads = args.threads
    try:
        sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types
        fail(f"{args.onnx}: ONNX Runtime cannot load it: {str(e).splitlines()[0]}")
    inp = sess.get_inputs()[0]
    S = inp.shape[0]
    if not isinstance(S, int):
        S = len(tokens)
    if len(tokens) > S:
        fail(f"{args.onnx}: the graph takes {S} tokens, {len(tokens)} were given (export with --sequence-length)")
    ids = np.zeros(S, dtype=np.int64)
    ids[: len(tokens)] = tokens
    outs = sess.run(None, {inp.name: ids})

    dump = {
        "tokens": np.array(tokens, dtype=np.int64),
        "n_valid": np.array([n_valid], dtype=np.int64),
    }
    for o, v in zip(sess.get_outputs(), outs):
        dump[o.name] = np.ascontiguousarray(v[: len(tokens)])
    tmp = f"{args.out}.tmp.{os.getpid()}"
    try:
        save_file(dump, tmp, metadata={"adapter": "onnx", "onnx": os.path.basename(args.onnx)})
        os.replace(tmp, args.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        fail(f"{args.out}: cannot write: {e.strerror}")


if __name__ == "__main__":
    main()
