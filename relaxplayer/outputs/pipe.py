"""``pipe`` / ``pipe:PATH``: raw signed 16-bit little-endian PCM to stdout or a FIFO.

For example a Snapcast ``pipe`` source for multi-room playback, or
``relaxplayer play -o pipe | aplay -t raw -f S16_LE -r 44100 -c 2``. A FIFO's
reader paces the writes.

A pipe has no clock of its own (``realtime`` False): a blocking write is paced
by the reader when the reader is one (aplay, snapserver), and by nothing when
it is a file or an encoder. So the player never writes silence that stands
for waiting: while paused or waiting for the voice it writes nothing (after
a fade), a clocked reader goes idle (snapserver) or underruns (aplay), and
``play -o pipe > x.raw`` gets exactly what ``render`` gives. A FIFO may be
reopened after its reader quit (snapserver restarted: ``retryable``); stdout
cannot.

``serve`` holds its FIFO (``hold_fifo``): it makes the FIFO and keeps it open,
read-write, for its whole life, and each session writes through a copy of that
descriptor. snapserver then never reads an end of file between sessions, only
an empty pipe (it sends silence, then goes idle); Debian 12's snapserver 0.26
stops reading a FIFO for good after its first end of file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16

READER_WAIT = 5.0  # seconds to wait for a FIFO's reader (or, held, for it to read again)

_held: dict[Path, int] = {}  # FIFOs held open read-write for the process's life
_held_lock = threading.Lock()


def hold_fifo(path: Path) -> Callable[[], None]:
    """Make ``path`` a FIFO if it is not one yet and keep it open; returns the release.

    Opened read-write (Linux), so the open never waits for a reader and the
    reader never sees an end of file while this process lives, however many
    sessions come and go. Raises ``OutputError`` when it cannot be made or opened.
    """
    key = path.absolute()
    try:
        if not path.exists():
            os.mkfifo(path, 0o644)
        if not stat.S_ISFIFO(path.stat().st_mode):
            raise OutputError(f"{path} is not a FIFO; remove it, or choose another pipe:PATH")
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        raise OutputError(f"cannot make the FIFO {path}: {exc.strerror}") from None
    with _held_lock:
        old = _held.pop(key, None)
        _held[key] = fd
    if old is not None:
        os.close(old)

    def release() -> None:
        with _held_lock:
            if _held.get(key) == fd:
                del _held[key]
                os.close(fd)

    return release


def _discard(fd: int) -> None:
    """Empty the FIFO (the held descriptor reads too): what nobody read in time is dropped."""
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 65536):
            pass


def _held_copy(path: Path) -> int | None:
    """A duplicate of the held descriptor for ``path`` (closing it is no end of file), or None."""
    with _held_lock:
        fd = _held.get(path.absolute())
        return None if fd is None else os.dup(fd)


class PipeOutput(ThreadedOutput):
    name = "pipe"
    realtime = False

    def __init__(self, path: Path | None, rate: int, channels: int) -> None:
        super().__init__(rate, channels)
        self.path = path
        self.retryable = path is not None
        self._stream: BinaryIO | None = None
        self._held_fd: int | None = None  # a copy of serve's held FIFO (non-blocking)
        self._cut = threading.Event()  # stop without draining: drop what is not written yet

    def _open(self) -> None:
        if self.path is None:
            if sys.stdout.isatty():
                raise OutputError(
                    "refusing to write raw audio to a terminal; pipe it into a player"
                )
            self._stream = sys.stdout.buffer
            return
        self._held_fd = _held_copy(self.path)
        if self._held_fd is not None:
            return
        self._stream = os.fdopen(self._open_path(self.path), "wb", buffering=0)

    @staticmethod
    def _open_path(path: Path) -> int:
        """Open for writing without hanging when nobody reads a FIFO: wait up to
        ``READER_WAIT`` seconds for a reader (e.g. snapserver), then say so."""
        deadline = time.monotonic() + READER_WAIT
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CREAT, 0o644)
            except OSError as exc:
                if exc.errno == errno.ENXIO and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if exc.errno == errno.ENXIO:
                    raise OutputError(
                        f"nothing reads the FIFO {path}; start its reader (e.g. snapserver) first"
                    ) from None
                raise OutputError(f"cannot open {path}: {exc.strerror}") from None
            os.set_blocking(fd, True)  # from here the reader paces the writes
            return fd

    def _write(self, block: np.ndarray) -> None:
        if self._held_fd is not None:
            self._write_held(self._held_fd, to_int16(block).tobytes())
            return
        assert self._stream is not None
        try:
            self._stream.write(to_int16(block).tobytes())
        except BrokenPipeError:
            where = self.path or "stdout"
            raise OutputError(f"nothing is reading {where} any more (the reader quit)") from None

    def _write_held(self, fd: int, data: bytes) -> None:
        """Write all of ``data`` as the reader makes room (it paces us), unless cut short.

        The held descriptor is non-blocking (it is shared), so a reader that has
        stopped reading shows as no room for ``READER_WAIT`` seconds: an
        ``OutputError`` then, rather than a thread blocked for ever.
        """
        view = memoryview(data)
        waited_since = time.monotonic()
        while view and not self._cut.is_set():
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                n = 0
            if n:
                view, waited_since = view[n:], time.monotonic()
                continue
            if time.monotonic() - waited_since > READER_WAIT:
                _discard(fd)  # a reader that comes later must not hear this stale audio
                raise OutputError(
                    f"nothing has read the FIFO {self.path} for {READER_WAIT:g} s; "
                    "is its reader (e.g. snapserver) running?"
                )
            select.select([], [fd], [], 0.05)

    def _interrupt(self) -> None:
        self._cut.set()

    def _close(self, drain: bool) -> None:
        if self._held_fd is not None:
            os.close(self._held_fd)  # the held original stays open: no end of file
            self._held_fd = None
            return
        if self._stream is None:
            return
        try:
            self._stream.flush()
            if self.path is not None:
                self._stream.close()
        except (BrokenPipeError, OSError):
            pass
