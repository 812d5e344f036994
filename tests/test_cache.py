"""The cache folder: where it is, and that writes are all-or-nothing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from relaxplayer import cache


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RELAXPLAYER_CACHE")
    assert cache.cache_dir().name == "relaxplayer"


def test_key_is_stable_and_depends_on_every_part() -> None:
    assert cache.key("piper", 1.0, "hello") == cache.key("piper", 1.0, "hello")
    assert len(cache.key("x")) == 32
    assert len({cache.key("a", "bc"), cache.key("ab", "c"), cache.key("a", "b", "c")}) == 3


def test_a_failed_write_leaves_neither_entry_nor_temporary(tmp_path: Path) -> None:
    entry = tmp_path / "sub" / "entry.bin"

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        cache.atomic_write(entry, fail)
    assert not entry.exists() and list(entry.parent.iterdir()) == []


def test_last_writer_wins_without_a_validator(tmp_path: Path) -> None:
    entry = tmp_path / "entry.bin"
    cache.atomic_write(entry, lambda tmp: tmp.write_bytes(b"first"))
    cache.atomic_write(entry, lambda tmp: tmp.write_bytes(b"second"))
    assert entry.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.bin"]


def test_first_valid_writer_wins_and_a_damaged_entry_is_replaced(tmp_path: Path) -> None:
    entry = tmp_path / "entry.bin"
    whole = lambda p: p.read_bytes().startswith(b"ok")  # noqa: E731
    cache.atomic_write(entry, lambda tmp: tmp.write_bytes(b"ok 1"), valid=whole)
    cache.atomic_write(entry, lambda tmp: tmp.write_bytes(b"ok 2"), valid=whole)
    assert entry.read_bytes() == b"ok 1"  # the finished entry is kept
    entry.write_bytes(b"garbage")
    cache.atomic_write(entry, lambda tmp: tmp.write_bytes(b"ok 3"), valid=whole)
    assert entry.read_bytes() == b"ok 3"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.bin"]


def test_file_digest_is_the_content_hash_and_is_memoised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"weights" * 1000)
    first = cache.file_digest(model)
    assert first == __import__("hashlib").sha256(model.read_bytes()).hexdigest()
    assert len(list((tmp_path / "cache" / "digests").iterdir())) == 1
    model.write_bytes(b"other weights")
    os.utime(model, ns=(1, 1))
    assert cache.file_digest(model) != first


def test_cached_array_is_made_once_and_remade_when_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path))
    calls = []

    def make() -> np.ndarray:
        calls.append(1)
        return np.arange(1000, dtype=np.float32)

    assert np.array_equal(cache.cached_array("t", "ramp", make), np.arange(1000))
    assert np.array_equal(cache.cached_array("t", "ramp", make), np.arange(1000))
    assert len(calls) == 1
    path = tmp_path / "t" / "ramp.npy"
    path.write_bytes(path.read_bytes()[:100])  # cut short
    assert np.array_equal(cache.cached_array("t", "ramp", make), np.arange(1000))
    assert len(calls) == 2


def test_file_digest_memo_goes_to_the_folder_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path / "user"))
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"weights")
    digest = cache.file_digest(model, tmp_path / "mine")
    (memo,) = (tmp_path / "mine" / "digests").iterdir()
    assert memo.read_text(encoding="ascii") == digest
    assert not (tmp_path / "user").exists()
    assert cache.file_digest(model, tmp_path / "mine") == digest
