"""Soft synthesized tones: breathing cues, the no-voice chime, and the shared fade ramp.

Breathing cues glide in pitch (up while breathing in, down while breathing
out) because a direction is easier to follow with closed eyes than a beep.
Frequencies are integrated into phase, so a glide never steps or clicks.
"""

from __future__ import annotations

import numpy as np

INHALE = (196.0, 293.7)  # Hz, G3 up to D4: a calm fifth
EXHALE = (293.7, 196.0)
HOLD_FREQ = 246.9  # Hz, B3, between the two
GLIDE_MAX = 6.0  # seconds: longer phases get a glide that ends early and rests
PHASE_SHARE = 0.9  # a glide fills at most this share of its phase, so it ends inside it
# Levels: a cue guides the breath under the voice, never over it. A glide of
# peak 0.25 measures -16.0 LUFS momentary (K-weighting is flat below 1 kHz),
# so these peaks put the glides at -29.5 LUFS, 9.5 LU under the voice
# (loudness.VOICE_LUFS, -20), and the hold marker 6 LU lower still.
CUE_LEVEL = 0.053  # peak, -25.5 dBFS
HOLD_LEVEL = 0.032  # peak of the hold tone: a marker, quieter than the glides
HOLD_SECONDS = 0.4
GLIDE_ATTACK = 0.15  # seconds
GLIDE_RELEASE = 0.4  # seconds
# Soft overtones (octave, twelfth) over the sine: enough body to be heard on
# small speakers, too little to sound like a buzzer.
OVERTONES = ((2, 0.18), (3, 0.05))


def ramp(data: np.ndarray, rate: int, attack_s: float, release_s: float) -> np.ndarray:
    """Raised-cosine fade-in over ``attack_s`` and fade-out over ``release_s`` seconds, in place.

    A raised cosine has zero slope at both ends, so neither edge clicks. The
    first sample of a fade-in and the last sample of a fade-out are exactly
    zero. Works on 1-D ``(n,)`` and 2-D ``(n, channels)`` float arrays and
    returns ``data`` for chaining. Fades longer than the sound are shortened
    (the attack first, then the release fills what is left).
    """
    n = data.shape[0]
    a = min(int(attack_s * rate), n)
    r = min(int(release_s * rate), n - a)
    shape = (1,) * (data.ndim - 1)
    if a > 0:
        fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
        data[:a] *= fade.astype(data.dtype).reshape((a, *shape))
    if r > 0:
        fade = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r)
        data[n - r :] *= fade.astype(data.dtype).reshape((r, *shape))
    return data


def tone(freq: float, seconds: float, rate: int, level: float = CUE_LEVEL) -> np.ndarray:
    """A plain sine of ``freq`` Hz, ``seconds`` long, peak ``level`` (linear; -0.7 dB is its LUFS).

    It is the soft chime that stands in for narration when no voice engine
    exists, and the breathing "hold" marker: 20 ms attack, and a release over
    the last 40 % so it dies away like a struck note rather than stopping.
    """
    n = _frames(seconds, rate)
    t = np.arange(n) / rate
    data = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return ramp(data, rate, 0.02, seconds * 0.4)


def glide(f0: float, f1: float, seconds: float, rate: int, level: float = CUE_LEVEL) -> np.ndarray:
    """A tone gliding exponentially from ``f0`` to ``f1`` Hz over ``seconds``, peak ``level``.

    The instantaneous frequency is summed into phase (a running integral), so
    the pitch moves smoothly with no phase step anywhere.
    """
    n = _frames(seconds, rate)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    freq = f0 * (f1 / f0) ** (np.arange(n) / n)
    phase = 2 * np.pi * (np.cumsum(freq) - freq[0]) / rate  # starts at phase 0
    data = np.sin(phase)
    for k, amp in OVERTONES:
        if f0 * k < rate / 2 and f1 * k < rate / 2:
            data += amp * np.sin(k * phase)
    data *= level / np.max(np.abs(data))
    attack = min(GLIDE_ATTACK, seconds / 4)
    release = min(GLIDE_RELEASE, seconds / 3)
    return ramp(data.astype(np.float32), rate, attack, release)


def breath_cue(phase: str, seconds: float, rate: int) -> np.ndarray:
    """Mono float32 cue for one breathing phase ``seconds`` long: it always ends inside it.

    ``inhale`` rises, ``exhale`` falls (each gliding over at most ``GLIDE_MAX``
    seconds, peak ``CUE_LEVEL``); ``hold`` is a short quiet steady tone.
    """
    if phase not in ("inhale", "exhale", "hold"):
        raise ValueError(
            f"no cue tone for breathing phase {phase!r}; expected inhale, hold, exhale"
        )
    if seconds <= 0:
        return np.zeros(0, dtype=np.float32)
    if phase == "hold":
        return tone(HOLD_FREQ, min(HOLD_SECONDS, seconds * 0.8), rate, level=HOLD_LEVEL)
    f0, f1 = INHALE if phase == "inhale" else EXHALE
    return glide(f0, f1, min(seconds * PHASE_SHARE, GLIDE_MAX), rate)


def _frames(seconds: float, rate: int) -> int:
    """Whole frames in ``seconds`` (never negative; 0 for no time)."""
    return max(int(seconds * rate), 0)
