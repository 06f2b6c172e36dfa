"""Prints the main job's headline table: each line of the baseline report beside ours.

    python scripts/baseline_compare.py OUT_DIR

OUT_DIR holds parity_torch.json, parity_onnx.json and routing.json as scripts/baseline.sh
writes them (any missing one is reported as such). Standard library only.
"""
import json
import os
import sys


def load(out, name):
    path = os.path.join(out, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def worst_stage(d):
    stages = [s for s in d.get("stages", []) if s["name"] != "logits" and s["dtype"] == "F32"]
    if not stages:
        return "no stages compared"
    s = max(stages, key=lambda s: s["all"]["max"])
    return f"{s['all']['max']:.3g} (`{s['name']}`, all {len(stages)} stages, every position)"


def main():
    out = sys.argv[1]
    torch_d, onnx_d, rout = (load(out, n) for n in ("parity_torch.json", "parity_onnx.json", "routing.json"))
    rows = []
    if torch_d:
        toks = ", ".join(torch_d["token_strings"])
        rows.append(("tokenizer", "character fallback in its scripts",
                     f"o200k_harmony, {torch_d['n_valid']} tokens: `[{toks}]`"))
    if onnx_d:
        lg = onnx_d["logits"]
        rows.append(("logits, reference vs ONNX Runtime", "1.34e-5 at the final token (JAX vs ONNX)",
                     f"{lg['last_real']['max']:.3g} at the last real token, {lg['all']['max']:.3g} over all "
                     f"{onnx_d['n_tokens']} positions (C engine vs ONNX Runtime)"))
    else:
        rows.append(("logits, reference vs ONNX Runtime", "1.34e-5 at the final token", "not run"))
    if torch_d:
        lg = torch_d["logits"]
        rows.append(("logits, torch vs implementation", "3.3e-5 over 7 tokens (torch vs JAX)",
                     f"{lg['real']['max']:.3g} over {torch_d['n_valid']} real tokens, {lg['all']['max']:.3g} over "
                     f"all {torch_d['n_tokens']} positions (torch fp32 vs C engine)"))
        rows.append(("worst stage", "3.05e-4 (top 10 stages shown)", worst_stage(torch_d)))
    else:
        rows.append(("logits, torch vs implementation", "3.3e-5 over 7 tokens", "not run"))
    if rout:
        rows.append(("expert routing", "100% on 1 token x 2 layers, max gate diff 1.95e-3",
                     f"{rout['order_matches']}/{rout['decisions']} decisions ({rout['tokens_run']} tokens x "
                     f"{rout['layers']} layers), max gate diff {rout['gate_diff_max']:.3g}: {rout['result']}"))
    else:
        rows.append(("expert routing", "100% on 1 token x 2 layers", "not run"))
    print("| line | baseline report (JAX/Flax, real 20b weights, 2 layers) | gptoss (this run) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
