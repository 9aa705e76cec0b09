"""Training the tiny GPT: AdamW, warm-up then cosine decay (notebook 06).

`train` runs the loop with a progress bar (tqdm's notebook widget in
Jupyter) and returns a `History` of losses instead of printing. The batch of
step s depends only on (seed, s), so a run resumed from a checkpoint sees the
same batches as one that never stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import get_batch


@dataclass
class TrainConfig:
    """Settings of one training run; defaults are notebook 06's CPU setup."""

    max_iters: int = 2000
    batch_size: int = 12
    learning_rate: float = 1e-3
    # Cosine decay ends at a tenth of the peak rate rather than zero: the
    # last steps still learn, but take small, careful steps.
    min_lr: float = 1e-4
    # A short linear warm-up: Adam's moment estimates are poor for the first
    # steps, and full-size steps on them can throw the weights far off.
    warmup_iters: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    # 0.99 instead of Adam's usual 0.999: with few tokens per step the
    # gradients are noisy, and a shorter memory adapts faster.
    beta2: float = 0.99
    # Clipping the gradient norm at 1 guards against rare huge steps.
    grad_clip: float = 1.0
    eval_interval: int = 250
    # Validation during training reads this many windows of each split
    # (evenly spaced), enough for a smooth curve at a small cost.
    eval_windows: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_iters", "batch_size", "eval_interval", "eval_windows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.warmup_iters, int) or self.warmup_iters < 0:
            raise ValueError(
                f"warmup_iters must be a non-negative int, got {self.warmup_iters!r}"
            )
        if not 0.0 <= self.min_lr <= self.learning_rate:
            raise ValueError(
                f"need 0 <= min_lr <= learning_rate, got min_lr={self.min_lr}, "
                f"learning_rate={self.learning_rate}"
            )
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise ValueError(f"seed must be an int in [0, 2**31), got {self.seed!r}")


@dataclass
class History:
    """What a run recorded: per-step losses and periodic evaluations."""

    steps: list[int] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    seconds: float = 0.0


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate of step `step`: linear warm-up, then cosine decay.

    Steps 0..warmup-1 rise linearly to the peak; from there a half cosine
    falls to min_lr at max_iters, and stays there after.
    """
    if step < config.warmup_iters:
        return config.learning_rate * (step + 1) / config.warmup_iters
    span = max(1, config.max_iters - config.warmup_iters)
    progress = min(1.0, (step - config.warmup_iters) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return config.min_lr + cosine * (config.learning_rate - config.min_lr)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms' or biases' vectors).

    Decay pulls weights towards zero; a LayerNorm's scale or a bias has no
    reason to be small, so those get none.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in params if p.ndim >= 2]
    vectors = [p for p in params if p.ndim < 2]
    groups = [
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": vectors, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=config.learning_rate, betas=(config.beta1, config.beta2)
    )


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    data: torch.Tensor,
    block_size: int,
    max_windows: int | None = None,
    batch_size: int = 64,
) -> float:
    """Mean next-token loss over non-overlapping windows of a 1-d id tensor.

    With `max_windows`, that many windows spread evenly over the data. No
    randomness: the same model and data always give the same number.
    """
    if not isinstance(data, torch.Tensor) or data.ndim != 1:
        raise ValueError("data must be a 1-d tensor of token ids")
    n_windows = (len(data) - 1) // block_size
    if n_windows < 1:
        raise ValueError(
            f"data has {len(data)} tokens; need at least block_size + 1 = "
            f"{block_size + 1}"
        )
    starts = torch.arange(n_windows) * block_size
    if max_windows is not None and max_windows < n_windows:
        keep = torch.linspace(0, n_windows - 1, max_windows).round().long()
        starts = starts[keep]
    rows = starts[:, None] + torch.arange(block_size)  # (N, 1) + (T,) -> (N, T)

    device = _model_device(model)
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            x, y = data[chunk].to(device), data[chunk + 1].to(device)
            _, loss = model(x, y)
            total += loss.item() * len(chunk)
    finally:
        model.train(was_training)
    return total / len(rows)


def train(
    model: nn.Module,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    start_step: int = 0,
    callback: Callable[[int, History], None] | None = None,
    progress: bool = True,
) -> History:
    """Train `model` from step `start_step` to config.max_iters; returns History.

    Evaluates both splits at the start, every eval_interval steps and at the
    end. `callback(step, history)` runs after each evaluation (to save a
    checkpoint, say). Pass the `optimizer` of a checkpoint and its step to
    resume; otherwise a fresh one comes from `make_optimizer`.
    """
    config = config or TrainConfig()
    block_size = model.config.block_size
    if not 0 <= start_step <= config.max_iters:
        raise ValueError(
            f"start_step must be in 0..max_iters={config.max_iters}, got {start_step}"
        )
    optimizer = optimizer or make_optimizer(model, config)
    device = _model_device(model)
    history = History()
    generator = torch.Generator()

    def evaluate(step: int) -> None:
        windows = config.eval_windows
        history.steps.append(step)
        history.train_losses.append(
            estimate_loss(model, train_data, block_size, windows)
        )
        history.val_losses.append(estimate_loss(model, val_data, block_size, windows))
        bar.set_postfix(train=f"{history.train_losses[-1]:.3f}",
                        val=f"{history.val_losses[-1]:.3f}")
        if callback is not None:
            callback(step, history)

    start = time.perf_counter()
    model.train()
    # A refresh every 2 s at most: in Jupyter each refresh is a message to
    # the front end, and a runner that reads them only after the cell ends
    # (nbval) drops a long run's flood of them, then waits in vain.
    with tqdm(total=config.max_iters, initial=start_step, desc="training",
              disable=not progress, mininterval=2.0) as bar:
        evaluate(start_step)
        for step in range(start_step, config.max_iters):
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # The batch depends on (seed, step) only: resuming repeats it.
            generator.manual_seed(config.seed * 2**32 + step)
            x, y = get_batch(train_data, config.batch_size, block_size,
                             generator=generator, device=device)

            _, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()

            history.step_losses.append(loss.item())
            history.learning_rates.append(lr)
            bar.update(1)
            done = step + 1
            if done % config.eval_interval == 0 or done == config.max_iters:
                evaluate(done)
    history.seconds = time.perf_counter() - start
    return history
