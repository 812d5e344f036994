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
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16

READER_WAIT = 5.0  # seconds to wait for a FIFO's reader


class PipeOutput(ThreadedOutput):
    name = "pipe"
    realtime = False

    def __init__(self, path: Path | None, rate: int, channels: int) -> None:
        super().__init__(rate, channels)
        self.path = path
        self.retryable = path is not None
        self._stream: BinaryIO | None = None

    def _open(self) -> None:
        if self.path is None:
            if sys.stdout.isatty():
                raise OutputError(
                    "refusing to write raw audio to a terminal; pipe it into a player"
                )
            self._stream = sys.stdout.buffer
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
        assert self._stream is not None
        try:
            self._stream.write(to_int16(block).tobytes())
        except BrokenPipeError:
            where = self.path or "stdout"
            raise OutputError(f"nothing is reading {where} any more (the reader quit)") from None

    def _close(self, drain: bool) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
            if self.path is not None:
                self._stream.close()
        except (BrokenPipeError, OSError):
            pass
