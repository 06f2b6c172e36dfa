"""Structural checks of an exported ONNX file (used by tests/test_onnx_*.sh).

    python tests/onnx_check.py MODEL.onnx [--outputs N] [--layers N] [--run]
        [--torch CKPT --tolerance X]

Fails (exit 1, one line per problem) unless:
- onnx.checker.check_model(path, full_check=True) accepts it;
- producer name and version are set; every node has a unique, readable name ("/...");
- every initializer is read by some node (no unused initializers) and every node's output
  is read by a node or is a graph output (no dead nodes);
- external tensors carry only location/offset/length, 4096-aligned offsets, lengths equal
  to their byte size, all in the one data file beside the model, inside its size;
- with --run, ONNX Runtime's CPU provider runs it and logits are finite [S, vocab];
- with --torch, logits agree with the official torch reference in fp32 at every position.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--outputs", type=int, help="expected number of graph outputs")
    ap.add_argument("--layers", type=int, help="expected gptoss.num_layers")
    ap.add_argument("--run", action="store_true")
    ap.add_argument("--torch", help="checkpoint folder for the torch reference")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()
    problems = []

    onnx.checker.check_model(args.model, full_check=True)
    m = onnx.load(args.model, load_external_data=False)
    g = m.graph
    if m.producer_name != "gptoss" or not m.producer_version:
        problems.append(f"producer not set: {m.producer_name!r} {m.producer_version!r}")
    names = [n.name for n in g.node]
    if len(set(names)) != len(names) or not all(n.startswith("/") for n in names):
        problems.append("node names not unique and readable")
    consumed = {i for n in g.node for i in n.input if i}
    outputs = {o.name for o in g.output}
    unused = [t.name for t in g.initializer if t.name not in consumed]
    if unused:
        problems.append(f"{len(unused)} unused initializers, e.g. {unused[:3]}")
    dead = [n.name for n in g.node if not any(o in consumed or o in outputs for o in n.output)]
    if dead:
        problems.append(f"{len(dead)} dead nodes, e.g. {dead[:3]}")
    if args.outputs is not None and len(g.output) != args.outputs:
        problems.append(f"{len(g.output)} outputs, expected {args.outputs}")
    meta = {p.key: p.value for p in m.metadata_props}
    if args.layers is not None and meta.get("gptoss.num_layers") != str(args.layers):
        problems.append(f"gptoss.num_layers {meta.get('gptoss.num_layers')}, expected {args.layers}")

    folder = os.path.dirname(os.path.abspath(args.model))
    # the exporter alternates between two names so that re-exporting replaces the pair at
    # once (src/onnx/data_file.h); every tensor must use the same one
    base = os.path.basename(args.model)
    data_name = next((e.value for t in g.initializer for e in t.external_data if e.key == "location"),
                     base + ".data")
    if data_name not in (base + ".data", base + ".2.data"):
        problems.append(f"data file {data_name!r}, expected {base + '.data'!r} or {base + '.2.data'!r}")
    n_ext = 0
    for t in g.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        n_ext += 1
        kv = {e.key: e.value for e in t.external_data}
        if set(kv) != {"location", "offset", "length"}:
            problems.append(f"{t.name}: external keys {sorted(kv)}")
            continue
        off, length = int(kv["offset"]), int(kv["length"])
        nbytes = int(np.prod(t.dims, dtype=np.int64)) * np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        if kv["location"] != data_name:
            problems.append(f"{t.name}: location {kv['location']!r}, expected {data_name!r}")
        if off % 4096:
            problems.append(f"{t.name}: offset {off} not 4096-aligned")
        if length != nbytes:
            problems.append(f"{t.name}: length {length} != {nbytes} bytes")
        if off + length > os.path.getsize(os.path.join(folder, data_name)):
            problems.append(f"{t.name}: past the end of the data file")

    logits = None
    if args.run or args.torch:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
        S = sess.get_inputs()[0].shape[0]
        vocab = next(o for o in sess.get_outputs() if o.name == "logits").shape[1]
        ids = np.random.RandomState(0).randint(0, vocab, size=S).astype(np.int64)
        logits = sess.run(["logits"], {"input_ids": ids})[0]
        if logits.shape != (S, vocab) or not np.isfinite(logits).all():
            problems.append(f"logits {logits.shape} not finite [S, vocab]")
    if args.torch:
        import torch
        from gpt_oss.torch.model import Transformer

        model = Transformer.from_checkpoint(args.torch, device="cpu").to(torch.float32)
        layers = int(meta["gptoss.num_layers"])
        model.block = model.block[:layers]
        with torch.no_grad():
            ref = model(torch.tensor(ids)).numpy()
        diff = float(np.abs(ref - logits).max())
        print(f"logits vs torch fp32: max |diff| {diff:.3e} over {S} positions (scale {np.abs(ref).max():.2f})")
        if diff > args.tolerance:
            problems.append(f"logits differ from torch by {diff:.3e} > {args.tolerance}")

    print(f"{args.model}: {len(g.node)} nodes, {len(g.initializer)} initializers ({n_ext} external), "
          f"{len(g.output)} outputs, opset {m.opset_import[0].version}, IR {m.ir_version}")
    for p in problems:
        print(f"FAIL: {args.model}: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
