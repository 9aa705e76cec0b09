"""Tests for course_utils.gpt: shapes, loss, causality, sampling, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.attention import MultiHeadAttention
from course_utils.gpt import (
    GPT,
    Block,
    CheckpointError,
    GPTConfig,
    load_checkpoint,
    next_token_probs,
    save_checkpoint,
)

SMALL = GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=32)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def small_model(seed: int = 0, **changes) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(**{**SMALL.__dict__, **changes})
    return GPT(config)


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_embd=30, n_head=4"):
        GPTConfig(vocab_size=5, n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        GPTConfig(vocab_size=0)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(vocab_size=5, dropout=1.0)


def test_shapes_and_loss():
    model = small_model()
    idx = torch.randint(11, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, 11) and loss is None
    logits, loss = model(idx, torch.randint(11, (3, 10)))
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_blocks_use_the_course_attention():
    model = small_model()
    assert all(isinstance(b.attn, MultiHeadAttention) for b in model.blocks)
    assert model.lm_head.weight is model.tok_emb.weight  # tied


def test_parameter_count_by_hand():
    model = small_model()
    C, V, T, L = 32, 11, 16, 2
    per_block = 4 * C * C + 2 * (4 * C * C) + 2 * C  # attn, MLP, two LayerNorms
    expected = V * C + T * C + L * per_block + C  # embeddings, blocks, final norm
    assert model.num_parameters() == expected
    assert model.num_parameters(include_embeddings=False) == expected - V * C - T * C


def test_loss_at_initialisation_is_close_to_log_vocab():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2,
                          n_embd=32))
    idx = torch.randint(65, (8, 32))
    _, loss = model(idx, torch.randint(65, (8, 32)))
    assert abs(loss.item() - math.log(65)) < 0.05


def test_too_long_sequence_names_both_numbers():
    model = small_model()
    with pytest.raises(ValueError, match="T=17 .*block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_bad_idx_and_targets_are_rejected():
    model = small_model()
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="targets must have the shape"):
        model(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long))


def test_overfits_one_small_batch():
    torch.manual_seed(0)
    model = small_model()
    x = torch.randint(11, (4, 16))
    y = torch.roll(x, -1, dims=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1


@settings(max_examples=25, deadline=None)
@given(t=st.integers(0, 14), seed=st.integers(0, 1000))
def test_changing_a_later_token_never_changes_earlier_logits(t, seed):
    model = small_model(seed=1).eval()
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(11, (2, 16), generator=gen)
    changed = idx.clone()
    changed[:, t + 1 :] = (changed[:, t + 1 :] + 1) % 11
    with torch.no_grad():
        before, _ = model(idx)
        after, _ = model(changed)
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1],
                               rtol=0, atol=1e-5)
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


def test_block_with_weights_matches_fused_path_and_weights_are_causal():
    model = small_model().eval()
    x = torch.randn(2, 9, 32)
    block = model.blocks[0]
    with torch.no_grad():
        fused = block(x)
        explicit, weights = block(x, return_weights=True)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    assert weights.shape == (2, 2, 9, 9)
    assert torch.all(weights.triu(diagonal=1) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 9))
    assert isinstance(block, Block)


def test_attention_weights_of_every_layer():
    model = small_model()
    weights = model.attention_weights(torch.randint(11, (3, 7)))
    assert weights.shape == (2, 3, 2, 7, 7)  # (layers, B, H, T, T)
    assert model.training  # the mode is restored


def test_generate_crops_context_and_repeats_under_a_seed():
    model = small_model()
    start = torch.zeros(2, 3, dtype=torch.long)
    out1 = model.generate(start, 40, generator=torch.Generator().manual_seed(5))
    out2 = model.generate(start, 40, generator=torch.Generator().manual_seed(5))
    assert out1.shape == (2, 43)  # far beyond block_size=16: the context was cropped
    assert torch.equal(out1, out2)
    assert torch.equal(out1[:, :3], start)
    torch.manual_seed(7)
    a = model.generate(start, 10)
    torch.manual_seed(7)
    b = model.generate(start, 10)
    assert torch.equal(a, b)


def test_generate_sees_at_most_block_size_tokens():
    model = small_model()
    seen = []
    model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    model.generate(torch.zeros(1, 10, dtype=torch.long), 20)
    assert max(seen) == 16 and seen[0] == 10


def test_generate_validates_arguments():
    model = small_model()
    idx = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        model.generate(idx, 3, temperature=0)
    with pytest.raises(ValueError, match=r"top_k must be None or an int in 1..11"):
        model.generate(idx, 3, top_k=12)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(idx, -1)


def test_top_k_one_is_greedy_and_low_temperature_sharpens():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    probs = next_token_probs(logits, top_k=1)
    assert torch.equal(probs, torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    two = next_token_probs(logits, top_k=2)
    assert two[0, 0] == 0 and two[0, 3] == 0
    torch.testing.assert_close(two.sum(), torch.tensor(1.0))
    cold = next_token_probs(logits, temperature=0.5)
    hot = next_token_probs(logits, temperature=2.0)
    assert cold[0, 1] > torch.softmax(logits, -1)[0, 1] > hot[0, 1]


def test_checkpoint_round_trip_with_optimizer(tmp_path):
    model = small_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(11, (2, 8))
    _, loss = model(x, x)
    loss.backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "gpt.pt", model, optimizer, step=1)

    loaded, step = load_checkpoint(path)
    assert step == 1 and loaded.config == model.config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    fresh_opt = torch.optim.AdamW(loaded.parameters(), lr=1e-3)
    load_checkpoint(path, model=loaded, optimizer=fresh_opt)
    assert fresh_opt.state_dict()["state"][0]["step"] == 1


def test_corrupted_checkpoint_raises_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "gpt.pt", small_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted, truncated"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupted, truncated"):
        load_checkpoint(path)


def test_damaged_weight_bytes_fail_the_stored_checksum(tmp_path):
    path = save_checkpoint(tmp_path / "gpt.pt", small_model())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the weights: torch.load still reads it
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        load_checkpoint(path)


def test_foreign_file_and_mismatched_model_are_rejected(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a course GPT checkpoint"):
        load_checkpoint(other)
    path = save_checkpoint(tmp_path / "gpt.pt", small_model())
    with pytest.raises(CheckpointError, match="n_embd: checkpoint 32, model 64"):
        load_checkpoint(path, model=small_model(n_embd=64))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, optimizer=torch.optim.SGD([torch.zeros(1)], lr=0.1))
