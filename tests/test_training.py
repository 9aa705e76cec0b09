"""Tests for course_utils.training: schedule, loss estimate, loop, resuming."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.gpt import GPT, GPTConfig, load_checkpoint, save_checkpoint
from course_utils.training import (
    History,
    TrainConfig,
    estimate_loss,
    lr_at,
    make_optimizer,
    train,
)

CONFIG = GPTConfig(vocab_size=8, block_size=16, n_layer=2, n_head=2, n_embd=32)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def toy_data(n: int = 4000) -> torch.Tensor:
    """A learnable sequence: a repeating pattern with a little noise."""
    gen = torch.Generator().manual_seed(0)
    pattern = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 3, 1]).repeat(n // 10)
    noise = torch.rand(len(pattern), generator=gen) < 0.05
    return torch.where(noise, torch.zeros_like(pattern), pattern)


def fresh_model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(CONFIG)


def test_schedule_warms_up_then_decays_to_min():
    cfg = TrainConfig(max_iters=1000, warmup_iters=100, learning_rate=1e-3,
                      min_lr=1e-4)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    lrs = [lr_at(s, cfg) for s in range(100, 1001)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    middle = lr_at(550, cfg)  # halfway through the cosine: halfway in value
    assert middle == pytest.approx(1e-4 + 0.5 * 9e-4)
    assert lr_at(5000, cfg) == pytest.approx(1e-4)


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="max_iters must be a positive int"):
        TrainConfig(max_iters=0)
    with pytest.raises(ValueError, match="min_lr=0.1, learning_rate=0.001"):
        TrainConfig(min_lr=0.1)


def test_weight_decay_spares_vectors():
    model = fresh_model()
    decayed, plain = make_optimizer(model, TrainConfig()).param_groups
    assert all(p.ndim == 2 for p in decayed["params"]) and decayed["weight_decay"] > 0
    assert all(p.ndim == 1 for p in plain["params"]) and plain["weight_decay"] == 0
    total = sum(p.numel() for g in (decayed, plain) for p in g["params"])
    assert total == model.num_parameters()


def test_estimate_loss_is_deterministic_and_restores_mode():
    model = fresh_model()
    data = toy_data()
    a = estimate_loss(model, data, 16)
    b = estimate_loss(model, data, 16, batch_size=7)
    assert a == pytest.approx(b, rel=1e-5)
    assert abs(a - math.log(8)) < 0.1  # untrained: about a uniform guess
    assert model.training
    sub = estimate_loss(model, data, 16, max_windows=10)
    assert abs(sub - a) < 0.2


def test_training_lowers_the_loss_and_records_history(capsys):
    model = fresh_model()
    data = toy_data()
    train_data, val_data = data[:3200], data[3200:]
    cfg = TrainConfig(max_iters=60, batch_size=8, eval_interval=20, warmup_iters=5,
                      learning_rate=3e-3, eval_windows=32)
    calls = []
    history = train(model, train_data, val_data, cfg, progress=False,
                    callback=lambda step, h: calls.append(step))
    assert isinstance(history, History)
    assert history.steps == [0, 20, 40, 60] == calls
    assert len(history.step_losses) == len(history.learning_rates) == 60
    assert len(history.train_losses) == len(history.val_losses) == 4
    assert history.val_losses[-1] < 0.6 * history.val_losses[0]
    assert history.seconds > 0
    assert capsys.readouterr().out == ""  # package code never prints


def test_training_is_reproducible_under_a_seed():
    data = toy_data()
    cfg = TrainConfig(max_iters=15, batch_size=4, eval_interval=15, warmup_iters=2,
                      eval_windows=8)
    runs = [train(fresh_model(), data[:3000], data[3000:], cfg, progress=False)
            for _ in range(2)]
    assert runs[0].step_losses == runs[1].step_losses


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    data = toy_data()
    train_data, val_data = data[:3000], data[3000:]
    cfg = TrainConfig(max_iters=20, batch_size=4, eval_interval=10, warmup_iters=3,
                      eval_windows=8)
    straight = fresh_model()
    whole = train(straight, train_data, val_data, cfg, progress=False)

    # Stop after step 10 through the callback (a stopped kernel, say),
    # keeping the full run's learning-rate schedule.
    second = fresh_model()
    optimizer = make_optimizer(second, cfg)
    saved = {}

    def stop_at_10(step, history):
        if step == 10:
            saved["path"] = save_checkpoint(tmp_path / "ck.pt", second, optimizer, step)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(second, train_data, val_data, cfg, optimizer=optimizer,
              callback=stop_at_10, progress=False)
    resumed, step = load_checkpoint(saved["path"])
    new_optimizer = make_optimizer(resumed, cfg)
    load_checkpoint(saved["path"], model=resumed, optimizer=new_optimizer)
    rest = train(resumed, train_data, val_data, cfg, optimizer=new_optimizer,
                 start_step=step, progress=False)

    assert step == 10 and rest.steps == [10, 20]
    assert rest.step_losses == whole.step_losses[10:]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_start_step_out_of_range_is_rejected():
    data = toy_data()
    with pytest.raises(ValueError, match="start_step must be in 0..max_iters=5"):
        train(fresh_model(), data, data, TrainConfig(max_iters=5), start_step=6,
              progress=False)
