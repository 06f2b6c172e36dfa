"""Exports the Flax GPT-OSS (jax2onnx's own example model) loaded with our checkpoint to ONNX
with jax2onnx, the way the baseline report's system did.

    python bench/jax2onnx_export.py --checkpoint DIR -o OUT.onnx [--max-layers N]
        [--sequence-length S] [--opset N]

Prints one line `jax2onnx_export: load L s, export E s` (wall seconds of each phase).
The weights are loaded by python/ref_flax.py (fp32; MXFP4 experts as exact bf16), so the
graph holds the same numbers the Flax reference runs on.
"""
import argparse
import faulthandler
import os
import shutil
import signal
import sys
import tempfile
import time


def phase(what):
    print(f"phase: {what}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--max-layers", type=int, default=0)
    ap.add_argument("--sequence-length", type=int, default=32)
    ap.add_argument("--opset", type=int, default=23)
    args = ap.parse_args()

    # bench/watchdog.py sends SIGUSR1 before stopping a run that outgrew its memory limit:
    # print every thread's stack, so the report can say where the export was.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "python"))
    import jax
    import jax.numpy as jnp
    import ref_flax
    from jax2onnx import to_onnx
    from jax2onnx.plugins.examples.nnx import gpt_oss_flax as gof

    t0 = time.time()
    phase("loading the checkpoint into the Flax model")
    cfg = ref_flax.read_config(args.checkpoint, args.max_layers)
    ck = ref_flax.Checkpoint(args.checkpoint)
    model = ref_flax.build_model(gof, cfg, args.sequence_length, "flax")
    ref_flax.load_weights(model, ck, cfg["num_hidden_layers"])
    t1 = time.time()
    phase("jax2onnx: tracing, converting and writing the graph")
    # Written into a temporary folder under the final file name (an external-data sidecar
    # is referenced by name from inside the graph), then every file is moved into place.
    out_dir = os.path.dirname(os.path.abspath(args.output))
    tmp_dir = tempfile.mkdtemp(prefix=".jax2onnx.", dir=out_dir)
    try:
        to_onnx(model, inputs=[jax.ShapeDtypeStruct((args.sequence_length,), jnp.int32)],
                model_name="gpt_oss_flax", opset=args.opset, return_mode="file",
                output_path=os.path.join(tmp_dir, os.path.basename(args.output)),
                input_names=["input_ids"], output_names=["logits"])
        for name in sorted(os.listdir(tmp_dir), key=lambda n: n.endswith(".onnx")):
            os.replace(os.path.join(tmp_dir, name), os.path.join(out_dir, name))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    t2 = time.time()
    print(f"jax2onnx_export: load {t1 - t0:.1f} s, export {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
