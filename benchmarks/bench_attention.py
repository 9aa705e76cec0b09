"""How fast is the course's attention? Ratios measured in one run (notebook 03).

    python benchmarks/bench_attention.py            # T = 128, 512, 1024, 2048
    python benchmarks/bench_attention.py --quick    # T = 128, 512, fewer repeats

Three tables, all with head size D = 64 and one head:
1. the course's NumPy attention against the same explicit computation in
   torch on the CPU, float32 for both (like with like) and float64 for both;
2. the course's explicit torch attention against PyTorch's fused
   `F.scaled_dot_product_attention`, forward and forward + backward;
3. with a CUDA GPU: GPU against CPU for both torch versions.
A ratio above 1 means the first-named version is slower. Each pair is timed
in alternating rounds and each side keeps its best round, so a burst of work
from another process on a shared machine hurts both sides alike.

NumPy's element-wise steps (the softmax) run on one core while torch's use
all of them. For a one-core comparison, and for steadier numbers on a busy
machine, run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from course_utils import numpy_attention
from course_utils.attention import scaled_dot_product_attention
from course_utils.timing import compare, measure

D = 64


def paired(
    first: Callable[[], object],
    second: Callable[[], object],
    *,
    repeats: int,
    rounds: int,
    device: torch.device | None = None,
) -> tuple[float, float]:
    """Best round's median seconds of each function, timed round-robin."""
    times = compare({"first": first, "second": second},
                    rounds=rounds, repeats=repeats, device=device)
    return min(times["first"]), min(times["second"])


def explicit_torch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The NumPy function's steps written with torch operations."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # -> (..., Tq, Tk)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v  # (..., Tq, Tk) @ (..., Tk, D) -> (..., Tq, D)


def inputs(T: int, dtype: torch.dtype, device: str = "cpu", grad: bool = False):
    generator = torch.Generator().manual_seed(T)
    # (B, H, T, D) = (1, 1, T, D): with 3-d tensors the fused CPU kernel is skipped.
    shape = (1, 1, T, D)
    tensors = [torch.randn(shape, generator=generator, dtype=dtype) for _ in "qkv"]
    return [t.to(device).requires_grad_(grad) for t in tensors]


def numpy_against_torch(lengths, repeats, rounds) -> list[str]:
    rows = [
        "| T | dtype | NumPy ms | torch ms | NumPy / torch |",
        "|---|---|---|---|---|",
    ]
    for T in lengths:
        for dtype in (torch.float32, torch.float64):
            q, k, v = inputs(T, dtype)
            arrays = [t.numpy() for t in (q, k, v)]
            np_s, torch_s = paired(
                partial(numpy_attention.scaled_dot_product_attention, *arrays),
                partial(explicit_torch, q, k, v),
                repeats=repeats, rounds=rounds,
            )
            name = str(dtype).removeprefix("torch.")
            rows.append(f"| {T} | {name} | {np_s * 1e3:.2f} | {torch_s * 1e3:.2f} | "
                        f"{np_s / torch_s:.2f} |")
    return rows


def forward_backward(attention: Callable, q, k, v) -> Callable[[], None]:
    def step() -> None:
        context = attention(q, k, v)
        context = context[0] if isinstance(context, tuple) else context
        context.sum().backward()
        for t in (q, k, v):
            t.grad = None

    return step


def explicit_against_fused(lengths, repeats, rounds, device="cpu") -> list[str]:
    rows = [
        "| T | explicit fwd ms | fused fwd ms | fwd ratio | explicit fwd+bwd ms | "
        "fused fwd+bwd ms | fwd+bwd ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    sync = torch.device(device)
    for T in lengths:
        q, k, v = inputs(T, torch.float32, device)
        with torch.no_grad():
            forward = paired(
                partial(scaled_dot_product_attention, q, k, v),
                partial(F.scaled_dot_product_attention, q, k, v),
                repeats=repeats, rounds=rounds, device=sync,
            )
        q, k, v = inputs(T, torch.float32, device, grad=True)
        both = paired(
            forward_backward(scaled_dot_product_attention, q, k, v),
            forward_backward(F.scaled_dot_product_attention, q, k, v),
            repeats=repeats, rounds=rounds, device=sync,
        )
        rows.append(
            f"| {T} | {forward[0] * 1e3:.2f} | {forward[1] * 1e3:.2f} | "
            f"{forward[0] / forward[1]:.2f} | {both[0] * 1e3:.2f} | "
            f"{both[1] * 1e3:.2f} | {both[0] / both[1]:.2f} |"
        )
    return rows


def gpu_against_cpu(lengths, repeats, rounds) -> list[str]:
    rows = [
        "| T | version | CPU ms | GPU ms | CPU / GPU |",
        "|---|---|---|---|---|",
    ]
    gpu = torch.device("cuda")
    versions = {
        "explicit": scaled_dot_product_attention,
        "fused": F.scaled_dot_product_attention,
    }
    for T in lengths:
        cpu_inputs = inputs(T, torch.float32)
        gpu_inputs = [t.to(gpu) for t in cpu_inputs]
        for name, attention in versions.items():
            with torch.no_grad():
                on_cpu = partial(attention, *cpu_inputs)
                on_gpu = partial(attention, *gpu_inputs)
                cpu_s = min(measure(on_cpu, repeats=repeats) for _ in range(rounds))
                gpu_s = min(
                    measure(on_gpu, repeats=repeats, device=gpu) for _ in range(rounds)
                )
            rows.append(f"| {T} | {name} | {cpu_s * 1e3:.2f} | {gpu_s * 1e3:.3f} | "
                        f"{cpu_s / gpu_s:.1f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="T = 128 and 512 only, fewer repeats (seconds)")
    args = parser.parse_args(argv)
    lengths = (128, 512) if args.quick else (128, 512, 1024, 2048)
    repeats, rounds = (5, 2) if args.quick else (9, 3)

    print(f"torch {torch.__version__}, numpy {np.__version__}, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, "
          f"D = {D}, one head")
    print("\n1. NumPy against the same explicit computation in torch (CPU)")
    print("\n".join(numpy_against_torch(lengths, repeats, rounds)))
    print("\n2. Explicit torch attention against the fused "
          "F.scaled_dot_product_attention (CPU, float32)")
    print("\n".join(explicit_against_fused(lengths, repeats, rounds)))
    if torch.cuda.is_available():
        print(f"\n3. GPU ({torch.cuda.get_device_name()}) against CPU, "
              "forward, float32")
        print("\n".join(gpu_against_cpu(lengths, repeats, rounds)))
        print("\n4. Explicit against fused on the GPU, float32")
        print("\n".join(explicit_against_fused(lengths, repeats, rounds, "cuda")))
    else:
        print("\n3. GPU against CPU: skipped, no CUDA GPU on this machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
