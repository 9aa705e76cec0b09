"""Text, characters and batches for the tiny GPT (notebook 06).

The corpus is the help text of Python's own documentation, which CPython
ships in the standard library (`pydoc_data.topics`), so every learner has it
without a download. Its exact size depends on the Python version. A larger
corpus can be fetched on request with `download_text`, checked against a
SHA-256 checksum and cached; the notebook never needs it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import torch

CACHE_ENV_VAR = "COURSE_DATA_DIR"


def python_docs_corpus() -> str:
    """Python's help topics (`pydoc_data.topics`), joined in sorted key order.

    The topics come as a dict {name: help text}; sorting the names makes the
    string the same on every run of a given Python version.
    """
    from pydoc_data.topics import topics

    if not isinstance(topics, dict) or not topics:
        raise RuntimeError("pydoc_data.topics.topics is not a non-empty dict")
    return "\n".join(topics[name] for name in sorted(topics))


def train_val_split(data, val_fraction: float = 0.1) -> tuple:
    """Split a sequence into (first part, last part) at 1 - val_fraction.

    A contiguous tail rather than random characters: training windows then
    never overlap validation ones, so the validation loss measures text the
    model has not seen.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n = len(data)
    cut = int(round(n * (1.0 - val_fraction)))
    if cut < 1 or cut >= n:
        raise ValueError(
            f"cannot split {n} items with val_fraction={val_fraction}: one part "
            "would be empty"
        )
    return data[:cut], data[cut:]


class CharTokenizer:
    """Characters <-> integer ids, one id per distinct character (notebook 06)."""

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"chars must be single characters, got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not repeat a character")
        if not chars:
            raise ValueError("chars must hold at least one character")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """A tokenizer whose vocabulary is the sorted set of text's characters."""
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """'ab' -> [id of 'a', id of 'b']; an unknown character raises KeyError."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
            c = text[pos]
            raise KeyError(
                f"character {c!r} (U+{ord(c):04X}) at position {pos} is not in the "
                "vocabulary: the tokenizer only knows the characters of the text "
                "it was built from"
            ) from None

    def decode(self, ids) -> str:
        """[ids] or a 1-d tensor of ids -> the string they stand for."""
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 1:
                raise ValueError(f"ids must be 1-d, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"id {i} is outside 0..{self.vocab_size - 1}")
            out.append(self.chars[i])
        return "".join(out)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-d id tensor: -> inputs x (B, T), targets y (B, T).

    y is x shifted one place left: y[b, t] is the token that follows
    x[b, :t + 1], the answer the model must predict at position t.
    """
    if not isinstance(data, torch.Tensor) or data.ndim != 1:
        raise ValueError("data must be a 1-d tensor of token ids")
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if len(data) <= block_size:
        raise ValueError(
            f"data has {len(data)} tokens; need more than block_size={block_size}"
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    rows = starts[:, None] + offsets  # (B, 1) + (T,) -> (B, T) positions
    x, y = data[rows], data[rows + 1]
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


def default_cache_dir() -> Path:
    """$COURSE_DATA_DIR, else ~/.cache/course_utils."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "course_utils"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DownloadError(RuntimeError):
    """A download failed, was cut short, or did not match its checksum."""


def download_text(
    url: str,
    sha256: str,
    filename: str,
    cache_dir: str | Path | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch `url` into cache_dir/filename unless a verified copy is there.

    The bytes go to a temporary file in the cache folder, hashed as they
    arrive; only when their SHA-256 equals `sha256` is the file renamed to its
    final name. A failed, partial or wrong download raises DownloadError and
    leaves no file behind, so the cache never holds a corrupt copy.
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"url must start with https:// or http://, got {url!r}")
    sha256 = sha256.lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    if not filename or Path(filename).name != filename:
        raise ValueError(f"filename must be a plain file name, got {filename!r}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / filename
    if target.is_file() and _sha256_of(target) == sha256:
        return target

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
            url, timeout=timeout
        ) as response:
            expected_size = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        if expected_size is not None and received != int(expected_size):
            raise DownloadError(
                f"download of {url} incomplete: got {received} of "
                f"{expected_size} bytes"
            )
        actual = digest.hexdigest()
        if actual != sha256:
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got "
                f"{actual} ({received} bytes); the file was not cached"
            )
        os.replace(tmp, target)
    except DownloadError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, http.client.HTTPException, ValueError) as err:
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"download of {url} failed ({type(err).__name__}: {err}); nothing "
            "was cached"
        ) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
