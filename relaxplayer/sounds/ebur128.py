"""libebur128 (the EBU R128 / ITU-R BS.1770 reference library ffmpeg and mpv use), through ctypes.

Debian and Raspberry Pi OS ship it as ``libebur128-1`` (``scripts/install.sh``
installs it). It is bound with ctypes rather than a PyPI wrapper: the one
wrapper (``pyebur128``) has no wheels for Python 3.13, and pyloudnorm, the
pure-Python meter used before, imports scipy (+91 MB in the narration worker,
docs/narration.md). The library is loaded on first use, so a session that
levels nothing never opens it.

``Meter`` is one libebur128 state: frames in (float64, ``(n, channels)``),
loudness out, in LUFS; its filters carry their state from one ``add`` to the
next, so a stream is measured block by block in constant memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np

from relaxplayer.errors import AssetError

# Modes (ebur128.h): each includes momentary (M), whose 400 ms ring the others read.
MODE_M = 1 << 0
MODE_I = (1 << 2) | MODE_M
MODE_SAMPLE_PEAK = (1 << 4) | MODE_M
MODE_TRUE_PEAK = (1 << 5) | MODE_M | MODE_SAMPLE_PEAK
MODE_HISTOGRAM = 1 << 6
_SUCCESS = 0

_double_p = ctypes.POINTER(ctypes.c_double)


@cache
def library() -> ctypes.CDLL:
    """The loaded ``libebur128.so.1``; an ``AssetError`` that says how to install it if absent."""
    name = ctypes.util.find_library("ebur128") or "libebur128.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise AssetError(
            "libebur128 (loudness measurement) is not installed; "
            "install it with sudo apt install libebur128-1"
        ) from None
    lib.ebur128_init.restype = ctypes.c_void_p
    lib.ebur128_init.argtypes = [ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    lib.ebur128_destroy.restype = None
    lib.ebur128_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.ebur128_add_frames_double.restype = ctypes.c_int
    lib.ebur128_add_frames_double.argtypes = [ctypes.c_void_p, _double_p, ctypes.c_size_t]
    for fn in ("ebur128_loudness_global", "ebur128_loudness_momentary"):
        getattr(lib, fn).restype = ctypes.c_int
        getattr(lib, fn).argtypes = [ctypes.c_void_p, _double_p]
    lib.ebur128_loudness_window.restype = ctypes.c_int
    lib.ebur128_loudness_window.argtypes = [ctypes.c_void_p, ctypes.c_ulong, _double_p]
    lib.ebur128_true_peak.restype = ctypes.c_int
    lib.ebur128_true_peak.argtypes = [ctypes.c_void_p, ctypes.c_uint, _double_p]
    return lib


class Meter:
    """One libebur128 measurement of ``channels`` channels at ``rate`` Hz (weights 1.0 each)."""

    def __init__(self, rate: int, channels: int, mode: int = MODE_I) -> None:
        self._lib = library()
        self.channels = channels
        self._state = ctypes.c_void_p(self._lib.ebur128_init(channels, rate, mode))
        if not self._state.value:
            raise AssetError(f"libebur128 cannot measure {channels} channels at {rate} Hz")

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None and state.value:
            self._lib.ebur128_destroy(ctypes.byref(state))
            self._state = ctypes.c_void_p()

    def add(self, frames: np.ndarray) -> None:
        """Feed ``(n, channels)`` (or ``(n,)`` for one channel) samples, -1..1 full scale."""
        x = np.ascontiguousarray(frames, dtype=np.float64)
        if x.shape[0] == 0:
            return
        status = self._lib.ebur128_add_frames_double(
            self._state, x.ctypes.data_as(_double_p), x.shape[0]
        )
        if status != _SUCCESS:
            raise AssetError(f"libebur128 failed to measure (error {status})")

    def _read(self, fn: str, *args: int) -> float:
        out = ctypes.c_double()
        status = getattr(self._lib, fn)(self._state, *args, ctypes.byref(out))
        if status != _SUCCESS:
            raise AssetError(f"libebur128: {fn} failed (error {status})")
        return float(out.value)

    def integrated(self) -> float:
        """Gated integrated loudness of all frames fed so far, LUFS (``-inf`` for silence)."""
        return self._read("ebur128_loudness_global")

    def momentary(self) -> float:
        """Loudness of the last 400 ms fed, LUFS (``-inf`` for silence)."""
        return self._read("ebur128_loudness_momentary")

    def window(self, ms: int) -> float:
        """Loudness of the last ``ms`` milliseconds fed (at most 400), LUFS."""
        return self._read("ebur128_loudness_window", ms)

    def true_peak(self) -> float:
        """Largest true peak over every channel so far, linear (mode ``MODE_TRUE_PEAK``)."""
        return max(self._read("ebur128_true_peak", c) for c in range(self.channels))
