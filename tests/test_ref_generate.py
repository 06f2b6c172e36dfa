# labels: release_only
"""python/ref_generate.py, the greedy references that judge `gptoss generate`: the official
torch model (full recompute at every step) and transformers' generate (its own KV cache)
must produce the same 16 tokens on tiny and small (two independent implementations and two
ways to decode; a step where they differ passes only as a near-tie, margin < 1e-4 on both
sides), with margins that agree to 1e-4 (both are fp32 logits, ~1e-5 apart: the parity
target); every torch token is the argmax of its logits and its margin the top-1 minus top-2
gap, checked on one forward of the whole final sequence (causal: the same logits up to
fp32 rounding of the longer run); bad input gives one line and exit 2 / 1."""
import json
import os
import subprocess
import sys

import torch

import testlib
from testlib import check, fail, fixture

HOME = os.environ["GPTOSS_HOME"]
PY = sys.executable
GEN = os.path.join(HOME, "python", "ref_generate.py")
PROMPT = [4827, 382, 290, 9029, 328, 10128, 30]  # "What is the capital of France?"
N = 16
NEAR_TIE = 1e-4


def run(*args):
    return subprocess.run([PY, GEN, *args], capture_output=True, text=True)


def generate(against, ckpt):
    r = run("--against", against, "--checkpoint", ckpt, "--tokens", ",".join(map(str, PROMPT)),
            "-n", str(N))
    check(r.returncode == 0, f"ref_generate --against {against} {ckpt}: {r.stderr}")
    out = json.loads(r.stdout)
    check(out["prompt_tokens"] == PROMPT and len(out["tokens"]) == N and len(out["margins"]) == N,
          f"{against}: JSON shape: {out}")
    check(all(m >= 0 for m in out["margins"]), f"{against}: negative margin")
    return out


def torch_is_greedy(ckpt, out):
    """One forward of prompt + generated tokens: argmax and margins at every step."""
    import ref_torch

    class A:
        checkpoint, max_layers, precision, experts = ckpt, 0, "fp32", "eager"

    model, _, _ = ref_torch.load_reference(A)
    seq = PROMPT + out["tokens"]
    with torch.inference_mode():
        logits = model(torch.tensor(seq[:-1], dtype=torch.int64))[len(PROMPT) - 1:]
    for i, row in enumerate(logits):
        top = torch.topk(row, 2).values
        if int(torch.argmax(row)) != out["tokens"][i] and float(top[0] - top[1]) >= NEAR_TIE:
            fail(f"step {i}: token {out['tokens'][i]} is not the argmax {int(torch.argmax(row))}")
        if abs(float(top[0] - top[1]) - out["margins"][i]) > 1e-4:
            fail(f"step {i}: margin {out['margins'][i]} vs {float(top[0] - top[1])}")


for preset in ("tiny", "small"):
    t = generate("torch", fixture(preset))
    h = generate("hf", fixture(preset, "hf"))
    for i, (a, b) in enumerate(zip(t["tokens"], h["tokens"])):
        if a != b:
            ok = t["margins"][i] < NEAR_TIE and h["margins"][i] < NEAR_TIE
            print(f"{preset}: step {i}: torch {a}, hf {b}: margins {t['margins'][i]:.3g} / "
                  f"{h['margins'][i]:.3g}: {'near-tie' if ok else 'DIFFERENT'}")
            if not ok:
                fail(f"{preset}: torch and hf differ at step {i} beyond a near-tie")
            break  # the continuations diverge from here
        if abs(t["margins"][i] - h["margins"][i]) > 1e-4:
            fail(f"{preset}: step {i}: margins {t['margins'][i]} vs {h['margins'][i]}")
    worst = max(abs(a - b) for a, b in zip(t["margins"], h["margins"]))
    print(f"ok: {preset}: torch and hf generate the same {N} tokens (margins within {worst:.2g}, "
          f"smallest margin {min(t['margins']):.3g})")
    torch_is_greedy(fixture(preset), t)

# bad input
tiny = fixture("tiny")
for args, rc, words in [(["-n", "0"], 2, "-n 0"), (["-n", "2", "--tokens", "1,x"], 2, "--tokens"),
                        (["-n", "1", "--tokens", "999999"], 1, "out of range"),
                        (["-n", "1", "--against", "hf"], 1, tiny)]:
    full = ["--against", "torch", "--checkpoint", tiny, "--tokens", "1,2"]
    for i in range(0, len(args), 2):  # later options override
        if args[i] in full:
            full[full.index(args[i]) + 1] = args[i + 1]
        else:
            full += args[i:i + 2]
    r = run(*full)
    lines = r.stderr.strip().splitlines()
    if r.returncode != rc or len(lines) != 1 or words not in lines[0]:
        fail(f"{args}: exit {r.returncode}, stderr {r.stderr!r}")
    else:
        print(f"ok: {' '.join(args)} -> exit {rc}: {lines[0]}")

sys.exit(1 if testlib.failures else 0)
