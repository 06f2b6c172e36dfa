"""bench_tokenizer.py: o200k_harmony encoding throughput, gptoss against tiktoken, one
thread each, in the same run, on the same multi-megabyte mixed corpus.

    .venv/bin/python bench/bench_tokenizer.py [--mb 4] [--runs 5] [--bin build/bench/bench_tokenizer]

The corpus is built here, deterministically, from what every Python install has: English
prose (the standard library's docstrings), code (standard library sources and this
project's C sources), CJK (Chinese, Japanese, Korean paragraphs below, shuffled) and
emoji-laden chat lines (ZWJ sequences, skin tones, flags). Both encoders get the whole
corpus as one string (tiktoken: encode_ordinary); the ids must be identical. Reports the
best of N runs (after a warm-up) of each by thread CPU time (the work; steady on a busy
machine) and by wall time, the ratios, and the vocabulary load times.
"""
import argparse
import importlib
import json
import os
import warnings
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from o200k_reference import tiktoken_o200k_harmony  # noqa: E402

CJK = [
    "今天的天气非常好，我们决定去公园散步。孩子们在草地上奔跑，老人们在树下下棋。",
    "机器学习模型需要大量的数据来训练，而数据的质量往往比数量更重要。",
    "这个城市有很多历史悠久的建筑，每年吸引成千上万的游客前来参观。",
    "请在明天下午三点之前把报告发给我，谢谢你的帮助。",
    "東京の春は桜がとても美しく、多くの人が花見を楽しみます。",
    "このプログラムは入力されたテキストをトークンに分割し、それぞれに番号を付けます。",
    "昨日は友達と一緒にラーメンを食べに行きました。とてもおいしかったです。",
    "서울은 한국의 수도이며 인구가 매우 많은 도시입니다.",
    "오늘 회의는 오후 두 시에 시작합니다. 늦지 않게 와 주세요.",
    "大規模言語モデルの推論を高速化するために、メモリの配置を工夫する必要があります。",
]
EMOJI_LINES = [
    "lol that's amazing 😂😂 see you at 8? 👍🏽",
    "family trip 👨‍👩‍👧‍👦 to 🇯🇵 and 🇰🇷 next month ✈️🌸",
    "congrats!!! 🎉🎉🥳 you did it 💪🏿",
    "coffee ☕ + code 👩🏻‍💻 = happy 😊",
    "rainbow 🏳️‍🌈 parade downtown 🎶🕺💃",
    "ok ok 🙏 I'll send it tomorrow 🤞 #deadline",
]


def prose_and_code(rng):
    prose, code = [], []
    for mod in sorted(n for n in sys.stdlib_module_names if not n.startswith(("_", "idlelib", "tkinter", "turtle",
                                                                         "antigravity", "this"))):
        try:
            with open(os.devnull, "w") as devnull:
                stdout, sys.stdout = sys.stdout, devnull
                try:
                    m = importlib.import_module(mod)
                finally:
                    sys.stdout = stdout
        except BaseException:
            continue
        if m.__doc__:
            prose.append(m.__doc__)
        for name in dir(m):
            doc = getattr(getattr(m, name, None), "__doc__", None)
            if isinstance(doc, str) and len(doc) > 200:
                prose.append(doc)
        path = getattr(m, "__file__", None)
        if path and path.endswith(".py") and os.path.getsize(path) < 200_000:
            with open(path, encoding="utf-8", errors="replace") as f:
                code.append(f.read())
    for d in ["src", "src/tokenizer", "tools"]:
        for fn in sorted(os.listdir(os.path.join(ROOT, d))):
            if fn.endswith((".c", ".h")):
                with open(os.path.join(ROOT, d, fn), encoding="utf-8") as f:
                    code.append(f.read())
    return prose, code


def corpus(mb, seed=1):
    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    prose, code = prose_and_code(rng)
    target = int(mb * 1e6)
    parts, size = [], 0
    while size < target:
        kind = rng.random()
        if kind < 0.40:
            s = rng.choice(prose)
        elif kind < 0.70:
            s = rng.choice(code)[:20000]
        elif kind < 0.90:
            s = "".join(rng.choice(CJK) for _ in range(rng.randint(5, 40))) + "\n"
        else:
            s = "\n".join(rng.choice(EMOJI_LINES) for _ in range(rng.randint(3, 20))) + "\n"
        parts.append(s)
        size += len(s.encode())
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bench", "bench_tokenizer"))
    a = ap.parse_args()
    text = corpus(a.mb)
    data = text.encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.txt")
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run([a.bin, path, "--runs", str(a.runs), "--ids", os.path.join(tmp, "ids")],
                           capture_output=True, text=True, env={**os.environ, "GPTOSS_HOME": ROOT})
        if r.returncode:
            sys.exit(f"bench_tokenizer failed: {r.stderr}")
        ours = json.loads(r.stdout)
        with open(os.path.join(tmp, "ids")) as f:
            our_ids = [int(x) for x in f]
    t0 = time.perf_counter()
    enc = tiktoken_o200k_harmony()
    tk_load = time.perf_counter() - t0
    wall, cpu = [], []
    for i in range(a.runs + 1):
        t0, c0 = time.perf_counter(), time.thread_time()
        ids = enc.encode_ordinary(text)  # one thread: tiktoken runs in the calling thread
        if i:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
    same = ids == our_ids
    mb = len(data) / 1e6
    tk_wall, tk_cpu = mb / min(wall), mb / min(cpu)
    kinds = "prose 40%, code 30%, CJK 20%, emoji chat 10% (by parts)"
    print(f"corpus: {mb:.2f} MB, {len(ids)} tokens ({kinds}); identical ids: {same}")
    print(f"encode, one thread, best of {a.runs}, by thread CPU time:  gptoss {ours['encode_cpu_mb_s']:.1f} MB/s"
          f" (PCRE2 for every piece: {ours['pcre2_only_cpu_mb_s']:.1f})   tiktoken {tk_cpu:.1f} MB/s"
          f"   ratio {ours['encode_cpu_mb_s'] / tk_cpu:.2f}x")
    print(f"encode, one thread, best of {a.runs}, by wall time:        gptoss {ours['encode_mb_s']:.1f} MB/s"
          f"   tiktoken {tk_wall:.1f} MB/s   ratio {ours['encode_mb_s'] / tk_wall:.2f}x")
    print(f"vocabulary load: gptoss {ours['load_ms_min']:.1f} ms wall (median {ours['load_ms_median']:.1f}),"
          f" {ours['load_cpu_ms_min']:.1f} ms CPU   tiktoken {tk_load * 1e3:.0f} ms (ranks file + encoding)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
