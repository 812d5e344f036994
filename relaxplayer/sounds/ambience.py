"""Built-in ambience beds, synthesized as exactly periodic stereo loops.

Every bed is made in the frequency domain (shaped random spectrum -> inverse
FFT), which makes it periodic by construction: the last sample flows into the
first with no seam, so a loop of a few tens of seconds can play for hours.
Slow modulations (ocean swells) use periods that divide the loop length for
the same reason. Work is in float32/complex64 to keep memory small on a Pi.
"""

from __future__ import annotations

import numpy as np

AMBIENCE_SECONDS = {"ocean": 48.0, "rain": 30.0}
DEFAULT_SECONDS = 30.0
TARGET_RMS = 0.1  # -20 dBFS before the session's volume
NAMES = ("rain", "ocean", "pink-noise", "brown-noise", "white-noise")


def make_loop(name: str, rate: int, seconds: float | None = None, seed: int = 0) -> np.ndarray:
    """Stereo float32 ``(n, 2)`` loop of ambience ``name``, RMS ``TARGET_RMS``, no DC."""
    if name not in NAMES:
        raise ValueError(f"unknown ambience {name!r}; expected one of {', '.join(NAMES)}")
    seconds = seconds or AMBIENCE_SECONDS.get(name, DEFAULT_SECONDS)
    n = int(seconds * rate) & ~1  # even length keeps rfft/irfft symmetric
    rng = np.random.default_rng(seed)
    make = {
        "white-noise": lambda: _colored(rng, n, rate, 0.0),
        "pink-noise": lambda: _colored(rng, n, rate, 0.5),
        "brown-noise": lambda: _colored(rng, n, rate, 1.0),
        "rain": lambda: _rain(rng, n, rate),
        "ocean": lambda: _ocean(rng, n, rate),
    }[name]
    left, right = make(), make()
    if name.endswith("noise"):  # mostly centred image, a little width
        left, right = 0.8 * left + 0.2 * right, 0.2 * left + 0.8 * right
    out = np.stack([left, right], axis=1).astype(np.float32)
    out -= out.mean(axis=0, keepdims=True)
    out *= np.float32(TARGET_RMS / float(np.sqrt(np.mean(out**2))))
    return out


def _spectrum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random complex spectrum (Gaussian), i.e. white noise in the frequency domain."""
    bins = n // 2 + 1
    spec = (
        rng.standard_normal(bins, dtype=np.float32)
        + 1j * rng.standard_normal(bins, dtype=np.float32)
    ).astype(np.complex64)
    spec[0] = 0  # no DC
    return spec


def _shape(
    n: int, rate: int, slope: float, low: float = 20.0, high: float | None = None
) -> np.ndarray:
    """Amplitude per rfft bin: 1/f**slope, gently band-limited to [low, high] Hz."""
    f = np.fft.rfftfreq(n, 1.0 / rate).astype(np.float32)
    f[0] = 1.0
    gain = f ** np.float32(-slope)
    gain *= 1.0 / (1.0 + (low / f) ** 4)  # 4th-order-like high-pass: no rumble or DC drift
    if high is not None:
        gain *= 1.0 / (1.0 + (f / high) ** 4)
    gain[0] = 0.0
    return gain


def _colored(
    rng: np.random.Generator,
    n: int,
    rate: int,
    slope: float,
    low: float = 20.0,
    high: float | None = None,
) -> np.ndarray:
    """Periodic noise with power spectrum 1/f**(2*slope): 0 white, 0.5 pink, 1 brown."""
    spec = _spectrum(rng, n)
    spec *= _shape(n, rate, slope, low, high)
    x = np.fft.irfft(spec, n)
    return x / np.float32(np.sqrt(np.mean(x**2)))


def _rain(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """A soft bed of rain hiss plus many small droplets, all periodic in ``n``."""
    bed = _colored(rng, n, rate, 0.35, low=300.0, high=min(7000.0, rate * 0.4))
    # Droplets: a sparse impulse train circularly convolved with a short decaying tick.
    drops = np.zeros(n, dtype=np.float32)
    count = int(n / rate * 60)
    at = rng.integers(0, n, count)
    drops[at] = rng.uniform(0.2, 1.0, count).astype(np.float32) * rng.choice([-1, 1], count)
    k = int(0.012 * rate)
    t = np.arange(k) / rate
    tick = np.zeros(n, dtype=np.float32)
    tick[:k] = np.sin(2 * np.pi * min(2600.0, rate * 0.3) * t) * np.exp(-t / 0.003)
    spec = np.fft.rfft(drops) * np.fft.rfft(tick)
    spec *= _shape(n, rate, 0.0, low=800.0, high=min(6000.0, rate * 0.4))
    droplets = np.fft.irfft(spec, n)
    droplets /= np.float32(np.sqrt(np.mean(droplets**2)) + 1e-12)
    return 0.8 * bed + 0.35 * droplets


def _ocean(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Waves: deep noise and bright foam, swelling and receding with several periods."""
    deep = _colored(rng, n, rate, 0.9, low=40.0, high=900.0)
    foam = _colored(rng, n, rate, 0.4, low=300.0, high=min(6000.0, rate * 0.4))
    t = np.arange(n, dtype=np.float32) / np.float32(n)  # 0..1 over the loop
    cycles = rng.choice([4, 5, 6], 2, replace=False)  # wave periods dividing the loop
    offset = rng.uniform(0, 1, 2).astype(np.float32)
    swell = np.zeros(n, dtype=np.float32)
    for c, o in zip(cycles, offset, strict=True):
        swell += (0.5 - 0.5 * np.cos(2 * np.pi * (c * t + o))) ** 2
    swell /= swell.max()
    level = 0.25 + 0.75 * swell
    return deep * level + 0.6 * foam * swell**2
