"""``simpleaudio``: kept from the design card, for the systems where it works.

What it can do: play a buffer of 16-bit PCM through ALSA and tell when it is
done. What it cannot: stream. Each ``play_buffer`` opens the device anew, so
audio is queued in chunks of a few seconds and there is a short gap between
chunks (measured about 10-40 ms here). It is unmaintained, and on Python 3.12+
it crashes after playback, so ``auto`` never picks it there. Prefer
``portaudio``, which streams gaplessly from a callback.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import ThreadedOutput, to_int16

CHUNK_SECONDS = 2.0


def usable() -> bool:
    if sys.version_info >= (3, 12):
        return False
    try:
        import simpleaudio  # noqa: F401
    except ImportError:
        return False
    return True


class SimpleAudioOutput(ThreadedOutput):
    name = "simpleaudio"

    def __init__(self, rate: int, channels: int) -> None:
        super().__init__(rate, channels, block=int(CHUNK_SECONDS * rate))
        self._play = None
        self._chunk_start = 0.0

    def _open(self) -> None:
        if sys.version_info >= (3, 12):
            raise OutputError(
                "simpleaudio crashes on Python 3.12 and newer; use --output portaudio or alsa"
            )
        try:
            import simpleaudio
        except ImportError:
            raise OutputError("simpleaudio is not installed (pip install simpleaudio)") from None
        self._sa = simpleaudio

    def _write(self, block: np.ndarray) -> None:
        play = self._sa.play_buffer(to_int16(block).tobytes(), self.channels, 2, self.rate)
        self._play, self._chunk_start = play, time.monotonic()
        play.wait_done()

    def frames_played(self) -> int:
        """Whole chunks played, plus the elapsed part of the one playing (its clock is hidden)."""
        if self._play is None or not self._play.is_playing():
            return self._written
        heard = int((time.monotonic() - self._chunk_start) * self.rate)
        return self._written + min(heard, self.block)

    def latency_frames(self) -> int:
        return self.block

    def _close(self, drain: bool) -> None:
        if self._play is not None and not drain:
            self._play.stop()
