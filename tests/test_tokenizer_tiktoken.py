"""gptoss tokenize against tiktoken's o200k_harmony on a corpus generated here.

Cases: every Unicode general category the o200k pattern names (and the others), sampled
from Python's Unicode database; contractions in every letter case after every kind of
word; digit runs of many scripts; white-space runs with and without a following
non-space; CR/LF mixes; emoji with ZWJ, skin tones, flags, keycaps; CJK, Hangul, kana;
right-to-left scripts; combining marks; code and prose; random code points; random bytes
(kept when valid UTF-8). Every case must give exactly tiktoken's ids (encode_ordinary, and
encode(allowed_special="all") on cases with special tokens spelled in them), decode back
to its bytes, and every id 0..201087 must decode to tiktoken's bytes. Invalid UTF-8 must
be a one-line error. Exact equality throughout: there is no tolerance in tokenization.
"""
import json
import os
import random
import subprocess
import sys
import unicodedata

import testlib  # also puts python/ on sys.path
from testlib import BIN, fail
from o200k_reference import tiktoken_o200k_harmony

enc = tiktoken_o200k_harmony()
rng = random.Random(20260427)


# ---- the corpus ------------------------------------------------------------------------

by_cat = {}
for cp in range(0x110000):
    cat = unicodedata.category(chr(cp))
    if cat not in ("Cs", "Cn"):
        by_cat.setdefault(cat, []).append(chr(cp))
by_cat["Cn"] = [chr(c) for c in (0x378, 0x5ff, 0xfdd0, 0xffff, 0x1fffe, 0x10ffff, 0xe0080)]
CATS = sorted(by_cat)  # Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Zs Zl Zp Cc Cf Co Cn P* S*


def some(cat, k=1):
    return "".join(rng.choice(by_cat[cat]) for _ in range(k))


def category_cases():
    out = []
    for cat in CATS:
        for _ in range(60):
            out.append(some(cat, rng.randint(1, 6)))
            out.append(" " + some(cat, rng.randint(1, 4)) + rng.choice(["", "a", "A", "1", "!", " ", "\n", "'s"]))
    for _ in range(3000):  # mixtures of categories, the pattern's hard cases
        out.append("".join(some(rng.choice(CATS), rng.randint(1, 3)) for _ in range(rng.randint(1, 6))))
    return out


def contraction_cases():
    out = []
    words = ["it", "IT", "It", "iT", "don", "DON", "café", "CAFÉ", "Ǆ", "ǅx", "ʰʰ", "日本", "a\u0301",
             "\u0301", "x1", "ſ", "'", "O", "l"]
    for c in ["s", "t", "re", "ve", "m", "ll", "d"]:
        for mask in range(1 << len(c)):
            cc = "".join(ch.upper() if mask >> i & 1 else ch for i, ch in enumerate(c))
            for w in words:
                for tail in ["", " ", "x", "X", "s", "'", "1", "é", "\n"]:
                    out.append(w + "'" + cc + tail)
                    out.append(" " + w + "'" + cc + tail)
    out += ["it'ſ", "IT'ſ", "it\u2019s", "'s", "''s", "it''s", "it's's", "x'S'T'RE"]
    return out


DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９", "ⅠⅡⅢⅣ", "½¼¾²³"]


def digit_cases():
    out = []
    for ds in DIGITS:
        for n in range(1, 13):
            s = "".join(rng.choice(ds) for _ in range(n))
            for pre, post in [("", ""), ("a", "b"), (" ", " "), ("$", ".50"), ("x", "x")]:
                out.append(pre + s + post)
    out += ["1,234,567.89", "3.14159265358979", "2026-04-27T10:45:00Z", "0x1F600", "1e-9", "v1.2.3"]
    return out


SPACES = [" ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u180e",
          "\x0b", "\x0c", "\u2003", "\u200b", "\x1c", "\ufeff"]


def space_cases():
    out = []
    for _ in range(3000):
        run = "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 8)))
        out.append(rng.choice(["", "a", "1", "!", "日"]) + run + rng.choice(["", "a", "A", "1", "!", "\n", "日", "\u0301"]))
    for n in range(1, 10):
        for t in ["", "x", "\n", "!"]:
            out += [" " * n + t, "\t" * n + t, "\n" * n + t, "\r\n" * n + t, " \n" * n + t]
    return out


def crlf_cases():
    out = []
    parts = ["\r", "\n", "\r\n", "\n\r", " ", "  ", "\t", "line", "/", "//", "x/", "?", "\u00a0"]
    for _ in range(2000):
        out.append("".join(rng.choice(parts) for _ in range(rng.randint(1, 10))))
    return out


EMOJI = ["👩‍👩‍👧‍👦", "🧑🏽‍💻", "👍🏿", "🇫🇷", "🇯🇵🇺🇸", "🏳️‍🌈", "1️⃣", "#️⃣", "❤️", "🤷‍♀️", "😀", "🎉",
         "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "✌🏻", "☺︎", "🫠"]
SCRIPTS = ["日本語のテキストです。", "中文文本，包括标点符号！", "한국어 텍스트입니다.", "ｶﾀｶﾅ ﾃｽﾄ",
           "مرحبا بالعالم، كيف حالك؟", "שָׁלוֹם עוֹלָם", "‏مرحبا‎ world", "नमस्ते दुनिया", "สวัสดีชาวโลก",
           "Tiếng Việt có dấu", "Z̴̡̛a̶l̷g̸o̵ ̴t̶e̷x̸t", "e\u0301\u0302\u0303", "Ελληνικά κείμενα", "Кириллица ТЕКСТ",
           "ǅemal Ǉubljana", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "𝕳𝖊𝖑𝖑𝖔 𝔀𝓸𝓻𝓵𝓭", "ﬁnance ﬂow"]
PROSE = [
    "The quick brown fox jumps over the lazy dog. It's 5 o'clock; we'll see—maybe.",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\n\nclass A(B):\n\tpass\r\n",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "https://example.com/path/to/page?q=1&r=2#frag and mail@example.org",
    "<html><body><p class=\"x\">Hello</p></body></html>",
    "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$",
    "<|start|>user<|message|>Hi<|end|><|start|>assistant",
    "<|reserved_200123|> <|endofprompt|><|reserved_200018|><|endoftext|> <|notatoken|> <| <|start",
]


def script_cases():
    out = list(SCRIPTS) + list(PROSE) + list(EMOJI)
    for _ in range(3000):
        bits = [rng.choice(EMOJI + SCRIPTS + PROSE + [" ", "\n", "'s", "123", "x"]) for _ in range(rng.randint(1, 5))]
        out.append("".join(bits))
    return out


def random_cases():
    out = [""]
    for _ in range(4000):  # any code point
        out.append("".join(chr(rng.choice([rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0xd800),
                                           rng.randrange(0xe000, 0x110000)])) for _ in range(rng.randint(1, 20))))
    for _ in range(4000):  # random bytes, kept when they are UTF-8
        b = bytes(rng.randrange(256) if rng.random() < 0.3 else rng.randrange(0x20, 0x7f) for _ in range(rng.randint(1, 40)))
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return out


# ---- running the C side ----------------------------------------------------------------

def c_encode(cases, allow_special=False):
    inp = "".join(json.dumps(c) + "\n" for c in cases).encode()
    args = [BIN, "tokenize", "--jsonl"] + (["--allow-special"] if allow_special else [])
    r = subprocess.run(args, input=inp, capture_output=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: gptoss tokenize --jsonl exited {r.returncode}: {r.stderr.decode()[:500]}")
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(cases), (len(lines), len(cases))
    return [json.loads(x) for x in lines]


def c_decode(ids):
    r = subprocess.run([BIN, "tokenize", "--decode", "-"], input=",".join(map(str, ids)).encode(),
                       capture_output=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: gptoss tokenize --decode exited {r.returncode}: {r.stderr.decode()[:500]}")
    return r.stdout


def main():
    groups = {"categories": category_cases(), "contractions": contraction_cases(), "digits": digit_cases(),
              "spaces": space_cases(), "crlf": crlf_cases(), "scripts": script_cases(), "random": random_cases()}
    total = 0
    for name, cases in groups.items():
        cases = [c.replace("\x00", "") for c in cases]  # a JSON line cannot carry NUL to cJSON
        got = c_encode(cases)
        bad = 0
        for c, g in zip(cases, got):
            want = enc.encode_ordinary(c)
            if g != want:
                bad += 1
                fail(f"{name}: {c!r}: gptoss {g} tiktoken {want}")
        # decode: all cases' ids separated by <|start|> must give the cases' bytes
        sep = enc.encode("<|start|>", allowed_special="all")
        flat = []
        for g in got:
            flat += g + sep
        if c_decode(flat) != b"".join(c.encode() + b"<|start|>" for c in cases):
            fail(f"{name}: decode(encode(case)) differs from the case")
        total += len(cases)
        print(f"{name}: {len(cases)} cases, {sum(len(c.encode()) for c in cases)} bytes, {bad} differ")
    # allowed_special="all"
    special = [c for c in groups["scripts"] if "<|" in c] + [
        "<|start|>", "a<|end|>b", "<|start|><|start|>", " <|message|> ", "<|reserved_200000|>x", "<|reserved_200006|>",
        "<|reserved_201088|>", "<|endofprompt|><|reserved_200018|>", "<|<|start|>|>", "\n<|call|>\n", "<|return|>'s"]
    got = c_encode(special, allow_special=True)
    for c, g in zip(special, got):
        if g != enc.encode(c, allowed_special="all"):
            fail(f"allow_special: {c!r}: gptoss {g} tiktoken {enc.encode(c, allowed_special='all')}")
    print(f"allow_special: {len(special)} cases")
    # every id decodes as tiktoken decodes it (ids separated by <|start|>, 200006)
    ids = list(range(enc.n_vocab))
    want = b"<|start|>".join(enc.decode_single_token_bytes(i) for i in ids)
    flat = []
    for i in ids:
        flat += [i, 200006]
    if c_decode(flat[:-1]) != want:
        fail("decoding ids 0..201087 differs from tiktoken")
    if enc.n_vocab != 201088:
        fail(f"tiktoken's n_vocab is {enc.n_vocab}")
    print(f"decode: ids 0..{enc.n_vocab - 1}")
    # standard input byte for byte, NUL included; invalid UTF-8 is a one-line error
    raw = "zero\x00byte\r\nand a trailing newline\n".encode()
    r = subprocess.run([BIN, "tokenize", "--json", "-"], input=raw, capture_output=True)
    if r.returncode or json.loads(r.stdout)["ids"] != enc.encode_ordinary(raw.decode()):
        fail(f"stdin: {r.returncode} {r.stdout[:200]!r}")
    for bad in [b"ab\xff", b"\xc3", b"x\xed\xa0\x80", b"ok\xf8\x88\x80\x80\x80"]:
        r = subprocess.run([BIN, "tokenize", "-"], input=bad, capture_output=True)
        err = r.stderr.decode()
        if r.returncode == 0 or r.returncode >= 128 or "invalid UTF-8" not in err or err.count("\n") != 1:
            fail(f"invalid UTF-8 {bad!r}: exit {r.returncode}, {err!r}")
    print(f"{total} cases compared")
    return 1 if testlib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
