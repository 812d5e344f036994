"""The user cache folder: synthesized speech, decoded clips and ambience loops, written crash-safe.

Every entry is written to a temporary file in the same folder, fsynced and
renamed (or hard-linked) into place, so a crash, a full disk or two processes
writing the same entry at once can never leave a half-written file under the
final name. Entries are pure functions of their key, so a lost or corrupt one
is simply made again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import platformdirs

PART_SUFFIX = ".part"  # temporary files: ``.<stem>.<random><suffix>.part`` beside the entry


def cache_dir() -> Path:
    """``$RELAXPLAYER_CACHE`` or the platform's user cache folder (``~/.cache/relaxplayer``)."""
    return Path(os.environ.get("RELAXPLAYER_CACHE") or platformdirs.user_cache_dir("relaxplayer"))


def key(*parts: object) -> str:
    """A stable file-name-safe key (32 hex digits) for the parts that determine an entry."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:32]


def atomic_write(
    path: Path, write: Callable[[Path], None], valid: Callable[[Path], bool] | None = None
) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, fsync it, then put it in place.

    With ``valid``, the first writer wins: the entry is hard-linked into place
    only if nothing is there yet, and a valid entry another process finished
    first is kept (ours is dropped). Every reader then sees the same bytes, even
    from an engine that never says a line the same way twice. Without
    ``valid``, the last writer wins (``os.replace``). Either way the final name
    only ever holds a complete file; on any failure the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix + PART_SUFFIX, dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _place(tmp, path, valid)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return path


def _place(tmp: Path, path: Path, valid: Callable[[Path], bool] | None) -> None:
    if valid is None:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic "create if absent"
    except FileExistsError:
        if not valid(path):
            os.replace(tmp, path)  # a damaged entry: ours replaces it
    except OSError:
        os.replace(tmp, path)  # a file system without hard links (FAT, some network shares)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable, so a power cut cannot lose a finished entry."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open folders; its renames are journalled anyway
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_digest(path: Path, folder: Path | None = None) -> str:
    """SHA-256 of a (large) file's content, memoised by path, size and mtime.

    Hashing a 60 MB voice model costs about 0.2 s (seconds on a Pi); the memo
    makes it a one-off per model file. It goes in ``<folder>/digests``, the
    folder of the cache being used (``cache_dir()`` by default), so a caller
    with its own cache folder never writes to the user's. An unwritable cache
    just means hashing again.
    """
    stat = path.stat()
    memo = (folder or cache_dir()) / "digests" / key(path.resolve(), stat.st_size, stat.st_mtime_ns)
    try:
        text = memo.read_text(encoding="ascii").strip()
        if len(text) == 64:
            return text
    except (OSError, UnicodeDecodeError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    text = digest.hexdigest()
    with contextlib.suppress(OSError):  # an unwritable cache: hash again next time
        atomic_write(memo, lambda tmp: tmp.write_text(text, encoding="ascii"))
    return text


def cached_array(folder: str, name: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """A float32 array from ``<cache>/<folder>/<name>.npy``, made and stored on first use.

    The array is memory-mapped read-only: pages are loaded as they are played
    and can be dropped by the kernel, which keeps resident memory low. A file
    that cannot be read is replaced; an unwritable cache is not an error.
    """
    path = cache_dir() / folder / f"{name}.npy"
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        if data.dtype == np.float32 and data.size:
            return data
    except (OSError, ValueError):
        pass
    data = make()
    try:
        atomic_write(path, lambda tmp: _save(tmp, data))
    except OSError:
        return data
    return data


def _save(path: Path, data: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a path
        np.save(f, data, allow_pickle=False)
