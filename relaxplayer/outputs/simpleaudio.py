"""``simpleaudio``: kept from the design card, for the systems where it works.

What it can do: play one whole buffer of 16-bit PCM through ALSA's default
device, tell whether it is still playing, wait for it, and stop it.

What it cannot do:

- Stream. Every ``play_buffer`` opens the ALSA device, writes the buffer,
  drains and closes it. So this output queues audio in chunks of
  ``CHUNK_SECONDS`` and there is a gap between chunks: the drain, close and
  reopen: about 60 ms of silence each time on the test machine's virtual
  card (PulseAudio null sink). Samples are never lost, only
  separated by silence.
- Report a position. ``frames_played`` is the chunks finished plus the wall
  time since the current one started, an estimate.
- Choose a device, or react quickly: a pause is heard only when the next chunk
  starts, up to ``CHUNK_SECONDS`` later.
- Run on Python 3.12+: the unmaintained C extension crashes after playback
  there, so ``open_output`` refuses it and ``auto`` never picks it.

Prefer ``portaudio``, which streams gaplessly from a callback, or ``alsa``.
Only this module imports simpleaudio.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import (
    CHATTER,
    ThreadedOutput,
    capture_stderr,
    quiet_stderr,
    to_int16,
)

CHUNK_SECONDS = 2.0  # long enough that the gaps are rare, short enough that pause is bearable
PROBE_SILENCE = 0.01  # seconds of silence a probe plays
PROBE_SECONDS = 3.0  # ALSA's default device plays them (open, write, drain) well within this


def unusable() -> str | None:
    """Why simpleaudio cannot be used here, or None when it can."""
    if sys.version_info >= (3, 12):
        return "simpleaudio crashes on Python 3.12 and newer; use portaudio or alsa"
    try:
        import simpleaudio  # noqa: F401
    except ImportError:
        return "simpleaudio is not installed (pip install simpleaudio; needs libasound2-dev)"
    return None


def probe(rate: int, channels: int) -> str | None:
    """Why simpleaudio cannot play on ALSA's default device here, or None when it can.

    Installed is not enough (with no sound card it is installed and fails):
    a few milliseconds of silence are played for real, their library noise kept
    off the terminal.
    """
    if why := unusable():
        return why
    import simpleaudio

    silence = bytes(2 * channels * max(int(PROBE_SILENCE * rate), 1))
    try:
        with quiet_stderr():
            play = simpleaudio.play_buffer(silence, channels, 2, rate)
            deadline = time.monotonic() + PROBE_SECONDS
            while play.is_playing() and time.monotonic() < deadline:
                time.sleep(0.005)
            if play.is_playing():
                play.stop()
                return (
                    f"ALSA's default device took over {PROBE_SECONDS:g} s to play "
                    f"{PROBE_SILENCE * 1000:.0f} ms of silence"
                )
    except Exception as exc:  # simpleaudio._simpleaudio.SimpleaudioError
        return f"simpleaudio cannot open ALSA's default device: {_first_line(exc)}"
    return None


def _first_line(exc: Exception) -> str:
    """SimpleaudioError's text, without the alsa-lib lines glued onto it."""
    return str(exc).split("ALSA lib", 1)[0].strip() or type(exc).__name__


def usable() -> bool:
    return unusable() is None


class SimpleAudioOutput(ThreadedOutput):
    name = "simpleaudio"

    def __init__(self, rate: int, channels: int) -> None:
        super().__init__(rate, channels, block=int(CHUNK_SECONDS * rate))
        self._play: Any = None
        self._chunk_start = 0.0
        self._chatter = contextlib.ExitStack()  # fd 2 captured from open to close
        self.chatter = CHATTER

    def chatter_summary(self) -> str | None:
        """What alsa-lib printed while this output was open, for ``-v``."""
        return self.chatter.summary()

    def _open(self) -> None:
        if why := unusable():
            raise OutputError(why)
        import simpleaudio

        self._sa = simpleaudio
        self._chatter.enter_context(capture_stderr(self.chatter))

    def _write(self, block: np.ndarray) -> None:
        data = to_int16(block).tobytes()
        try:
            play = self._sa.play_buffer(data, self.channels, 2, self.rate)
        except Exception as exc:  # simpleaudio._simpleaudio.SimpleaudioError
            raise OutputError(
                f"simpleaudio cannot play on ALSA's default device: {_first_line(exc)}; "
                "check a sound card with `relaxplayer outputs`, or use --output null"
            ) from None
        self._play, self._chunk_start = play, time.monotonic()
        play.wait_done()

    def frames_played(self) -> int:
        """Whole chunks played, plus the elapsed part of the one playing (its clock is hidden)."""
        play = self._play
        if play is None or not play.is_playing():
            return self._written
        heard = int((time.monotonic() - self._chunk_start) * self.rate)
        return self._written + min(heard, self.block - 1)  # whole only once wait_done returns

    def latency_frames(self) -> int:
        return self.block

    def _interrupt(self) -> None:
        if self._play is not None:
            self._play.stop()

    def _close(self, drain: bool) -> None:
        if self._play is not None and not drain:
            self._play.stop()
        self._chatter.close()
