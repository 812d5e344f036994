"""The one shape every sound has for the mixer: a random-access ``Source``.

Random access (``read(offset, n)``) keeps the mixer stateless: seeking, skipping
and restarting a step are just reading at another offset. All samples are
float32 in [-1, 1], shape ``(n, channels)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np


class Source(Protocol):
    """A sound the mixer can read at any frame offset."""

    channels: int
    length: int | None  # frames; None for an endless loop

    def read(self, offset: int, n: int) -> np.ndarray:
        """Frames ``[offset, offset+n)`` as a new float32 ``(n, channels)`` array; zeros past the end.

        The array is the caller's: the mixer scales it in place.
        """
        ...

    def release(self) -> None:
        """Drop any decoded data; a later ``read`` may load it again."""
        ...


def as_frames(data: np.ndarray) -> np.ndarray:
    """Make a 1-D or 2-D array into contiguous float32 ``(n, channels)``."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    return np.ascontiguousarray(data)


class ArraySource:
    """A finite sound held in memory (bells, tones, short clips)."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = as_frames(data)
        self.channels = self._data.shape[1]
        self.length: int | None = self._data.shape[0]

    def read(self, offset: int, n: int) -> np.ndarray:
        out = np.zeros((n, self.channels), dtype=np.float32)
        lo, hi = max(offset, 0), min(offset + n, self._data.shape[0])
        if hi > lo:
            out[lo - offset : hi - offset] = self._data[lo:hi]
        return out

    def release(self) -> None:
        """In-memory sounds are small; nothing to drop."""


class LazySource:
    """A finite sound decoded only while it is needed (narration clips).

    ``load`` is called on the first ``read`` and again after ``release``, so a
    60-minute session holds one clip at a time rather than all of them.
    """

    def __init__(self, load: Callable[[], np.ndarray], length: int, channels: int = 1) -> None:
        self._load = load
        self._inner: ArraySource | None = None
        self.length: int | None = length
        self.channels = channels

    def read(self, offset: int, n: int) -> np.ndarray:
        if self._inner is None:
            self._inner = ArraySource(self._load())
        return self._inner.read(offset, n)

    def release(self) -> None:
        self._inner = None


class LoopSource:
    """An endless sound made by repeating a loop whose end joins its start seamlessly."""

    def __init__(self, loop: np.ndarray) -> None:
        self._loop = as_frames(loop)
        if self._loop.shape[0] == 0:
            raise ValueError("a loop needs at least one frame")
        self.channels = self._loop.shape[1]
        self.length: int | None = None

    def read(self, offset: int, n: int) -> np.ndarray:
        size = self._loop.shape[0]
        idx = (np.arange(offset, offset + n) % size) if n > size else None
        if idx is not None:
            return self._loop[idx]
        start = offset % size
        if start + n <= size:
            return self._loop[start : start + n].copy()
        return np.concatenate([self._loop[start:], self._loop[: n - (size - start)]])

    def release(self) -> None:
        """Loops are kept: the background plays all session long."""
