"""Measures exported ONNX graphs side by side: file size, node count, unused initializers,
ONNX Runtime session load time and latency, and how far their logits are apart.

    python bench/onnx_stats.py --tokens 1,2,3 [--runs N] [--json FILE] NAME=MODEL.onnx ...

Node counts: `top` is the main graph's nodes; `inlined` is what ONNX Runtime executes once
local functions (jax2onnx emits one per Flax module) are expanded, counted recursively,
subgraphs included. An unused initializer is one of the main graph's initializers that no
node reads; jax2onnx stores weights as Constant nodes inside its functions instead, so the
Constant nodes whose value nothing reads are counted too. Latency: median of --runs runs of the whole sequence after one
warm-up run, ONNX Runtime CPU provider, default threads.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def files_of(path):
    """The .onnx file and every external-data file it names."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    names = set()
    for t in all_initializers(model.graph):
        for entry in t.external_data:
            if entry.key == "location":
                names.add(entry.value)
    folder = os.path.dirname(os.path.abspath(path))
    return model, [path] + [os.path.join(folder, n) for n in sorted(names)]


def all_initializers(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.g.node or attr.g.initializer:
                yield from all_initializers(attr.g)


def walk(nodes, outputs, functions, acc, stack=()):
    """Counts, as ONNX Runtime runs it (local functions expanded at every call), the
    nodes, the Constant nodes, and the Constant nodes whose value nothing reads."""
    consumed = set(outputs)
    for node in nodes:
        consumed.update(node.input)
        for attr in node.attribute:  # subgraphs may read outer names
            for sub in attr.g.node:
                consumed.update(sub.input)
    for node in nodes:
        key = (node.domain, node.op_type)
        if key in functions and key not in stack:
            fn = functions[key]
            walk(fn.node, fn.output, functions, acc, stack + (key,))
            continue
        acc["nodes"] += 1
        if node.op_type == "Constant":
            acc["constants"] += 1
            if not any(o in consumed for o in node.output):
                acc["unused_constants"] += 1
        for attr in node.attribute:
            if attr.g.node:
                walk(attr.g.node, [o.name for o in attr.g.output], functions, acc, stack)
    return acc


def graph_stats(path):
    model, files = files_of(path)
    functions = {(f.domain, f.name): f for f in model.functions}
    outputs = [o.name for o in model.graph.output]
    acc = walk(model.graph.node, outputs, functions,
               {"nodes": 0, "constants": 0, "unused_constants": 0})
    read = set(outputs)
    for node in model.graph.node:
        read.update(node.input)
    inits = list(model.graph.initializer)
    unused = [t.name for t in inits if t.name not in read]
    return {
        "bytes": sum(os.path.getsize(f) for f in files),
        "files": len(files),
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0),
        "nodes_top": len(model.graph.node),
        "nodes_inlined": acc["nodes"],
        "constant_nodes": acc["constants"],
        "unused_constants": acc["unused_constants"],
        "functions": len(model.functions),
        "initializers": len(inits),
        "unused_initializers": len(unused),
        "unused_examples": unused[:5],
    }


def ort_run(path, tokens, runs):
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    t0 = time.perf_counter()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    inp = sess.get_inputs()[0]
    dtype = np.int32 if inp.type == "tensor(int32)" else np.int64
    seq = inp.shape[0] if isinstance(inp.shape[0], int) else len(tokens)
    ids = np.zeros(seq, dtype=dtype)
    ids[: len(tokens)] = tokens[:seq]
    out_name = "logits" if "logits" in [o.name for o in sess.get_outputs()] else sess.get_outputs()[0].name
    logits = sess.run([out_name], {inp.name: ids})[0]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run([out_name], {inp.name: ids})
        times.append(time.perf_counter() - t0)
    del sess
    return load_s, statistics.median(times), np.asarray(logits)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("graphs", nargs="+", help="NAME=MODEL.onnx")
    args = ap.parse_args()
    tokens = [int(t) for t in args.tokens.split(",")]
    results, logits = {}, {}
    for spec in args.graphs:
        name, _, path = spec.partition("=")
        if not os.path.isfile(path):
            print(f"onnx_stats: {path}: no such file", file=sys.stderr)
            return 1
        r = graph_stats(path)
        r["ort_load_s"], r["ort_latency_s"], lg = ort_run(path, tokens, args.runs)
        logits[name] = lg[: len(tokens)]
        results[name] = r
    names = list(results)
    if len(names) >= 2:
        a, b = logits[names[0]], logits[names[1]]
        results["logits_max_abs_diff"] = float(np.max(np.abs(a.astype(np.float64) - b))) if a.shape == b.shape else None
    rows = [("file size (MB)", lambda r: f"{r['bytes'] / 1e6:.1f}"),
            ("opset", lambda r: str(r["opset"])),
            ("nodes (main graph)", lambda r: str(r["nodes_top"])),
            ("nodes (functions inlined)", lambda r: str(r["nodes_inlined"])),
            ("of which Constant nodes", lambda r: str(r["constant_nodes"])),
            ("local functions", lambda r: str(r["functions"])),
            ("initializers", lambda r: str(r["initializers"])),
            ("unused initializers", lambda r: str(r["unused_initializers"])),
            ("unused Constant nodes", lambda r: str(r["unused_constants"])),
            ("ORT session load (s)", lambda r: f"{r['ort_load_s']:.2f}"),
            (f"ORT latency, median of {args.runs} (ms)", lambda r: f"{r['ort_latency_s'] * 1e3:.1f}")]
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, fmt in rows:
        print(f"| {label} | " + " | ".join(fmt(results[n]) for n in names) + " |")
    if "logits_max_abs_diff" in results:
        print(f"\nlogits max |diff| between {names[0]} and {names[1]} over {len(tokens)} tokens: "
              f"{results['logits_max_abs_diff']}")
    if args.json:
        tmp = f"{args.json}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
