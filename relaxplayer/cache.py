"""The user cache folder: synthesized speech, decoded clips and ambience loops, written crash-safe.

Every entry is written to a temporary file in the same folder, fsynced and
renamed (or hard-linked) into place, so a crash, a full disk or two processes
writing the same entry at once can never leave a half-written file under the
final name. Entries are pure functions of their key, so a lost or corrupt one
is simply made again.

The cache is not trusted on the way back in: every entry carries a SHA-256 of
everything it depends on (header and samples), readers open only regular files
(never through a symlink, never a FIFO or a device, see ``open_entry``), and a
damaged entry is removed and made again. A cache that cannot be written (read
only, full) is not an error: the sound is made in memory and one notice is
recorded for the command to print (``notices``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import platformdirs

PART_SUFFIX = ".part"  # temporary files: ``.<stem>.<random><suffix>.part`` beside the entry
NPY_CHECK = b"RPCK"  # trailer after a cached .npy's data: this tag + SHA-256 of all bytes before it
MAX_SMALL_ENTRY = 1 << 20  # digest memos and the like: anything bigger is damage, not an entry

_notices: list[str] = []
_noticed: set[str] = set()


def notice(message: str) -> None:
    """Record ``message`` once per process, for the command to print (the core never prints)."""
    if message not in _noticed:
        _noticed.add(message)
        _notices.append(message)


def notices() -> list[str]:
    """The notices recorded since the last call (each message only ever once), oldest first."""
    taken = list(_notices)
    _notices.clear()
    return taken


def unwritable(folder: Path, exc: OSError) -> None:
    """Note that the cache folder could not be written: sounds are made in memory instead."""
    reason = exc.strerror or str(exc)
    if folder.is_relative_to(cache_dir()):  # one warning for the whole cache, not per subfolder
        folder = cache_dir()
    notice(
        f"warning: cannot write to the cache folder {folder}: {reason}; sounds are made in "
        "memory instead (slower to start); free some space or set RELAXPLAYER_CACHE"
    )


_scratch: list[Path] = []


def scratch_dir(create: bool = True) -> Path:
    """A private temporary folder, removed at exit, for entries an unwritable cache cannot hold.

    Only for files too big to make in memory (a decoded hour of m4a, a long
    ambience loop); everything else is simply made in memory. With
    ``create=False`` and no such folder yet, a path that does not exist.
    """
    if not _scratch and not create:
        return Path(tempfile.gettempdir()) / f"relaxplayer-none-{os.getpid()}"
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="relaxplayer-")))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]


def open_entry(path: Path) -> BinaryIO | None:
    """``path`` opened for reading if it is a regular file, else None (missing or not a file).

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat`` before a
    single byte is read: a symlink (to ``/dev/zero``, say) is never followed
    and a FIFO never blocks the player. A non-regular entry is removed, so the
    next writer can put a real one in its place.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError:  # ELOOP: a symlink; ENXIO: a FIFO nobody writes; EACCES ...
        discard(path)
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            discard(path)
            return None
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None


def read_entry(path: Path, limit: int | None = None) -> bytes | None:
    """The bytes of a regular-file entry (see ``open_entry``), or None; None too past ``limit`` bytes."""
    f = open_entry(path)
    if f is None:
        return None
    with f:
        try:
            if limit is not None and os.fstat(f.fileno()).st_size > limit:
                return None
            return f.read()
        except OSError:
            return None


def discard(path: Path) -> None:
    """Remove a damaged entry if the folder allows it (a read-only cache keeps it, harmlessly)."""
    with contextlib.suppress(OSError):
        if not path.is_dir():
            path.unlink()


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
    info = path.stat()
    memo = (folder or cache_dir()) / "digests" / key(path.resolve(), info.st_size, info.st_mtime_ns)
    blob = read_entry(memo, limit=MAX_SMALL_ENTRY)
    text = blob.decode("ascii", "replace").strip() if blob else ""
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text
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
    and can be dropped by the kernel, which keeps resident memory low. The
    file is a plain ``.npy`` followed by ``NPY_CHECK`` and the SHA-256 of the
    header and data, so a flipped byte anywhere, a wrong shape, a zero-byte
    file or an old entry without the trailer is removed and made again. An
    unwritable cache is not an error: the array is returned from memory.
    """
    path = cache_dir() / folder / f"{name}.npy"
    found = load_array(path)
    if found is not None:
        return found
    discard(path)
    data = np.ascontiguousarray(make(), dtype=np.float32)
    try:
        atomic_write(path, lambda tmp: _save(tmp, data))
    except OSError as exc:
        unwritable(path.parent, exc)
    return data


def load_array(path: Path) -> np.ndarray | None:
    """A checksummed float32 ``.npy`` entry, memory-mapped; None unless it is whole and valid."""
    f = open_entry(path)
    if f is None:
        return None
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size < 64 + len(NPY_CHECK) + 32:
                return None
            digest = hashlib.sha256()
            remaining = size - len(NPY_CHECK) - 32
            while remaining > 0:
                block = f.read(min(remaining, 1 << 20))
                if not block:
                    return None
                digest.update(block)
                remaining -= len(block)
            if f.read() != NPY_CHECK + digest.digest():
                return None
            f.seek(0)
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
        except (OSError, ValueError):
            return None
        frames_ok = len(shape) in (1, 2) and shape[0] > 0 and (len(shape) == 1 or 0 < shape[1] <= 8)
        nbytes = int(np.prod(shape)) * 4 if frames_ok else -1
        if dtype != np.float32 or fortran or nbytes != size - offset - len(NPY_CHECK) - 32:
            return None
        return np.memmap(f, dtype=np.float32, mode="r", shape=shape, offset=offset)


def _save(path: Path, data: np.ndarray) -> None:
    with open(path, "wb+") as f:  # a file object: np.save would add ".npy" to a path
        np.save(f, data, allow_pickle=False)
        f.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
        f.write(NPY_CHECK + digest.digest())
