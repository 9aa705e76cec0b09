"""Tests for course_utils.data: corpus, tokenizer, batches, checked download."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.data import (
    CharTokenizer,
    DownloadError,
    download_text,
    get_batch,
    python_docs_corpus,
    train_val_split,
)


@pytest.fixture(scope="module")
def corpus() -> str:
    return python_docs_corpus()


def test_corpus_is_large_english_text_and_deterministic(corpus):
    assert len(corpus) > 300_000
    assert corpus == python_docs_corpus()
    assert "statement" in corpus and "def " in corpus


def test_split_is_contiguous_and_covers_everything(corpus):
    train, val = train_val_split(corpus, val_fraction=0.1)
    assert train + val == corpus
    assert abs(len(val) - 0.1 * len(corpus)) <= 1


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split("abc", val_fraction=1.5)
    with pytest.raises(ValueError, match="empty"):
        train_val_split("ab", val_fraction=0.01)


def test_tokenizer_vocabulary_is_sorted_characters(corpus):
    tok = CharTokenizer.from_text(corpus)
    assert tok.chars == sorted(set(corpus))
    assert tok.vocab_size == len(set(corpus))
    assert tok.decode(tok.encode(corpus[:5000])) == corpus[:5000]


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="abc xyz\n(){}'\"", min_size=0, max_size=60))
def test_tokenizer_round_trip(text):
    tok = CharTokenizer.from_text("abc xyz\n(){}'\"")
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(torch.tensor(ids, dtype=torch.long)) == text


def test_unknown_character_is_named():
    tok = CharTokenizer.from_text("hello")
    with pytest.raises(KeyError, match=r"'z' \(U\+007A\) at position 2"):
        tok.encode("hez")


def test_decode_rejects_out_of_range_ids():
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError, match="outside 0..1"):
        tok.decode([0, 5])


def test_tokenizer_rejects_repeated_characters():
    with pytest.raises(ValueError, match="repeat"):
        CharTokenizer(["a", "a"])


def test_batches_are_shifted_windows():
    data = torch.arange(100)
    gen = torch.Generator().manual_seed(0)
    x, y = get_batch(data, batch_size=5, block_size=8, generator=gen)
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(y, x + 1)  # data[i] == i, so the next token is i + 1
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # windows are contiguous
    assert int(y.max()) <= 99


def test_batches_repeat_under_a_seed():
    data = torch.arange(1000)
    a = get_batch(data, 4, 16, generator=torch.Generator().manual_seed(3))
    b = get_batch(data, 4, 16, generator=torch.Generator().manual_seed(3))
    c = get_batch(data, 4, 16, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])


def test_batch_rejects_too_short_data():
    with pytest.raises(ValueError, match="block_size=8"):
        get_batch(torch.arange(8), 2, 8)


# The checked download, against a server on 127.0.0.1 started by the test.

BODY = b"To be, or not to be, that is the question.\n" * 200
GOOD_SHA = hashlib.sha256(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/good":
            self._send(BODY, len(BODY))
        elif self.path == "/truncated":
            # Promise the whole body, send half, close: a cut connection.
            self._send(BODY[: len(BODY) // 2], len(BODY))
        elif self.path == "/wrong":
            self._send(BODY.upper(), len(BODY))
        else:
            self.send_error(404)

    def _send(self, payload: bytes, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_download_verifies_and_caches(server, tmp_path):
    path = download_text(f"{server}/good", GOOD_SHA, "book.txt", cache_dir=tmp_path)
    assert path == tmp_path / "book.txt"
    assert path.read_bytes() == BODY
    assert [p.name for p in tmp_path.iterdir()] == ["book.txt"]
    # A verified cached copy is returned without asking the server again.
    again = download_text(
        f"{server}/missing", GOOD_SHA, "book.txt", cache_dir=tmp_path
    )
    assert again == path


def test_truncated_download_leaves_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match="incomplete|IncompleteRead"):
        download_text(f"{server}/truncated", GOOD_SHA, "book.txt", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wrong_bytes_fail_the_checksum_and_leave_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match="checksum mismatch.*expected sha256"):
        download_text(f"{server}/wrong", GOOD_SHA, "book.txt", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cached_copy_is_replaced(server, tmp_path):
    (tmp_path / "book.txt").write_bytes(b"half a book")
    path = download_text(f"{server}/good", GOOD_SHA, "book.txt", cache_dir=tmp_path)
    assert path.read_bytes() == BODY


def test_failed_request_leaves_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match="failed"):
        download_text(f"{server}/nothing-here", GOOD_SHA, "b.txt", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be 64 hex digits"):
        download_text("https://example.org/a", "abc", "a.txt", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="url must start with"):
        download_text("file:///etc/passwd", GOOD_SHA, "a.txt", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        download_text("https://example.org/a", GOOD_SHA, "../a.txt", cache_dir=tmp_path)
