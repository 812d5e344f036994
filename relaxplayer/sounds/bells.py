"""Synthesized bells: a singing bowl, a bright chime and a soft ding.

Additive synthesis with the inharmonic partial ratios of real instruments.
Each partial is a doublet, two close sines of unequal level, as in a real bowl
whose slight asymmetry splits every mode in two; their slow beating is what
makes a bowl sound alive. Higher partials die sooner, so each bell mellows as
it rings. Deterministic: the same name gives the same samples, so renders are
repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relaxplayer.sounds.tones import ramp


@dataclass(frozen=True)
class _Partial:
    ratio: float  # frequency, relative to the fundamental
    level: float  # linear, relative to the fundamental's
    decay: float  # seconds to fall by 1/e (8.7 dB)
    beat: float  # Hz between the two sines of the doublet
    twin: float = 0.6  # level of the second sine: below 1 so beats swell, never cancel


@dataclass(frozen=True)
class _BellSpec:
    fundamental: float  # Hz
    seconds: float  # whole length, release included
    peak: float  # linear peak of the finished sound (sets the loudness: see make_bell)
    attack: float  # seconds: a soft mallet, not a click
    release: float  # seconds of raised-cosine fade at the end, down to exact zero
    partials: tuple[_Partial, ...]


BELLS: dict[str, _BellSpec] = {
    # Singing bowl: the rim modes (2,0)..(5,0) of a thin hemispherical shell
    # sit near 1 : 2.83 : 5.42 : 8.77 (Rayleigh); a long, slowly beating hum.
    "bowl": _BellSpec(
        fundamental=196.0,
        seconds=10.0,
        peak=0.19,
        attack=0.005,
        release=2.5,
        partials=(
            _Partial(1.0, 1.0, 3.2, 0.9),
            _Partial(2.83, 0.5, 2.0, 1.6),
            _Partial(5.42, 0.22, 0.9, 2.3),
            _Partial(8.77, 0.1, 0.45, 3.1),
        ),
    ),
    # Chime (a free bar or tube): modes at 1 : 2.756 : 5.404 : 8.933; brighter, shorter.
    "chime": _BellSpec(
        fundamental=784.0,
        seconds=4.5,
        peak=0.144,
        attack=0.003,
        release=1.0,
        partials=(
            _Partial(1.0, 1.0, 1.4, 0.5),
            _Partial(2.756, 0.35, 0.7, 1.1),
            _Partial(5.404, 0.12, 0.35, 1.7),
            _Partial(8.933, 0.04, 0.2, 2.3, twin=0.3),
        ),
    ),
    # Soft ding for interval bells and "switch sides": nearly pure, quieter, short.
    "soft": _BellSpec(
        fundamental=523.3,
        seconds=2.5,
        peak=0.09,
        attack=0.01,
        release=0.6,
        partials=(
            _Partial(1.0, 1.0, 0.8, 0.4, twin=0.3),
            _Partial(2.0, 0.12, 0.4, 0.0, twin=0.0),
            _Partial(3.0, 0.04, 0.25, 0.0, twin=0.0),
        ),
    ),
}


def make_bell(name: str, rate: int) -> np.ndarray:
    """Mono float32 samples of bell ``name`` at ``rate`` Hz, peak at its spec level.

    The peaks are set by loudness, not by peak: ``bowl`` and ``chime`` reach
    -25.5 LUFS momentary (400 ms) at their strike, 5.5 LU under the voice
    (loudness.VOICE_LUFS), and ``soft`` -27.5 LUFS: it marks time without
    startling. The chime's peak is lower than the bowl's because its partials
    sit where the ear (and K-weighting) is more sensitive.
    Partials at or above 90 % of Nyquist are left out, so low rates never alias.
    Raises ``ValueError`` for an unknown name (the loader checks names first).
    """
    spec = BELLS.get(name)
    if spec is None:
        raise ValueError(f"unknown bell {name!r}; expected one of {', '.join(BELLS)}")
    n = int(spec.seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    out = np.zeros(n, dtype=np.float64)
    for p in spec.partials:
        f = spec.fundamental * p.ratio
        if f + p.beat >= 0.45 * rate:
            continue
        pair = np.sin(2 * np.pi * f * t) + p.twin * np.sin(2 * np.pi * (f + p.beat) * t + 0.7)
        out += p.level / (1 + p.twin) * pair * np.exp(-t / p.decay)
    ramp(out, rate, spec.attack, spec.release)
    out *= spec.peak / np.max(np.abs(out))
    return out.astype(np.float32)
