"""A tiny GPT assembled from the course's pieces (notebook 06).

Token and position embeddings (the inputs of notebook 01), pre-norm blocks of
the causal `MultiHeadAttention` (notebooks 04 and 05) and a GELU MLP joined by
residual connections, a final LayerNorm and a language-model head that turns
each position's vector into scores over the vocabulary. Shapes use the course
legend: B batch, T tokens, C model width, H heads, V vocabulary size.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention

CHECKPOINT_FORMAT = "course-utils-gpt"
CHECKPOINT_VERSION = 1


@dataclass
class GPTConfig:
    """Sizes of a GPT. The defaults are the small CPU setup of notebook 06."""

    vocab_size: int
    # 64 characters of context: long enough to close a quote or a bracket
    # opened a line earlier, short enough that a CPU trains in minutes
    # (attention's cost grows with block_size squared).
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    # No dropout: 2000 steps see the corpus about three times, too few to
    # overfit much, and dropout would slow the learning we can afford.
    dropout: float = 0.0
    # Biases in the linear layers and LayerNorms add parameters but, in
    # models like this, no measurable quality; without them a step is faster.
    bias: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"n_embd must be divisible by n_head: got n_embd={self.n_embd}, "
                f"n_head={self.n_head}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")


def _dropout(p: float) -> nn.Module:
    # With p = 0 an Identity skips the dropout call (and its copy) entirely.
    return nn.Dropout(p) if p > 0 else nn.Identity()


class MLP(nn.Module):
    """Per-token feed-forward network: (B, T, C) -> (B, T, 4C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        C = config.n_embd
        self.fc = nn.Linear(C, 4 * C, bias=config.bias)
        self.proj = nn.Linear(4 * C, C, bias=config.bias)
        self.drop = _dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """One pre-norm transformer block: x (B, T, C) -> (B, T, C) (notebook 06).

    x + attention(norm(x)), then x + mlp(norm(x)): each sub-layer adds a
    correction to the residual stream instead of replacing it.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        C = config.n_embd
        self.ln_1 = nn.LayerNorm(C, bias=config.bias)
        self.attn = MultiHeadAttention(
            C, config.n_head, dropout=config.dropout, bias=config.bias
        )
        self.drop = _dropout(config.dropout)
        self.ln_2 = nn.LayerNorm(C, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        if return_weights:
            update, weights = self.attn(
                self.ln_1(x), is_causal=True, return_weights=True
            )
        else:
            update = self.attn(self.ln_1(x), is_causal=True)
        x = x + self.drop(update)

        x = x + self.mlp(self.ln_2(x))
        return (x, weights) if return_weights else x


class GPT(nn.Module):
    """A decoder-only transformer language model (notebook 06).

    idx (B, T) token ids -> logits (B, T, V): at each position, scores for
    the next token, computed from that position and earlier ones only.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        C = config.n_embd
        self.tok_emb = nn.Embedding(config.vocab_size, C)
        self.pos_emb = nn.Embedding(config.block_size, C)
        self.drop = _dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        # Weight tying: the head scores token v by the dot product of the
        # final vector with v's own embedding, so similar tokens get similar
        # scores, and the model has V * C fewer parameters to learn.
        self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # Each block adds two projections to the residual stream; scaling
        # their initial weights by 1/sqrt(2 * n_layer) keeps the stream's
        # variance about the same however many blocks there are.
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.proj.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # Small weights (std 0.02) make the first logits nearly equal, so the
        # loss at initialisation is close to ln(V), the loss of a uniform guess.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self, include_embeddings: bool = True) -> int:
        """Number of trainable numbers; a tied weight is counted once."""
        total = sum(p.numel() for p in self.parameters())
        if not include_embeddings:
            total -= self.pos_emb.weight.numel() + self.tok_emb.weight.numel()
        return total

    def _check_idx(self, idx: torch.Tensor, name: str = "idx") -> None:
        if not isinstance(idx, torch.Tensor) or idx.ndim != 2:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx)
            raise ValueError(
                f"{name} must be a (B, T) tensor of token ids, got {shape}"
            )
        if idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"{name} must hold integer token ids, got {idx.dtype}")
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(
                f"sequence of length T={T} is longer than the model's "
                f"block_size={self.config.block_size}; crop it to the last "
                f"{self.config.block_size} tokens"
            )
        if T == 0:
            raise ValueError(f"{name} must hold at least one token, got shape (B, 0)")

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        positions = torch.arange(T, device=idx.device)
        # (B, T, C) + (T, C) broadcasts one position vector over the batch.
        return self.drop(self.tok_emb(idx) + self.pos_emb(positions))

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) -> (logits (B, T, V), mean cross-entropy or None)."""
        self._check_idx(idx)
        x = self._embed(idx)  # (B, T) -> (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, C) -> (B, T, V)

        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(
                f"targets must have the shape of idx {tuple(idx.shape)}, got "
                f"{tuple(targets.shape)}"
            )
        V = logits.shape[-1]
        # (B, T, V) -> (B*T, V) and (B, T) -> (B*T,): one prediction per row.
        loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def attention_weights(self, idx: torch.Tensor) -> torch.Tensor:
        """Every head's weights: idx (B, T) -> (n_layer, B, H, T, T), eval mode."""
        self._check_idx(idx)
        was_training = self.training
        self.eval()
        try:
            x = self._embed(idx)
            all_weights = []
            for block in self.blocks:
                x, weights = block(x, return_weights=True)  # weights (B, H, T, T)
                all_weights.append(weights)
        finally:
            self.train(was_training)
        return torch.stack(all_weights)  # n_layer x (B, H, T, T) -> (L, B, H, T, T)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend idx (B, T0) by sampling, -> (B, T0 + max_new_tokens).

        Each step feeds the last block_size tokens (older ones fall out of
        the context), divides the last position's logits by `temperature`,
        keeps only the `top_k` largest when given, and samples from the
        softmax. Runs in eval mode; pass a seeded `generator` to repeat a
        sample exactly.
        """
        if not isinstance(idx, torch.Tensor) or idx.ndim != 2 or idx.shape[1] == 0:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx)
            raise ValueError(f"idx must be a (B, T) tensor with T >= 1, got {shape}")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(
                f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}"
            )
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        V = self.config.vocab_size
        if top_k is not None and (
            not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= V
        ):
            raise ValueError(f"top_k must be None or an int in 1..{V}, got {top_k!r}")

        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                context = idx[:, -self.config.block_size :]
                logits, _ = self(context)
                probs = next_token_probs(logits[:, -1, :], temperature, top_k)
                next_idx = torch.multinomial(probs, 1, generator=generator)
                idx = torch.cat([idx, next_idx], dim=1)  # (B, T) -> (B, T + 1)
        finally:
            self.train(was_training)
        return idx


def next_token_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None
) -> torch.Tensor:
    """Sampling probabilities from last-position logits (B, V) -> (B, V).

    softmax(logits / temperature), with every token outside the top_k largest
    logits given probability zero (notebook 06).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (B, V), got {tuple(logits.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    scaled = logits / temperature
    if top_k is not None:
        if not 1 <= top_k <= logits.shape[-1]:
            raise ValueError(
                f"top_k must be in 1..V={logits.shape[-1]}, got {top_k!r}"
            )
        kth_largest = torch.topk(scaled, top_k, dim=-1).values[:, -1:]  # (B, 1)
        scaled = scaled.masked_fill(scaled < kth_largest, float("-inf"))
    return torch.softmax(scaled, dim=-1)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or does not fit the model."""


def _digest(obj, digest=None) -> str:
    """SHA-256 of nested dicts, lists and tensors: names, dtypes, shapes, bytes."""
    digest = digest or hashlib.sha256()
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"tensor {t.dtype} {tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=repr):
            digest.update(repr(key).encode())
            _digest(obj[key], digest)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__} {len(obj)}".encode())
        for item in obj:
            _digest(item, digest)
    else:
        digest.update(repr(obj).encode())
    return digest.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: GPT,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
) -> Path:
    """Write the model's weights and config (and optimizer state) to `path`.

    Only tensors, numbers and strings are stored, so `load_checkpoint` can
    read the file with torch.load(weights_only=True), which runs no code. A
    SHA-256 of the contents is stored too: torch.load alone would accept a
    file whose weight bytes were damaged.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a GPT, got {type(model).__name__}")
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": asdict(model.config),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": int(step),
    }
    payload["sha256"] = _digest(payload)
    torch.save(payload, path)
    return path


def _read_checkpoint(path: Path, map_location) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # any failure to unpickle means a damaged file
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is corrupted, truncated or "
            f"not a checkpoint ({type(err).__name__}: {str(err)[:200]})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a course GPT checkpoint (expected format "
            f"{CHECKPOINT_FORMAT!r}, written by save_checkpoint)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')!r}; this "
            f"course_utils reads version {CHECKPOINT_VERSION}"
        )
    stored = payload.pop("sha256", None)
    if stored != _digest(payload):
        raise CheckpointError(
            f"cannot use checkpoint {path}: its contents do not match the "
            "checksum stored when it was saved; the file is corrupted"
        )
    return payload


def load_checkpoint(
    path: str | Path,
    model: GPT | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: torch.device | str | None = "cpu",
) -> tuple[GPT, int]:
    """Read a checkpoint written by `save_checkpoint`: returns (model, step).

    Without `model` a new GPT is built from the stored config; with one, its
    config must equal the stored one. With `optimizer`, its state is restored
    too, so training resumes where it stopped.
    """
    path = Path(path)
    payload = _read_checkpoint(path, map_location)
    known = {f.name for f in fields(GPTConfig)}
    stored = payload.get("config")
    if not isinstance(stored, dict) or set(stored) != known:
        raise CheckpointError(
            f"{path}: stored config has fields "
            f"{sorted(stored) if isinstance(stored, dict) else stored!r}, "
            f"expected {sorted(known)}"
        )
    config = GPTConfig(**stored)

    if model is None:
        model = GPT(config)
        if map_location is not None:
            model = model.to(map_location)
    elif model.config != config:
        ours = asdict(model.config)
        differ = [
            f"{name}: checkpoint {stored[name]!r}, model {ours[name]!r}"
            for name in sorted(known)
            if stored[name] != ours[name]
        ]
        raise CheckpointError(
            f"{path} does not fit this model; config differs in " + "; ".join(differ)
        )
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path}: stored weights do not fit the config ({str(err)[:300]})"
        ) from err

    if optimizer is not None:
        state = payload.get("optimizer")
        if state is None:
            raise CheckpointError(
                f"{path} holds no optimizer state; save it with "
                "save_checkpoint(path, model, optimizer) to resume training"
            )
        try:
            optimizer.load_state_dict(state)
        except (ValueError, KeyError) as err:
            raise CheckpointError(
                f"{path}: stored optimizer state does not fit this optimizer ({err})"
            ) from err
    return model, int(payload.get("step", 0))
