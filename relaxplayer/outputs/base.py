"""The one protocol every audio output follows, and what most of them share.

Pull model: the output asks for audio when *it* needs some (from its own
thread or a device callback), so the device's clock paces everything and the
player never guesses with ``sleep()``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np

Pull = Callable[[int], np.ndarray]
BLOCK = 1024  # frames per pull: 23 ms at 44.1 kHz, small enough for a quick pause


class Output(Protocol):
    name: str
    rate: int
    channels: int
    error: BaseException | None
    underruns: int

    def start(self, pull: Pull) -> None:
        """Begin playing; ``pull(n)`` returns the next ``n`` frames, float32 ``(n, channels)``."""
        ...

    def frames_played(self) -> int:
        """Frames the listener has heard so far: pulled minus what is still buffered."""
        ...

    def latency_frames(self) -> int:
        """Frames between pulling a block and hearing it."""
        ...

    def stop(self, drain: bool = True) -> None:
        """Stop; with ``drain`` let what is buffered play out first."""
        ...


def to_int16(block: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> little-endian int16, rounded: the one conversion every 16-bit path uses,
    so a rendered file, a pipe and a sound card get the very same samples."""
    scaled = block * np.float32(32767.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768, 32767, out=scaled)
    return scaled.astype("<i2")


class ThreadedOutput:
    """An output fed by a writer thread: pull a block, hand it to ``_write`` (which blocks).

    Subclasses implement ``_open``, ``_write``, ``_buffered`` (frames written
    but not yet heard) and ``_close``. A failure in the thread is recorded in
    ``error``; the thread then stops, and the player decides what to do.
    """

    name = "threaded"

    def __init__(self, rate: int, channels: int, block: int = BLOCK) -> None:
        self.rate = rate
        self.channels = channels
        self.block = block
        self.error: BaseException | None = None
        self.underruns = 0
        self._written = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pull: Pull) -> None:
        self._open()
        self._thread = threading.Thread(
            target=self._run, args=(pull,), name=f"output-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self, pull: Pull) -> None:
        try:
            while not self._stop.is_set():
                block = pull(self.block)
                self._write(block)
                self._written += block.shape[0]
        except BaseException as exc:  # the device went away: record, stop, let the player decide
            self.error = exc

    def frames_played(self) -> int:
        return max(self._written - self._buffered(), 0)

    def latency_frames(self) -> int:
        return self._buffered()

    def stop(self, drain: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._close(drain and self.error is None)

    def _open(self) -> None:
        raise NotImplementedError

    def _write(self, block: np.ndarray) -> None:
        raise NotImplementedError

    def _buffered(self) -> int:
        return 0

    def _close(self, drain: bool) -> None:
        raise NotImplementedError


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence C libraries (ALSA, PortAudio) that print probing noise straight to fd 2."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
