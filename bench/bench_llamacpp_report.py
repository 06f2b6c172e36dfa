"""The table and JSON of bench_llamacpp.sh, from the raw outputs it keeps in --work.

Files in --work, one set per process (NAME.out stdout, .err, .rc exit status, .time
"peak-RSS-KiB wall-s" from /usr/bin/time):
  llama.pp<P>.r<i>, llama.tg<D>.r<i>    llama-bench -o json: prefill P tokens / decode 32 at depth D
  gptoss.pp<P>.r<i>, gptoss.tg<D>.r<i>  gptoss generate --json (or gptoss run: prefill only)
  bandwidth.before.json, bandwidth.after.json   bench_forward --bandwidth-only
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile

ENGINES = ("llama", "gptoss")
LABEL = {"llama": "llama.cpp", "gptoss": "gptoss"}


def read(path):
    with open(path) as f:
        return f.read()


def process(work, name):
    """(tok/s or None, peak RSS bytes or None, rc) of one process, whatever its engine."""
    base = os.path.join(work, name)
    if not os.path.exists(base + ".rc"):
        return None
    rc = int(read(base + ".rc"))
    rss = None
    if os.path.exists(base + ".time"):  # the last line: after "Command exited with ..." if any
        fields = read(base + ".time").strip().splitlines()[-1].split()
        rss = int(fields[0]) * 1024 if fields and fields[0].isdigit() else None
    return {"rc": rc, "rss": rss, "out": read(base + ".out") if rc == 0 else ""}


def llama_tok_s(out):
    tests = json.loads(out)
    assert len(tests) == 1, "one llama-bench test per process"
    return tests[0]["avg_ts"], tests[0]


def gptoss_tok_s(out, kind, n):
    """kind 'pp': prefill tok/s; 'tg': decode tok/s; from generate's JSON or run's text."""
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            t = json.loads(line)["timings"]
            return t["prefill_tok_s" if kind == "pp" else "decode_tok_s"]
    m = re.search(r"forward: ([0-9.]+) s", out)  # gptoss run: one forward over n tokens
    if kind == "pp" and m:
        return n / float(m.group(1))
    raise ValueError("no timings in the output")


def stats(xs):
    return {"best": max(xs), "median": statistics.median(xs), "runs": xs} if xs else None


def collect(a):
    rows, rss, llama_info = [], {e: [] for e in ENGINES}, None
    measures = [("pp", int(p)) for p in a.prompts.split(",")] + [("tg", int(d)) for d in a.depths.split(",")]
    for kind, n in measures:
        row = {"kind": kind, "n": n}
        for e in ENGINES:
            speeds, peaks, errors = [], [], []
            for r in range(1, a.runs + 1):
                name = f"{e}.{kind}{n}.r{r}"
                p = process(a.work, name)
                if p is None:
                    continue
                if p["rss"]:
                    peaks.append(p["rss"])
                if p["rc"] != 0:
                    errors.append(f"{name}: exit {p['rc']}")
                    continue
                try:
                    if e == "llama":
                        s, llama_info = llama_tok_s(p["out"])
                    else:
                        s = gptoss_tok_s(p["out"], kind, n)
                    speeds.append(s)
                except (ValueError, KeyError, AssertionError, json.JSONDecodeError) as ex:
                    errors.append(f"{name}: {ex}")
            row[e] = {"tok_s": stats(speeds), "peak_rss_bytes": max(peaks) if peaks else None,
                      "errors": errors}
            rss[e] += peaks
        rows.append(row)
    return rows, {e: max(v) if v else None for e, v in rss.items()}, llama_info


def bytes_per_token(cfg):
    """Weight bytes one decoded token reads, per engine: every attention matrix (BF16), the
    router, experts_per_token MXFP4 experts (4.25 bits a weight: 4-bit values + one UE8 scale
    per 32) and their biases, the small fp32 vectors, one embedding row, the BF16
    unembedding. gptoss reads the router as stored (BF16); llama.cpp's GGUF holds it in F32.
    The KV cache (growing with the context) is not counted."""
    H, L, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    nh, kv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    E, K, I = cfg["num_local_experts"], cfg["num_experts_per_tok"], cfg["intermediate_size"]
    attn = 2 * (H * nh * hd + 2 * H * kv * hd + nh * hd * H)
    vectors = 4 * (nh * hd + 2 * kv * hd + H + nh + 2 * H + E)  # biases, sinks, norms, router bias
    experts = K * (3 * I * H * 17 // 32 + 4 * (2 * I + H))
    common = L * (attn + vectors + experts) + 2 * H + 4 * H + 2 * V * H
    return {"gptoss": common + L * 2 * E * H, "llama": common + L * 4 * E * H}


def fmt(x, unit=""):
    if x is None:
        return "n/a"
    return f"{x:,.1f}{unit}" if x < 1000 else f"{x:,.0f}{unit}"


def ratio(g, l):
    return f"{g / l:.2f}" if g and l else "n/a"


def table(a, rows, rss, roof):
    out = ["| measure | llama.cpp best | llama.cpp median | gptoss best | gptoss median | gptoss / llama.cpp (median) |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        what = f"prefill {row['n']} tok/s" if row["kind"] == "pp" else f"decode 32 @ {row['n']} tok/s"
        l, g = row["llama"]["tok_s"] or {}, row["gptoss"]["tok_s"] or {}
        out.append(f"| {what} | {fmt(l.get('best'))} | {fmt(l.get('median'))} | {fmt(g.get('best'))} | "
                   f"{fmt(g.get('median'))} | {ratio(g.get('median'), l.get('median'))} |")
    gb = {e: rss[e] / 2**30 if rss[e] else None for e in ENGINES}
    out.append(f"| peak RSS (GiB, largest process) | {fmt(gb['llama'])} | | {fmt(gb['gptoss'])} | | "
               f"{ratio(gb['gptoss'], gb['llama'])} |")
    def per_engine(what, f, digits):
        v = {e: f(roof[e]) for e in ENGINES}
        txt = {e: f"{v[e]:.{digits}f}" if v[e] is not None else "n/a" for e in ENGINES}
        out.append(f"| {what} | {txt['llama']} | | {txt['gptoss']} | | {ratio(v['gptoss'], v['llama'])} |")

    per_engine("weight GB read per decoded token", lambda r: r["bytes_per_token"] / 1e9, 3)
    per_engine("memory roofline tok/s (bandwidth / bytes)", lambda r: r["roofline_tok_s"], 1)
    per_engine("decode @ 0 median / roofline", lambda r: r["fraction"], 2)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("work", "checkpoint", "gguf", "preset", "prompts", "depths", "llama-version", "llama-commit", "gptoss-version"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--has-generate", type=int, required=True)
    ap.add_argument("--json")
    a = ap.parse_args()

    rows, rss, llama_info = collect(a)
    bw = [json.loads(read(os.path.join(a.work, f"bandwidth.{w}.json")))["bandwidth_bytes_per_s"]
          for w in ("before", "after")]
    with open(os.path.join(a.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    bpt = bytes_per_token(cfg)
    depth0 = next((r for r in rows if r["kind"] == "tg" and r["n"] == 0), None)
    roof = {}
    for e in ENGINES:
        dec = ((depth0 or {}).get(e, {}).get("tok_s") or {}).get("median")
        rt = max(bw) / bpt[e]
        roof[e] = {"bytes_per_token": bpt[e], "roofline_tok_s": rt, "decode_tok_s": dec,
                   "fraction": dec / rt if dec else None}

    load = [float(read(os.path.join(a.work, "load.before"))), os.getloadavg()[0]]
    print(f"\n{a.preset}: {a.threads} threads, {a.runs} runs each, interleaved; {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} before, {load[1]:.1f} after (other processes share the cores above 0)")
    print(f"llama.cpp {a.llama_commit[:9]} (llama-cpp-python {a.llama_version}), "
          f"{a.gptoss_version}{'' if a.has_generate else ' (no generate: prefill by gptoss run, decode n/a)'}")
    print(f"memory bandwidth {bw[0] / 1e9:.1f} GB/s before, {bw[1] / 1e9:.1f} GB/s after (the larger is used)\n")
    print(table(a, rows, rss, roof))
    errors = [x for r in rows for e in ENGINES for x in r[e]["errors"]]
    for x in errors:
        print(f"failed: {x}", file=sys.stderr)

    if a.json:
        doc = {"preset": a.preset, "threads": a.threads, "runs": a.runs, "checkpoint": a.checkpoint,
               "gguf": a.gguf, "llama_cpp": {"llama_cpp_python": a.llama_version,
                                            "commit": a.llama_commit,
                                            "cpu_info": llama_info and llama_info.get("cpu_info")},
               "gptoss": {"version": a.gptoss_version, "has_generate": bool(a.has_generate)},
               "cores": os.cpu_count(), "load_average": {"before": load[0], "after": load[1]},
               "bandwidth_bytes_per_s": {"before": bw[0], "after": bw[1]},
               "measures": rows, "peak_rss_bytes": rss, "roofline": roof,
               "prompt_note": "llama-bench uses its own random token ids; gptoss a fixed list of ordinary ids"}
        d = os.path.dirname(os.path.abspath(a.json))
        with tempfile.NamedTemporaryFile("w", dir=d, prefix=".bench_llamacpp.", delete=False) as f:
            json.dump(doc, f, indent=1)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(f.name, 0o666 & ~umask)  # as open() would create it, not mkstemp's 0600
        os.replace(f.name, a.json)
        print(f"\nwritten {a.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
