#!/usr/bin/env python3
"""Reference adapter: runs a graph exported by `gptoss export-onnx` with ONNX Runtime (CPU
provider) on the token ids and writes a stage dump (docs/stages.md).

    python python/ref_onnx.py --checkpoint DIR --tokens 1,2,3 [--n-valid N]
        [--max-layers N] --out FILE.safetensors --onnx MODEL.onnx [--threads N]

The graph has a static sequence length S. Fewer tokens than S are padded with id 0 at the
end; the graph is causal, so the padding cannot change the positions before it, and every
output is cut back to the tokens given. The dump holds `logits` and every other output of
the graph (block{i}.output with --emit-hidden-states, all stages with --emit-block-debug),
which the exporter already names as docs/stages.md does. The weights come from the graph;
--checkpoint only satisfies the common command line, and --max-layers, when given, must
equal the blocks the graph was exported with.
"""
import os

import numpy as np

import refdump


def main():
    def extra(p):
        p.add_argument("--onnx", required=True, help="the exported .onnx file")
        p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = ORT's default)")

    args = refdump.parse_args("ONNX Runtime on an exported graph", extra)
    if not os.path.isfile(args.onnx):
        refdump.fail(f"{args.onnx}: no such file")

    import onnx
    import onnxruntime as ort

    meta = {p.key: p.value for p in onnx.load(args.onnx, load_external_data=False).metadata_props}
    layers = meta.get("gptoss.num_layers")
    if args.max_layers and layers is not None and int(layers) != args.max_layers:
        refdump.fail(f"{args.onnx}: exported with {layers} blocks, --max-layers {args.max_layers} asked "
                     f"(export with --max-layers {args.max_layers})")

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if args.threads:
        so.intra_op_num_threads = args.threads
    try:
        sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types
        refdump.fail(f"{args.onnx}: ONNX Runtime cannot load it: {str(e).splitlines()[0]}")
    inp = sess.get_inputs()[0]
    n = len(args.tokens)
    S = inp.shape[0] if isinstance(inp.shape[0], int) else n
    if n > S:
        refdump.fail(f"{args.onnx}: the graph takes {S} tokens, {n} given (export with --sequence-length {n})")
    ids = np.zeros(S, dtype=np.int64)
    ids[:n] = args.tokens
    refdump.note(args, f"ref_onnx: running {args.onnx} on {n} tokens (graph S={S})")
    outs = sess.run(None, {inp.name: ids})
    stages = {o.name: np.ascontiguousarray(v[:n]) for o, v in zip(sess.get_outputs(), outs)}
    refdump.write(args, stages, metadata={"adapter": "onnx", "onnx": os.path.basename(args.onnx)})


if __name__ == "__main__":
    main()
