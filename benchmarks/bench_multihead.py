"""Benchmark: the course's MultiHeadAttention against torch.nn.MultiheadAttention.

Forward plus backward with a causal mask, B=8, C=256, H=8, T in 256 and 1024,
on the CPU and on a CUDA GPU when there is one. Both modules hold the same
weights (`MultiHeadAttention.from_torch`). Every ratio is measured in this run:
course time / torch time, so below 1.0 means the course's module is faster.
The second table times the loop-of-heads teaching version against the batched
module.

    python benchmarks/bench_multihead.py           # full run
    python benchmarks/bench_multihead.py --quick   # T=256 only, fewer repeats
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import nn

from course_utils.attention import HeadLoopAttention, MultiHeadAttention, causal_mask
from course_utils.timing import compare

B, C, H = 8, 256, 8
# How a user passes a causal mask to torch's module and asks for no weights.
REFERENCE = "torch attn_mask, need_weights=False"


def train_step(module: nn.Module, call: Callable[[], torch.Tensor]) -> Callable:
    """One forward and backward pass; gradients are dropped, not accumulated."""

    def step() -> None:
        module.zero_grad(set_to_none=True)
        call().sum().backward()

    return step


def interleaved(steps: dict[str, Callable], repeats: int, device) -> dict[str, float]:
    """Best-of-`repeats` seconds per variant, timed round-robin, so that load from
    other processes on a shared machine falls on every variant alike."""
    times = compare(steps, rounds=repeats, repeats=1, warmup=1, device=device)
    return {name: min(t) for name, t in times.items()}


def modules(device: torch.device) -> tuple[nn.MultiheadAttention, MultiHeadAttention]:
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(C, H, batch_first=True).to(device)
    return reference, MultiHeadAttention.from_torch(reference)


def compare_with_torch(device, T, repeats) -> list[tuple[str, float, float]]:
    """Rows (variant, seconds, ratio to torch called with a causal attn_mask)."""
    reference, ours = modules(device)
    x = torch.randn(B, T, C, device=device)
    allowed = causal_mask(T, device=device)  # ours: True = may attend
    blocked = ~allowed  # torch's boolean attn_mask: True = may NOT attend

    torch_variants = {
        REFERENCE: lambda: reference(
            x, x, x, attn_mask=blocked, need_weights=False)[0],
        "torch attn_mask + is_causal hint, need_weights=False": lambda: reference(
            x, x, x, attn_mask=blocked, is_causal=True, need_weights=False)[0],
        "torch attn_mask, need_weights=True (default)": lambda: reference(
            x, x, x, attn_mask=blocked)[0],
    }
    course_variants = {
        "course is_causal=True": lambda: ours(x, is_causal=True),
        "course mask=causal_mask(T)": lambda: ours(x, mask=allowed),
        "course is_causal=True, return_weights": lambda: ours(
            x, is_causal=True, return_weights=True)[0],
    }
    with torch.no_grad():
        torch.testing.assert_close(
            ours(x, is_causal=True), torch_variants[next(iter(torch_variants))](),
            rtol=1e-4, atol=1e-5,
        )

    steps = {name: train_step(reference, call) for name, call in torch_variants.items()}
    steps |= {name: train_step(ours, call) for name, call in course_variants.items()}
    times = interleaved(steps, repeats, device)
    base = times[REFERENCE]
    return [(name, t, t / base) for name, t in times.items()]


def compare_loop(device, T, repeats) -> list[tuple[str, float, float]]:
    """Rows (variant, seconds, ratio to the batched fused module)."""
    _, batched = modules(device)
    loop = HeadLoopAttention.from_multihead(batched)
    x = torch.randn(B, T, C, device=device)
    steps = {
        "batched, fused (is_causal=True)": train_step(
            batched, lambda: batched(x, is_causal=True)),
        "batched, explicit (return_weights)": train_step(
            batched, lambda: batched(x, is_causal=True, return_weights=True)[0]),
        "loop of heads, explicit": train_step(loop, lambda: loop(x, is_causal=True)),
    }
    times = interleaved(steps, repeats, device)
    base = times["batched, fused (is_causal=True)"]
    return [(name, t, t / base) for name, t in times.items()]


def print_table(title: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'variant':<56} {'ms':>9} {'ratio':>7}")
    for name, seconds, ratio in rows:
        print(f"  {name:<56} {seconds * 1e3:9.1f} {ratio:7.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T=256 only, 3 repeats")
    args = parser.parse_args(argv)
    lengths = (256,) if args.quick else (256, 1024)
    repeats = 3 if args.quick else 7

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"B={B}, C={C}, H={H}; forward + backward, causal; best of {repeats} "
          "interleaved rounds")
    for device in devices:
        for T in lengths:
            where = f"{device.type}, T={T}"
            print_table(f"[{where}] ratio = time / '{REFERENCE}'",
                        compare_with_torch(device, T, repeats))
            print_table(f"[{where}] ratio = time / batched fused module",
                        compare_loop(device, T, repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
