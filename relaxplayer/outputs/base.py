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

import contextlib
import os
import re
import select
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TextIO

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


def name_native_thread(name: str) -> None:
    """Give the calling thread ``name`` (15 bytes at most) where ``top -H`` and /proc show it.

    Python 3.11 leaves every thread called "python"; the small-board benchmark
    tells the audio thread's CPU time from the others' by this name. Linux only,
    never fatal.
    """
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    with contextlib.suppress(OSError), open(path, "w") as comm:
        comm.write(name[:15])


AUDIO_THREAD = "relax-audio"  # the native name of every output's audio thread


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
                if not self._written:  # named after the first block: nothing delays that one
                    name_native_thread(AUDIO_THREAD)
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


class Chatter:
    """Lines the C audio libraries printed on fd 2: counted, the last few kept.

    alsa-lib ("ALSA lib pcm.c:8740:(snd_pcm_recover) underrun occurred") and
    PortAudio write straight to file descriptor 2, which would push the status
    panel down a line each time; ``capture_stderr`` brings them here instead.
    """

    def __init__(self, keep: int = 5) -> None:
        self.count = 0
        self.last: deque[str] = deque(maxlen=keep)
        self.alsa_only = True  # every line so far came from alsa-lib
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        with self._lock:
            self.count += 1
            self.last.append(line)
            self.alsa_only &= line.startswith("ALSA lib")

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self.last.clear()
            self.alsa_only = True

    def summary(self) -> str | None:
        """One line for ``-v``: who printed how many lines, and the last one; None if nothing."""
        with self._lock:
            if not self.count:
                return None
            last, who = self.last[-1], "alsa-lib" if self.alsa_only else "audio libraries"
        plural = "s" if self.count != 1 else ""
        return f"{who} printed {self.count} line{plural} (last: {last})"


CHATTER = Chatter()  # while an output is open (what `play -v` reports)
PROBE_CHATTER = Chatter()  # while devices are probed and listed (what `outputs -v` reports)


# Lines the audio libraries print: alsa-lib (its plugins too), PortAudio, the JACK client
# library the ALSA jack plugin loads. Anything else on fd 2 is passed on to the real stderr:
# it may be the last words of a crash ("terminate called ...", "Fatal Python error").
LIBRARY_LINE = re.compile(
    rb"ALSA lib |Expression '|PaAlsa|PortAudio|Cannot connect to server|jack server|JackShm"
    rb"|Cannot lock down|.*underrun"
)


class _Fd2Capture:
    """fd 2 pointed at a pipe whose reader thread files the libraries' lines in a ``Chatter``.

    Python's own ``sys.stderr`` (click's messages, tracebacks) keeps reaching the
    user: when it writes to fd 2 it is swapped, while capturing, for a stream on a
    duplicate of the real stderr. Other lines on fd 2 are copied to the real
    stderr as they come. Nested and concurrent uses share one capture; lines go
    to the ``Chatter`` of the outermost.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = -1
        self._python: TextIO | None = None
        self._swapped: TextIO | None = None
        self._reader: threading.Thread | None = None
        self._done = threading.Event()

    def enter(self, chatter: Chatter) -> None:
        with self._lock:
            self._depth += 1
            if self._depth > 1:
                return
            try:
                saved = os.dup(2)
                echo = os.dup(2)
                r, w = os.pipe()
            except OSError:
                return
            self._saved = saved
            self._swap_python_stderr(saved)
            os.dup2(w, 2)
            os.close(w)
            self._done = threading.Event()
            self._reader = threading.Thread(
                target=_read_lines,
                args=(r, echo, chatter, self._done),
                name="stderr-chatter",
                daemon=True,
            )
            self._reader.start()

    def _swap_python_stderr(self, saved: int) -> None:
        try:
            sys.stderr.flush()
            writes_fd2 = sys.stderr.fileno() == 2
        except (AttributeError, OSError, ValueError):  # pytest's or click's capture: leave it
            writes_fd2 = False
        if not writes_fd2:
            return
        self._python = sys.stderr
        self._swapped = open(  # noqa: SIM115 - closed in exit()
            os.dup(saved),
            "w",
            buffering=1,
            encoding=sys.stderr.encoding,
            errors=sys.stderr.errors or "backslashreplace",
        )
        sys.stderr = self._swapped

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0 or self._saved < 0:
                return
            if self._swapped is not None:
                self._swapped.flush()
                if sys.stderr is self._swapped and self._python is not None:
                    sys.stderr = self._python
                self._swapped.close()
                self._python = self._swapped = None
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = -1
            self._done.set()
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.join(timeout=1.0)


def _read_lines(fd: int, echo: int, chatter: Chatter, done: threading.Event) -> None:
    """Until fd 2 is given back (then what is left in the pipe), sort each line:
    the libraries' into ``chatter``, anything else on to the real stderr (``echo``)."""
    pending = b""

    def sort(line: bytes) -> None:
        if LIBRARY_LINE.match(line):
            chatter.add(line.decode(errors="replace"))
        elif line.strip():
            with contextlib.suppress(OSError):
                os.write(echo, line + b"\n")

    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                if done.is_set():
                    break
                continue
            data = os.read(fd, 65536)
            if not data:  # every writer closed: no child process kept a copy
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                sort(line)
    finally:
        sort(pending)
        os.close(fd)
        os.close(echo)


_FD2 = _Fd2Capture()


@contextmanager
def capture_stderr(chatter: Chatter = CHATTER) -> Iterator[Chatter]:
    """Keep what C libraries print on fd 2 off the terminal, counted in ``chatter``."""
    _FD2.enter(chatter)
    try:
        yield chatter
    finally:
        _FD2.exit()


def quiet_stderr() -> AbstractContextManager[Chatter]:
    """Probing noise of C libraries (ALSA, PortAudio) kept off the terminal, counted apart."""
    return capture_stderr(PROBE_CHATTER)
