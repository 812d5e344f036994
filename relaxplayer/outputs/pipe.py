"""``pipe`` / ``pipe:PATH``: raw signed 16-bit little-endian PCM to stdout or a FIFO.

For example a Snapcast ``pipe`` source for multi-room playback, or
``relaxplayer play -o pipe | aplay -t raw -f S16_LE -r 44100 -c 2``. A FIFO's
reader paces the writes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16


class PipeOutput(ThreadedOutput):
    name = "pipe"

    def __init__(self, path: Path | None, rate: int, channels: int) -> None:
        super().__init__(rate, channels)
        self.path = path
        self._stream: BinaryIO | None = None

    def _open(self) -> None:
        if self.path is None:
            if sys.stdout.isatty():
                raise OutputError(
                    "refusing to write raw audio to a terminal; pipe it into a player"
                )
            self._stream = sys.stdout.buffer
            return
        try:
            self._stream = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in _close
        except OSError as exc:
            raise OutputError(f"cannot open {self.path}: {exc.strerror}") from None

    def _write(self, block: np.ndarray) -> None:
        assert self._stream is not None
        self._stream.write(to_int16(block).tobytes())

    def _close(self, drain: bool) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
            if self.path is not None:
                self._stream.close()
        except (BrokenPipeError, OSError):
            pass
