"""Synthesized bells: a singing bowl, a bright chime and a soft ding.

Additive synthesis with the inharmonic partial ratios of real instruments;
each partial is a pair of slightly detuned sines, which gives the slow beating
that makes a bowl sound alive. Deterministic: the same name gives the same
samples, so renders are repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relaxplayer.sounds.tones import ramp


@dataclass(frozen=True)
class _Partial:
    ratio: float  # to the fundamental
    level: float
    decay: float  # seconds to fall by 1/e
    beat: float  # Hz of detuning between the pair


@dataclass(frozen=True)
class _BellSpec:
    fundamental: float
    seconds: float
    peak: float
    partials: tuple[_Partial, ...]


BELLS: dict[str, _BellSpec] = {
    # Tibetan singing bowl: partials near 1 : 2.76 : 5.4 : 8.9, long decay, slow beats.
    "bowl": _BellSpec(
        196.0,
        9.0,
        0.5,
        (
            _Partial(1.0, 1.0, 3.6, 0.7),
            _Partial(2.76, 0.55, 2.4, 1.3),
            _Partial(5.40, 0.25, 1.2, 2.1),
            _Partial(8.93, 0.10, 0.6, 2.9),
        ),
    ),
    # Chime (free bar): brighter and shorter.
    "chime": _BellSpec(
        784.0,
        4.5,
        0.5,
        (
            _Partial(1.0, 1.0, 1.6, 0.4),
            _Partial(2.76, 0.35, 0.8, 0.9),
            _Partial(5.40, 0.12, 0.35, 1.5),
        ),
    ),
    # Soft ding for interval bells and side switches: nearly pure, quieter, short.
    "soft": _BellSpec(
        523.3,
        2.5,
        0.3,
        (
            _Partial(1.0, 1.0, 0.8, 0.3),
            _Partial(2.0, 0.12, 0.4, 0.0),
            _Partial(3.0, 0.04, 0.25, 0.0),
        ),
    ),
}


def make_bell(name: str, rate: int) -> np.ndarray:
    """Mono float32 samples of bell ``name`` at ``rate`` Hz, peak at its spec level (bowl -6 dBFS)."""
    spec = BELLS.get(name)
    if spec is None:
        raise ValueError(f"unknown bell {name!r}; expected one of {', '.join(BELLS)}")
    n = int(spec.seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    out = np.zeros(n, dtype=np.float64)
    nyquist = rate / 2
    for p in spec.partials:
        f = spec.fundamental * p.ratio
        if f + p.beat >= nyquist * 0.9:
            continue
        pair = np.sin(2 * np.pi * f * t) + np.sin(2 * np.pi * (f + p.beat) * t + 0.7)
        out += p.level * 0.5 * pair * np.exp(-t / p.decay)
    out *= spec.peak / np.max(np.abs(out))
    return ramp(out.astype(np.float32), rate, 0.004, 0.3)
