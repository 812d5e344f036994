"""``file:PATH``: write what would be played to a 16-bit WAV file, as fast as it is produced.

It has no clock (``realtime`` False): the player never hands it silence for
time spent paused or waiting for the voice, so the file equals ``render``'s.
Written with the standard ``wave`` module over an unbuffered file so that a
write error keeps its errno (libsndfile only says "System error."); a full
disk is one clear, final error (``retryable`` False: reopening would
truncate what was written).
"""

from __future__ import annotations

import errno
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16


class FileOutput(ThreadedOutput):
    name = "file"
    realtime = False
    retryable = False

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        super().__init__(rate, channels)
        self.path = path
        self._raw: BinaryIO | None = None
        self._wav: wave.Wave_write | None = None

    def _open(self) -> None:
        try:
            self._raw = open(self.path, "wb", buffering=0)  # noqa: SIM115 (closed in _close)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        self._wav = wave.open(self._raw, "wb")  # noqa: SIM115 (closed in _close)
        self._wav.setnchannels(self.channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.rate)

    def _write(self, block: np.ndarray) -> None:
        assert self._wav is not None
        try:
            self._wav.writeframesraw(to_int16(block).tobytes())
        except OSError as exc:
            raise OutputError(self._explain(exc)) from None

    def _explain(self, exc: OSError) -> str:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"no space left on device writing {self.path}"
        return f"cannot write {self.path}: {exc.strerror or exc}"

    def _close(self, drain: bool) -> None:
        """Patch the header's sizes (a failed disk may refuse even that: the error said so)."""
        try:
            if self._wav is not None:
                self._wav.close()
        except OSError:
            pass
        finally:
            self._wav = None
            if self._raw is not None:
                self._raw.close()
                self._raw = None
