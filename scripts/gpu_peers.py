#!/usr/bin/env python3
"""Peers and ceilings for the GPU check (scripts/gpu-check.sh), measured with PyTorch in the same run.

Prints one JSON object on stdout: {"torch": version, "device": name, "ceilings": {...}, "peers": [...]}.
Each timing is the median of many CUDA-event-timed runs after warm-up, with inputs rotated through
copies that together exceed L2 (so numbers are from HBM, like ours). Shapes come from argv as JSON (the
node check passes the same shapes it times), so every peer line sits next to our kernel on one shape.

Peers are the plain torch formulations a user would write: softmax + topk (route), stable argsort +
index_select (permute), torch._grouped_mm or a per-expert matmul loop (grouped_gemm), gather + weighted sum
(unpermute). Exits 3 when torch or CUDA is missing (the check then prints "no peers").
"""

import json
import sys


def main():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no peers
        print(json.dumps({"error": f"torch not importable: {e}"}))
        return 3
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA device"}))
        return 3
    shapes = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    dev = torch.device("cuda")
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 << 20)

    def rotations(nbytes):
        return max(1, min(64, -(-2 * l2 // max(nbytes, 1))))

    def median_ms(fn, iters=50, warmup=5):
        for i in range(warmup):
            fn(i)
        torch.cuda.synchronize()
        times = []
        for i in range(iters):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn(i)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        times.sort()
        return times[len(times) // 2]

    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "ceilings": {}, "peers": []}

    # Ceilings: a 1 GiB device-to-device copy and a large bf16 matmul (cuBLAS).
    x = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
    y = torch.empty_like(x)
    ms = median_ms(lambda i: y.copy_(x), 20, 3)
    out["ceilings"]["d2d_copy_gbps"] = 2 * x.numel() / (ms * 1e-3) / 1e9
    del x, y
    n = 8192
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    ms = median_ms(lambda i: torch.matmul(a, b), 20, 3)
    out["ceilings"]["bf16_matmul_tflops"] = 2 * n**3 / (ms * 1e-3) / 1e12
    del a, b

    def peer(op, label, ms, flops=None, nbytes=None):
        rec = {"op": op, "label": label, "ms": ms}
        if flops:
            rec["tflops"] = flops / (ms * 1e-3) / 1e12
        if nbytes:
            rec["gbps"] = nbytes / (ms * 1e-3) / 1e9
        out["peers"].append(rec)

    for s in shapes.get("route", []):
        T, E, k = s["T"], s["E"], s["k"]
        zs = [torch.randn(T, E, device=dev) for _ in range(rotations(T * E * 4))]

        def route(i):
            p = torch.softmax(zs[i % len(zs)], dim=-1)
            w, idx = torch.topk(p, k, dim=-1)
            return w / (w.sum(-1, keepdim=True) + 1e-20), idx.int()

        peer("route", s["label"], median_ms(route), nbytes=T * E * 4 + T * k * 8)

    for s in shapes.get("permute", []):
        T, k, E, H = s["T"], s["k"], s["E"], s["H"]
        xs = [torch.randn(T, H, device=dev, dtype=torch.bfloat16) for _ in range(rotations(T * H * 2))]
        ids = torch.randint(0, E, (T, k), device=dev, dtype=torch.int32)

        def permute(i):
            flat = ids.t().reshape(-1)  # rank-major, like ours
            order = torch.argsort(flat, stable=True)
            tok = order % T
            return xs[i % len(xs)].index_select(0, tok)

        peer("permute", s["label"], median_ms(permute), nbytes=2 * T * k * H * 2)

    grouped_mm = getattr(torch, "_grouped_mm", None)
    for s in shapes.get("grouped_gemm", []):
        R, K, N, E = s["R"], s["K"], s["N"], s["E"]
        a = torch.randn(R, K, device=dev, dtype=torch.bfloat16)
        w = torch.randn(E, N, K, device=dev, dtype=torch.bfloat16) / K**0.5
        counts = torch.full((E,), R // E, dtype=torch.int64)
        counts[: R - int(counts.sum())] += 1
        offs = torch.cumsum(counts, 0).to(device=dev, dtype=torch.int32)
        label = s["label"]
        if grouped_mm is not None:
            try:
                wt = w.transpose(-2, -1)
                grouped_mm(a, wt, offs=offs)
                ms = median_ms(lambda i: grouped_mm(a, wt, offs=offs), 20, 3)
                peer("grouped_gemm", label + " (torch._grouped_mm)", ms, flops=2 * R * N * K)
                continue
            except Exception as e:  # noqa: BLE001 - older torch / unsupported arch: fall back to the loop
                label += f" (loop; _grouped_mm failed: {type(e).__name__})"
        bounds = [0] + offs.tolist()

        def loop(i):
            return [a[bounds[e]:bounds[e + 1]] @ w[e].t() for e in range(E)]

        peer("grouped_gemm", label + " (per-expert matmul loop)", median_ms(loop, 10, 2), flops=2 * R * N * K)

    for s in shapes.get("unpermute", []):
        T, k, H = s["T"], s["k"], s["H"]
        ys = [torch.randn(T * k, H, device=dev, dtype=torch.bfloat16) for _ in range(rotations(T * k * H * 2))]
        s2r = torch.randperm(T * k, device=dev).reshape(T, k)
        wts = torch.rand(T, k, device=dev)
        res = torch.randn(T, H, device=dev, dtype=torch.bfloat16)

        def combine(i):
            g = ys[i % len(ys)][s2r]  # [T, k, H]
            return ((g.float() * wts[..., None]).sum(1) + res.float()).to(torch.bfloat16)

        peer("unpermute", s["label"], median_ms(combine), nbytes=T * k * H * 2 + 2 * T * H * 2)

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
