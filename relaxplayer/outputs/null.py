"""``null``: plays nothing, paced in real time. For text-only use and tests.

Here, and only here, the monotonic clock *is* the device clock: the thread
waits for each block's deadline (computed from frames, so it never drifts).
"""

from __future__ import annotations

import time

import numpy as np

from relaxplayer.outputs.base import ThreadedOutput


class NullOutput(ThreadedOutput):
    name = "null"

    def _open(self) -> None:
        self._t0 = time.monotonic()

    def _write(self, block: np.ndarray) -> None:
        deadline = self._t0 + (self._written + block.shape[0]) / self.rate
        delay = deadline - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)

    def _buffered(self) -> int:
        elapsed = int((time.monotonic() - self._t0) * self.rate)
        return max(self._written - elapsed, 0)

    def _close(self, drain: bool) -> None:
        return None
