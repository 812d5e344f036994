"""``file:PATH``: write what would be played to a WAV file, as fast as it is produced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16


class FileOutput(ThreadedOutput):
    name = "file"

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        super().__init__(rate, channels)
        self.path = path

    def _open(self) -> None:
        try:
            self._file = sf.SoundFile(
                str(self.path),
                "w",
                samplerate=self.rate,
                channels=self.channels,
                subtype="PCM_16",
                format="WAV",
            )
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise OutputError(f"cannot write {self.path}: {exc}") from None

    def _write(self, block: np.ndarray) -> None:
        self._file.write(to_int16(block))

    def _close(self, drain: bool) -> None:
        self._file.close()
