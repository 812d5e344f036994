"""Soft synthesized tones: breathing cues, the no-voice chime, and the shared fade ramp.

Breathing cues glide in pitch (up while breathing in, down while breathing
out) because a direction is easier to follow with closed eyes than a beep.
Frequencies are integrated into phase, so a glide never steps or clicks.
"""

from __future__ import annotations

import numpy as np

INHALE = (196.0, 293.7)  # G3 up to D4: a calm fifth
EXHALE = (293.7, 196.0)
HOLD_FREQ = 246.9  # B3, between the two
GLIDE_MAX = 6.0  # seconds: longer phases get a glide that ends early and rests
CUE_LEVEL = 0.25  # peak, -12 dBFS
HOLD_SECONDS = 0.4


def ramp(data: np.ndarray, rate: int, attack: float, release: float) -> np.ndarray:
    """Raised-cosine fade-in over ``attack`` and fade-out over ``release`` seconds (in place).

    A raised cosine has zero slope at both ends, so neither edge clicks; the
    last sample is exactly zero.
    """
    n = data.shape[0]
    a = min(int(attack * rate), n)
    r = min(int(release * rate), n - a)
    if a > 0:
        fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
        data[:a] *= fade.reshape((a,) + (1,) * (data.ndim - 1)).astype(data.dtype)
    if r > 0:
        fade = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r)
        data[n - r :] *= fade.reshape((r,) + (1,) * (data.ndim - 1)).astype(data.dtype)
    return data


def tone(freq: float, seconds: float, rate: int, level: float = CUE_LEVEL) -> np.ndarray:
    """A plain sine with a soft 20 ms attack and a 40 %-of-length release, peak ``level``."""
    n = max(int(seconds * rate), 1)
    t = np.arange(n) / rate
    data = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return ramp(data, rate, 0.02, seconds * 0.4)


def glide(f0: float, f1: float, seconds: float, rate: int, level: float = CUE_LEVEL) -> np.ndarray:
    """A tone gliding exponentially from ``f0`` to ``f1`` Hz, with a soft octave overtone."""
    n = max(int(seconds * rate), 1)
    freq = f0 * (f1 / f0) ** (np.arange(n) / n)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    data = np.sin(phase) + 0.18 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
    data *= level / np.max(np.abs(data))
    return ramp(data.astype(np.float32), rate, min(0.15, seconds / 4), min(0.4, seconds / 3))


def breath_cue(phase: str, seconds: float, rate: int) -> np.ndarray:
    """The tone for one breathing phase; it always ends inside its phase (``seconds`` long)."""
    if phase == "hold":
        return tone(HOLD_FREQ, min(HOLD_SECONDS, seconds * 0.8), rate, level=CUE_LEVEL * 0.6)
    if phase not in ("inhale", "exhale"):
        raise ValueError(f"no cue tone for breathing phase {phase!r}")
    f0, f1 = INHALE if phase == "inhale" else EXHALE
    length = min(seconds * 0.9, GLIDE_MAX)
    return glide(f0, f1, length, rate)
