"""The one protocol every audio output follows, and what most of them share.

Pull model: the output asks for audio when *it* needs some (from its own
thread or a device callback), so the device's clock paces everything and the
player never guesses with ``sleep()``. ``pull(n)`` never raises. For an output
with a clock (``realtime``) it never blocks and returns silence when there is
nothing to play; for one without (a file, a pipe) it blocks instead of giving
silence that would only stand for waiting, may return fewer than ``n`` frames
for the session's last block, and returns none once the player is ending.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np

Pull = Callable[[int], np.ndarray]
# Frames per pull: 35 ms at 44.1 kHz. Small enough that a pause is heard within about
# 110 ms (a block's wait plus the device's latency), large enough that playing costs
# under 2 % of a core (1024: 2.5 %, measured in benchmarks/bench_play.py).
BLOCK = 1536
INT16_SCALE = np.float32(32767.0)  # symmetric: +1.0 -> 32767, -1.0 -> -32767


class Output(Protocol):
    """What the player drives. ``error`` and ``underruns`` are written by the output's thread.

    ``realtime``: the output has a clock that must be fed (a sound card, null):
    the player gives it silence while paused or waiting for the voice. False
    (file, pipe): the player blocks in ``pull`` instead, so nothing but the
    session is ever written. ``retryable``: after a failure a new output of the
    same kind may carry on (a device came back); False (a file: reopening would
    truncate it) makes the failure final at once.
    """

    name: str
    rate: int
    channels: int
    error: Exception | None
    underruns: int
    realtime: bool
    retryable: bool

    def start(self, pull: Pull) -> None:
        """Open the device and begin playing; ``pull(n)`` gives float32 ``(n, channels)``."""
        ...

    def frames_played(self) -> int:
        """Frames the listener has heard so far: pulled minus what is still buffered."""
        ...

    def latency_frames(self) -> int:
        """Frames between pulling a frame and hearing it (current estimate)."""
        ...

    def stop(self, drain: bool = True) -> None:
        """Stop; with ``drain`` let what is buffered play out first, else cut at once."""
        ...


def to_int16(block: np.ndarray, dither: np.random.Generator | None = None) -> np.ndarray:
    """float32 [-1, 1] -> little-endian int16: the one conversion every 16-bit path uses.

    Without ``dither`` it rounds, so a rendered file, a pipe and a sound card get
    the very same samples (the tests rely on that). With a generator it adds
    TPDF dither of +-1 LSB peak before rounding, which turns the truncation
    distortion of very quiet fades into a steady hiss at about -101 dBFS.
    """
    scaled = np.multiply(block, INT16_SCALE, dtype=np.float32)
    if dither is not None:
        scaled += dither.random(scaled.shape, dtype=np.float32)
        scaled -= dither.random(scaled.shape, dtype=np.float32)
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768, 32767, out=scaled)
    return scaled.astype("<i2")


class ThreadedOutput:
    """An output fed by a writer thread: pull a block, hand it to ``_write`` (which blocks).

    The blocking write is what paces the thread: a pipe into ``aplay`` is only
    taken as fast as the sound card plays. Subclasses implement ``_open``,
    ``_write``, ``_buffered`` (frames written but not yet heard), ``_close`` and
    optionally ``_interrupt`` (unblock a pending write when stopping at once).
    A failure in the thread is recorded in ``error`` and ends the thread; the
    player decides what to do.
    """

    name = "threaded"
    realtime = True  # see Output; subclasses without a clock say False
    retryable = True

    def __init__(self, rate: int, channels: int, block: int = BLOCK) -> None:
        self.rate = rate
        self.channels = channels
        self.block = block
        self.error: Exception | None = None
        self.underruns = 0
        self._written = 0  # frames handed to the device; written by the thread only
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
                if block.shape[0] == 0:  # a non-real-time output's player is ending
                    continue
                self._write(block)
                self._written += block.shape[0]
        except Exception as exc:  # the device went away: record, stop, let the player decide
            self.error = exc

    def frames_played(self) -> int:
        return max(self._written - self._buffered(), 0)

    def latency_frames(self) -> int:
        return self._buffered()

    def stop(self, drain: bool = True) -> None:
        self._stop.set()
        if not drain:
            self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._close(drain and self.error is None)

    def _open(self) -> None:
        raise NotImplementedError

    def _write(self, block: np.ndarray) -> None:
        raise NotImplementedError

    def _buffered(self) -> int:
        return 0

    def _interrupt(self) -> None:
        return None

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
