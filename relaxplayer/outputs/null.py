"""``null``: plays nothing, paced in real time. For text-only use and tests.

Here, and only here, the monotonic clock *is* the device clock. Like a sound
card with two blocks of buffer, it pulls block ``k`` when block ``k - 1``
starts "playing", at the deadline ``t0 + frames / rate`` computed from the
frame count, so it never drifts. If the thread is late by more than a block
(the machine stalled), that counts as an underrun and the clock restarts from
now, as a real device would have played silence meanwhile.
"""

from __future__ import annotations

import time

import numpy as np

from relaxplayer.outputs.base import ThreadedOutput


class NullOutput(ThreadedOutput):
    name = "null"

    def chatter_summary(self) -> str | None:
        """No library behind it, so nothing printed (the device outputs have one too)."""
        return None

    def _open(self) -> None:
        self._t0 = time.monotonic()

    def _elapsed(self) -> int:
        """Frames of real time since the (possibly restarted) start."""
        return int((time.monotonic() - self._t0) * self.rate)

    def _write(self, block: np.ndarray) -> None:
        delay = self._t0 + self._written / self.rate - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        elif -delay * self.rate > self.block:
            self.underruns += 1
            self._t0 = time.monotonic() - self._written / self.rate

    def _buffered(self) -> int:
        return min(max(self._written - self._elapsed(), 0), self._written)

    def _close(self, drain: bool) -> None:
        if drain:
            time.sleep(self._buffered() / self.rate)
