"""Writes tokenizer.json + tokenizer_config.json (Hugging Face, fast tokenizer) for
o200k_harmony into a checkpoint folder, offline, and checks them against `gptoss tokenize`.

    .venv/bin/python bench/hf_tokenizer.py DIR [--gptoss build/gptoss]

Made for llama.cpp's convert_hf_to_gguf.py, which reads the vocabulary from these files.
The BPE comes from the vendored ranks (data/o200k_base.tiktoken) through transformers'
TikTokenConverter with tiktoken's own o200k pattern; the 1090 special tokens 199998..201087
are then added in id order (any other order shifts their ids), named as gptoss names them
(<|endofprompt|> for 200018, <|reserved_N|> for the unnamed ones). No BOS is added.

Before writing, the ids of a few strings, and of every special token spelled out, must equal
`gptoss tokenize`'s; any difference is an error (exit 1) and nothing is written.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HOME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HOME, "python"))
from o200k_reference import tiktoken_o200k_harmony, vocab_path  # noqa: E402

FIRST_SPECIAL, N_VOCAB = 199998, 201088
NAMED = {199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>",
         200003: "<|constrain|>", 200005: "<|channel|>", 200006: "<|start|>", 200007: "<|end|>",
         200008: "<|message|>", 200012: "<|call|>", 200018: "<|endofprompt|>"}
SAMPLES = [
    "What is the capital of France?",
    "Hello, world! It's 2026: 12345678 tokens... don't stop.",
    "  leading spaces\r\n\ttabs and\nnew lines\n\n",
    "Ünïcödé: 日本語のテキスト, 한국어, русский, عربى, emoji 👩‍💻🇫🇷",
    "def f(x):\n    return x**2  # comment\n",
    "<|start|>user<|message|>Hi<|end|>",  # ordinary text unless specials are allowed
]


def special_names():
    return [NAMED.get(i, f"<|reserved_{i}|>") for i in range(FIRST_SPECIAL, N_VOCAB)]


def build(names):
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    pattern = tiktoken_o200k_harmony(HOME)._pat_str
    conv = TikTokenConverter(vocab_file=vocab_path(HOME), pattern=pattern, extra_special_tokens=names)
    return PreTrainedTokenizerFast(
        tokenizer_object=conv.converted(), bos_token=NAMED[199998], eos_token=NAMED[200002],
        pad_token=NAMED[199999], add_bos_token=False, add_eos_token=False,
        model_max_length=131072, clean_up_tokenization_spaces=False)


def gptoss_ids(gptoss, texts, allow_special):
    cmd = [gptoss, "tokenize", "--jsonl"] + (["--allow-special"] if allow_special else [])
    out = subprocess.run(cmd, input="".join(json.dumps(t) + "\n" for t in texts), text=True,
                         capture_output=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def check(tok, gptoss, names):
    """Compares ids with gptoss; returns the list of differences (empty: all agree)."""
    bad = []
    ours = gptoss_ids(gptoss, SAMPLES, allow_special=False)
    for text, want in zip(SAMPLES, ours):
        # split_special_tokens: HF would otherwise recognise specials in the text
        got = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        if got != want:
            bad.append(f"{text!r}: tokenizer.json gives {got}, gptoss tokenize {want}")
    allspec = "".join(names)
    want = gptoss_ids(gptoss, [allspec], allow_special=True)[0]
    if want != list(range(FIRST_SPECIAL, N_VOCAB)):
        bad.append("gptoss tokenize --allow-special does not give 199998..201087 for the names")
    got = tok(allspec, add_special_tokens=False)["input_ids"]
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        bad.append(f"special tokens: tokenizer.json differs from gptoss tokenize at {names[first]!r}")
    if len(tok) != N_VOCAB:
        bad.append(f"tokenizer.json holds {len(tok)} tokens, expected {N_VOCAB}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="checkpoint folder to write the two files into")
    ap.add_argument("--gptoss", default=os.path.join(HOME, "build", "gptoss"),
                    help="the gptoss command the ids are checked against")
    a = ap.parse_args()
    if not os.path.isdir(a.dir):
        sys.exit(f"hf_tokenizer: {a.dir}: not a folder")
    if not os.access(a.gptoss, os.X_OK):
        sys.exit(f"hf_tokenizer: --gptoss {a.gptoss}: not an executable (build first)")
    names = special_names()
    tok = build(names)
    bad = check(tok, a.gptoss, names)
    if bad:
        sys.exit("hf_tokenizer: ids differ from gptoss tokenize:\n  " + "\n  ".join(bad))
    with tempfile.TemporaryDirectory(dir=a.dir, prefix=".tokenizer.tmp.") as tmp:
        tok.save_pretrained(tmp)
        # explicit for every reader (transformers 5 omits them, and names its own class)
        cfg_path = os.path.join(tmp, "tokenizer_config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg.update(tokenizer_class="PreTrainedTokenizerFast", add_bos_token=False, add_eos_token=False)
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        # a reload must give the same ids: what the converter reads is what was checked
        from transformers import AutoTokenizer
        bad = check(AutoTokenizer.from_pretrained(tmp), a.gptoss, names)
        if bad:
            sys.exit("hf_tokenizer: the saved files differ from gptoss tokenize:\n  " + "\n  ".join(bad))
        for f in ("tokenizer.json", "tokenizer_config.json"):
            os.replace(os.path.join(tmp, f), os.path.join(a.dir, f))
    print(f"hf_tokenizer: {a.dir}/tokenizer.json, tokenizer_config.json written; ids agree with "
          f"gptoss tokenize on {len(SAMPLES)} strings and all {N_VOCAB - FIRST_SPECIAL} special tokens")


if __name__ == "__main__":
    main()
