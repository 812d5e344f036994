"""The user cache folder: synthesized speech and ambience loops, written crash-safe.

Every entry is written to a temporary file in the same folder, fsynced and
renamed into place, so a crash, a full disk or two processes writing the same
entry at once can never leave a half-written file under the final name.
Entries are pure functions of their key, so a lost or corrupt one is simply
made again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import platformdirs


def cache_dir() -> Path:
    """``$RELAXPLAYER_CACHE`` or the platform's user cache folder."""
    return Path(os.environ.get("RELAXPLAYER_CACHE") or platformdirs.user_cache_dir("relaxplayer"))


def key(*parts: object) -> str:
    """A stable file-name-safe key for the parts that determine an entry."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:32]


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
