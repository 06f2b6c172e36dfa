"""torch_forward.py: the official PyTorch GPT-OSS model (gpt_oss.torch.model.Transformer)
timed on one forward pass over the same tokens as bench_forward, on the CPU.

    python bench/torch_forward.py --checkpoint DIR --dtype fp32|bf16 [--tokens IDS]
        [--sequence-length 32] [--reps 3] [--threads N] [--mlp-chunk N]

--dtype fp32 upcasts every weight after loading (the parity reference); bf16 keeps the
official dtype. --mlp-chunk N runs the MoE block over N tokens at a time (identical
results: the block is per token) because the official MLPBlock gathers every selected
expert's dequantized weights per token at once ([T, k, 2I, H]), which for gpt-oss-20b at
32 tokens is 8.5 GB in fp32 on top of the 11 GB model. Prints one JSON object."""
import argparse, json, resource, statistics, time

import torch
from gpt_oss.torch.model import MLPBlock, Transformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--tokens", default="4827,382,290,9029,328,10128,30")
    ap.add_argument("--sequence-length", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mlp-chunk", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    ids = [int(t) for t in a.tokens.split(",")]
    ids += [199999] * max(0, a.sequence_length - len(ids))
    if a.mlp_chunk:
        whole = MLPBlock.forward

        def chunked(self, x):
            return torch.cat([whole(self, x[i:i + a.mlp_chunk]) for i in range(0, x.shape[0], a.mlp_chunk)])

        MLPBlock.forward = chunked
    t0 = time.perf_counter()
    model = Transformer.from_checkpoint(a.checkpoint, device="cpu")
    if a.dtype == "fp32":
        model = model.to(torch.float32)
    load_s = time.perf_counter() - t0
    x = torch.tensor(ids, dtype=torch.int32)
    walls, cpus = [], []
    with torch.inference_mode():
        t0 = time.perf_counter()
        model(x)  # warm-up
        first = time.perf_counter() - t0
        for _ in range(a.reps):
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            model(x)
            walls.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    print(json.dumps({
        "checkpoint": a.checkpoint, "dtype": a.dtype, "tokens": len(ids), "threads": torch.get_num_threads(),
        "mlp_chunk": a.mlp_chunk, "load_s": round(load_s, 3), "first_forward_s": round(first, 4),
        "wall_min_s": round(min(walls), 4), "wall_median_s": round(statistics.median(walls), 4),
        "cpu_s_per_forward": round(statistics.mean(cpus), 4),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
