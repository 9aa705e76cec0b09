"""The tiny GPT of notebook 06: speed against PyTorch's own layers, and quality.

    .venv/bin/python benchmarks/bench_gpt.py            # full: speed + 2000 steps
    .venv/bin/python benchmarks/bench_gpt.py --quick    # smoke test, seconds
    .venv/bin/python benchmarks/bench_gpt.py --gpu-config   # larger model, on a GPU

Speed: one training step (forward, backward, AdamW) of the course's GPT
against a model of the same size whose blocks are torch.nn.TransformerEncoderLayer
(pre-norm, causal mask, GELU, same widths), both timed in this run, the two
measured in alternating rounds so that load from other processes hits both.
Required: ratio <= 1.0. Quality: validation loss after the full run on the
Python-documentation corpus; goal <= 1.45.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils.data import (  # noqa: E402
    CharTokenizer,
    get_batch,
    python_docs_corpus,
    train_val_split,
)
from course_utils.device import get_device, seed_everything  # noqa: E402
from course_utils.gpt import GPT, GPTConfig  # noqa: E402
from course_utils.timing import compare  # noqa: E402
from course_utils.training import (  # noqa: E402
    TrainConfig,
    estimate_loss,
    make_optimizer,
    train,
)

QUALITY_GOAL = 1.45
SPEED_REQUIRED = 1.0


class TorchLayersGPT(nn.Module):
    """The same GPT with blocks from torch.nn.TransformerEncoderLayer."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        C = config.n_embd
        self.tok_emb = nn.Embedding(config.vocab_size, C)
        self.pos_emb = nn.Embedding(config.block_size, C)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                C, config.n_head, dim_feedforward=4 * C, dropout=config.dropout,
                activation="gelu", batch_first=True, norm_first=True,
                bias=config.bias,
            )
            for _ in range(config.n_layer)
        )
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx, targets):
        T = idx.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        logits = self.lm_head(self.ln_f(x))  # (B, T, C) -> (B, T, V)
        V = logits.shape[-1]
        loss = nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1))
        return logits, loss


def step_fn(model, optimizer, x, y):
    def step():
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def speed(config: GPTConfig, train_cfg: TrainConfig, data, device, rounds: int):
    """Median step seconds of (course GPT, torch-layers GPT) and their ratio."""
    seed_everything(0)
    ours = GPT(config).to(device)
    theirs = TorchLayersGPT(config).to(device)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_theirs = sum(p.numel() for p in theirs.parameters())
    if n_ours != n_theirs:
        raise RuntimeError(f"sizes differ: {n_ours} vs {n_theirs} parameters")
    gen = torch.Generator().manual_seed(0)
    x, y = get_batch(data, train_cfg.batch_size, config.block_size, gen, device)
    steps = {
        "course GPT": step_fn(ours, make_optimizer(ours, train_cfg), x, y),
        "nn.TransformerEncoderLayer": step_fn(
            theirs, make_optimizer(theirs, train_cfg), x, y
        ),
    }
    times = compare(steps, rounds=rounds, repeats=10, warmup=3, device=device)
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["course GPT"] / medians["nn.TransformerEncoderLayer"]
    return medians, ratio, n_ours


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only")
    parser.add_argument(
        "--gpu-config", action="store_true",
        help="a larger model (6 layers, 6 heads, width 384, block 256, batch 64, "
        "5000 steps) for a GPU",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or mps")
    args = parser.parse_args(argv)

    device = get_device(args.device)
    text = python_docs_corpus()
    tokenizer = CharTokenizer.from_text(text)
    data = torch.tensor(tokenizer.encode(text))
    train_data, val_data = train_val_split(data)
    config = GPTConfig(vocab_size=tokenizer.vocab_size)
    train_cfg = TrainConfig()
    if args.gpu_config:
        config = replace(config, n_layer=6, n_head=6, n_embd=384, block_size=256,
                         dropout=0.2)
        train_cfg = replace(train_cfg, batch_size=64, max_iters=5000,
                            warmup_iters=200, eval_interval=500)
    if args.quick:
        train_cfg = replace(train_cfg, max_iters=40, warmup_iters=5, eval_interval=20)

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()},"
          f" {torch.get_num_threads()} threads, device {device}")
    print(f"corpus: {len(text):,} characters, vocabulary {tokenizer.vocab_size}")
    medians, ratio, n_params = speed(config, train_cfg, train_data, device,
                                     rounds=2 if args.quick else 5)
    print(f"\nmodel: {config}\nparameters: {n_params:,}\n")
    print(f"{'one training step':<32}{'ms':>10}")
    for name, seconds in medians.items():
        print(f"{name:<32}{seconds * 1e3:>10.2f}")
    verdict = "ok" if ratio <= SPEED_REQUIRED else "TOO SLOW"
    print(f"{'ratio course / torch':<32}{ratio:>10.3f}  (required <= 1.0: {verdict})")

    seed_everything(0)  # the notebook's seed: the same run as notebook 06
    model = GPT(config).to(device)
    history = train(model, train_data, val_data, train_cfg, progress=False)
    start = time.perf_counter()
    val_loss = estimate_loss(model, val_data, config.block_size)
    eval_s = time.perf_counter() - start
    print(f"\ntraining: {train_cfg.max_iters} steps of {train_cfg.batch_size} x "
          f"{config.block_size} tokens in {history.seconds:.1f} s "
          f"({1e3 * history.seconds / train_cfg.max_iters:.1f} ms per step, "
          f"with {len(history.steps)} evaluations)")
    print(f"validation loss, whole split: {val_loss:.4f} ({eval_s:.1f} s)")
    if not args.quick and not args.gpu_config:
        verdict = "ok" if val_loss <= QUALITY_GOAL else "MISSED"
        print(f"quality goal <= {QUALITY_GOAL}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
