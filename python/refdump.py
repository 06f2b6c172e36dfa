"""refdump: what every reference adapter (python/ref_<name>.py) shares.

An adapter runs one reference implementation on given token ids and writes the stage
tensors of docs/stages.md into one safetensors file, which `gptoss parity` and
`gptoss routing` compare with the C engine. This module holds the parts that must be the
same in all of them: the command line, the stage names and shapes, and the writer.

    args = refdump.parse_args("my reference", extra=lambda p: p.add_argument("--x"))
    ...run the reference, collect numpy arrays / torch tensors by stage name...
    refdump.write(args, stages)           # adds tokens + n_valid, checks names, writes

Errors: refdump.fail("file: problem") prints one line to stderr and exits 1; the C side
shows that line.
"""

import argparse
import os
import sys

import numpy as np

# The 17 per-block stages, in forward order (docs/stages.md).
BLOCK_STAGES = [
    "input",
    "attn_normed",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_projected",
    "post_attention",
    "mlp_normed",
    "mlp_gate_logits",
    "mlp_expert_indices",
    "mlp_expert_weights",
    "mlp_dense_gate_weights",
    "mlp_prelinear_outputs",
    "mlp_activated_outputs",
    "mlp_expert_outputs",
    "mlp_fused",
    "output",
]
INTEGER_STAGES = {"mlp_expert_indices"}


def stage_names(n_layers):
    """Every stage name of a dump for n_layers blocks, in forward order."""
    names = []
    for i in range(n_layers):
        names += [f"block{i}.{s}" for s in BLOCK_STAGES]
    return names + ["final_normed", "logits"]


def fail(message):
    """One line on stderr, exit status 1."""
    print(message.replace("\n", " "), file=sys.stderr, flush=True)
    sys.exit(1)


def note(args, message):
    """Progress on stderr with --verbose (or GPTOSS_VERBOSE=1, set by `gptoss parity -v`)."""
    if args.verbose or os.environ.get("GPTOSS_VERBOSE") == "1":
        print(message, file=sys.stderr, flush=True)


def _token_list(text):
    try:
        ids = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not ids:
        raise argparse.ArgumentTypeError("no token ids")
    return ids


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as the C commands do
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(description, extra=None, argv=None):
    """The adapter command line of docs/stages.md, plus adapter-specific options."""
    p = _Parser(description=description)
    p.add_argument("--checkpoint", required=True, help="checkpoint folder")
    p.add_argument("--tokens", required=True, type=_token_list, help="ids, comma-separated")
    p.add_argument("--n-valid", type=int, default=None,
                   help="real (unpadded) tokens, a prefix of --tokens (default: all)")
    p.add_argument("--max-layers", type=int, default=0, help="run only the first N blocks")
    p.add_argument("--out", required=True, help="safetensors dump to write")
    p.add_argument("--verbose", action="store_true", help="progress on stderr")
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    n = len(args.tokens)
    if args.n_valid is None:
        args.n_valid = n
    if not 1 <= args.n_valid <= n:
        p.error(f"--n-valid {args.n_valid}: must be in 1..{n}")
    if args.max_layers < 0:
        p.error(f"--max-layers {args.max_layers}: must be >= 0")
    if not os.path.isdir(args.checkpoint):
        fail(f"{args.checkpoint}: not a folder")
    return args


def to_numpy(x):
    """torch tensor or array -> contiguous numpy array (float32 for floats, int64 for ints)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = x.float().numpy() if x.dtype.is_floating_point else x.numpy()
    x = np.ascontiguousarray(x)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    return x.astype(np.int64, copy=False)


def write(args, stages, metadata=None):
    """Writes tokens, n_valid and the given stages (name -> array) to args.out, atomically.
    Names must be stage names of docs/stages.md; the C side reports any that are missing."""
    known = set(stage_names(1000))
    out = {}
    for name, value in stages.items():
        if name not in known:
            fail(f"{args.out}: adapter produced unknown stage name {name!r}")
        out[name] = to_numpy(value)
    out["tokens"] = np.asarray(args.tokens, dtype=np.int64)
    out["n_valid"] = np.asarray([args.n_valid], dtype=np.int64)
    from safetensors.numpy import save_file

    tmp = f"{args.out}.tmp.{os.getpid()}"
    try:
        save_file(out, tmp, metadata=metadata or {})
        os.replace(tmp, args.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        fail(f"{args.out}: cannot write: {e.strerror}")


# The largest relative difference any self-check has seen (reported with --verbose).
self_check_worst = [0.0]


def check_close(what, got, want, rel=1e-6):
    """The adapter's self-check: a stage recomposed from a module's parameters must equal the
    module's real output. |got - want| <= rel * max(1, max|want|) elementwise, else fail."""
    import torch

    got, want = got.detach().float(), want.detach().float()
    if got.shape != want.shape:
        fail(f"adapter self-check {what}: shape {tuple(got.shape)} != {tuple(want.shape)}")
    bound = rel * max(1.0, float(want.abs().max()))
    diff = float((got - want).abs().max()) if got.numel() else 0.0
    if not diff <= bound:
        fail(f"adapter self-check {what}: recomposed output differs from the module's by "
             f"{diff:.3g} (bound {bound:.3g}); the adapter no longer matches the reference")
    self_check_worst[0] = max(self_check_worst[0], diff / max(1.0, float(want.abs().max())))
    return diff
