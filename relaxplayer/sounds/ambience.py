"""Built-in ambience beds, synthesized as exactly periodic stereo loops.

Every noise is made in the frequency domain (a shaped random spectrum, then an
inverse real FFT), which makes it periodic by construction: the last sample
flows into the first with no seam, so a loop of a few tens of seconds can play
for hours. Everything laid on top is periodic too: rain droplets that run off
the end wrap round to the start, and ocean swells are built on a circle of the
loop's length. Work is in float32/complex64, and random bins are drawn only
where a band has energy, to keep time and memory small on a Raspberry Pi.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from relaxplayer.sounds.tones import ramp

NAMES = ("rain", "ocean", "pink-noise", "brown-noise", "white-noise")  # == model.AMBIENCES
DEFAULT_SECONDS = 30.0
# Longer loops where a shorter one would be heard repeating: six waves of 6-10 s.
AMBIENCE_SECONDS = {"ocean": 48.0}
TARGET_RMS = 0.1  # -20 dBFS over both channels, before the session's volume
KNEE = 0.5  # -6 dBFS: above this, peaks are rounded off smoothly ...
MAX_PEAK = 0.7  # -3 dBFS: ... and never reach this
VERSION = 2  # bump when the synthesis changes, so loops cached by the mixer are made again
_ROLL_OFF = 4.0  # a band's gain is -48 dB at 4x its corner: no random bins drawn beyond


def make_loop(name: str, rate: int, seconds: float | None = None, seed: int = 0) -> np.ndarray:
    """Stereo float32 ``(n, 2)`` loop of ambience ``name``, seamless when repeated.

    ``seconds`` defaults to ``AMBIENCE_SECONDS.get(name, DEFAULT_SECONDS)``;
    ``n`` is that many frames at ``rate`` Hz, rounded down to even. The loop has
    zero mean, RMS ``TARGET_RMS`` (-20 dBFS) and peak below ``MAX_PEAK``;
    the same ``seed`` gives the same samples. Raises ``ValueError`` for an
    unknown name or a loop shorter than one second.
    """
    if name not in NAMES:
        raise ValueError(f"unknown ambience {name!r}; expected one of {', '.join(NAMES)}")
    seconds = AMBIENCE_SECONDS.get(name, DEFAULT_SECONDS) if seconds is None else seconds
    if seconds < 1.0:
        raise ValueError(f"an ambience loop must be at least 1 s long, got {seconds} s")
    n = int(seconds * rate) & ~1  # even length keeps rfft/irfft exact inverses
    rng = np.random.default_rng(seed)
    makers: dict[str, Callable[[], np.ndarray]] = {
        "white-noise": lambda: _noise_bed(rng, n, rate, 0.0),
        "pink-noise": lambda: _noise_bed(rng, n, rate, 0.5),
        "brown-noise": lambda: _noise_bed(rng, n, rate, 1.0),
        "rain": lambda: _rain(rng, n, rate),
        "ocean": lambda: _ocean(rng, n, rate),
    }
    return _level(np.asarray(makers[name](), dtype=np.float32))  # float64 FFTs on NumPy 1.x


def _level(out: np.ndarray) -> np.ndarray:
    """Remove any DC, set RMS to ``TARGET_RMS``, and round off the rare peaks above ``KNEE``.

    Noise has no hard peak: at -20 dBFS RMS a few samples in a million reach
    -4 dBFS, more in an ocean swell. A smooth tanh knee bends only those, so no
    sample exceeds ``MAX_PEAK`` while the level stays where it should be. It
    is applied sample by sample, so the loop stays seamless.
    """
    out -= out.mean(axis=0, keepdims=True)
    out *= np.float32(TARGET_RMS / _rms(out))
    over = np.abs(out) > KNEE
    if over.any():
        x = out[over]
        room = np.float32(MAX_PEAK - KNEE)
        out[over] = np.sign(x) * (KNEE + room * np.tanh((np.abs(x) - KNEE) / room))
        out -= out.mean(axis=0, keepdims=True)
    return out


def _band(
    rng: np.random.Generator,
    n: int,
    rate: int,
    slope: float,
    low: float = 20.0,
    high: float | None = None,
    channels: int = 2,
    width: float = 1.0,
) -> np.ndarray:
    """Periodic noise ``(n, channels)``, unit RMS, power spectrum 1/f**(2*slope) in [low, high] Hz.

    ``slope`` 0 is white, 0.5 pink (-3 dB/octave), 1 brown (-6 dB/octave).
    The band edges are gentle fourth-order-like slopes; below ``low`` there is
    no rumble and no DC drift. ``width`` 0 makes the channels identical, 1
    independent; in between they share a common part.
    """
    bins = n // 2 + 1
    top = bins if high is None else min(bins, int(_ROLL_OFF * high * n / rate) + 1)
    f = (np.arange(1, top, dtype=np.float32) * np.float32(rate / n))[:, None]
    gain = f ** np.float32(-slope) / (1 + (np.float32(low) / f) ** 4)
    if high is not None:
        gain /= 1 + (f / np.float32(high)) ** 4
    spec = np.zeros((bins, channels), dtype=np.complex64)
    spec[1:top] = _random_bins(rng, top - 1, channels, width)
    spec[1:top] *= gain
    x = np.fft.irfft(spec, n, axis=0)
    del spec  # the spectrum is as big as the noise: free it before the next step
    return _unit(x)


def _random_bins(rng: np.random.Generator, count: int, channels: int, width: float) -> np.ndarray:
    """Complex Gaussian bins ``(count, channels)``; ``width`` blends in independent parts."""

    def draw(k: int) -> np.ndarray:
        # pairs of float32 normals viewed as complex64: no copy, no float64 detour
        return rng.standard_normal((count, 2 * k), dtype=np.float32).view(np.complex64)

    if width >= 1.0 or channels == 1:
        return draw(channels)
    bins = draw(channels)
    bins *= np.float32(width)
    bins += np.float32(np.sqrt(1 - width**2)) * draw(1)
    return bins


def _noise_bed(rng: np.random.Generator, n: int, rate: int, slope: float) -> np.ndarray:
    """A coloured noise, mostly centred with a little width (channels correlate about 0.5)."""
    return _band(rng, n, rate, slope, width=0.85)


def _rain(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """A soft, wide bed of rain hiss with many small droplets over it, all periodic in ``n``."""
    high = min(6000.0, 0.4 * rate)
    bed = _band(rng, n, rate, 0.5, low=150.0, high=high, width=0.9)
    near = _droplets(rng, n, rate, per_second=25.0, seconds=0.02, decay=(0.003, 0.008))
    far = _droplets(rng, n, rate, per_second=160.0, seconds=0.008, decay=(0.0015, 0.003))
    bed += 0.35 * _unit(near + 0.5 * far)
    return bed


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` scaled in place to RMS 1."""
    x *= np.float32(1 / _rms(x))
    return x


def _rms(x: np.ndarray) -> float:
    """Root mean square of all of ``x``, summed in float64 a block at a time (no full copy)."""
    flat = x.reshape(-1)
    total = sum(
        float(np.dot(block, block))
        for block in (flat[i : i + 65536].astype(np.float64) for i in range(0, flat.size, 65536))
    )
    return float(np.sqrt(total / flat.size))


def _droplets(
    rng: np.random.Generator,
    n: int,
    rate: int,
    per_second: float,
    seconds: float,
    decay: tuple[float, float],
) -> np.ndarray:
    """Random droplet pings ``(n, 2)``: short decaying sines with a slight upward chirp.

    A drop hitting water rings like a small bubble (a damped sine near 1-4 kHz
    whose pitch rises as it shrinks). Each drop gets its own pitch, decay,
    level and side; raised-cosine edges keep each one from clicking, and drops
    that run past the end wrap round to the start. Drops are drawn all at once
    (so the seed alone decides them) and rendered a few hundred at a time to
    keep memory small.
    """
    k = max(int(seconds * rate), 2)
    count = int(per_second * n / rate)
    top = min(4200.0, 0.35 * rate)
    f0 = np.exp(rng.uniform(np.log(1200.0), np.log(top), (count, 1))).astype(np.float32)
    tau = rng.uniform(*decay, (count, 1)).astype(np.float32)
    chirp = (rng.uniform(0.0, 0.3, (count, 1)) / seconds).astype(np.float32)  # pitch rise per s
    amp = (rng.uniform(0.1, 1.0, (count, 1)) ** 3).astype(np.float32)  # many faint, few loud
    start = rng.integers(0, n, (count, 1))
    pan = rng.uniform(0.15, 0.85, (count, 1)).astype(np.float32)  # share to the right
    gains = np.hstack([np.sqrt(1 - pan), np.sqrt(pan)])  # equal power
    t = np.arange(k, dtype=np.float32) / np.float32(rate)
    out = np.zeros((n, 2), dtype=np.float32)
    for lo in range(0, count, 256):
        part = slice(lo, lo + 256)
        pings = np.sin(
            np.float32(2 * np.pi) * f0[part] * (t + np.float32(0.5) * chirp[part] * t**2)
        )
        pings *= amp[part] * np.exp(-t / tau[part])
        ramp(pings.T, rate, 0.0003, 0.3 * seconds)  # no click at either end of a drop
        at = ((start[part] + np.arange(k)) % n).ravel()
        for channel in (0, 1):
            np.add.at(out[:, channel], at, (pings * gains[part, channel : channel + 1]).ravel())
    return out


def _ocean(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Waves: deep roar and bright wash, swelling and receding, on a circle of ``n`` frames.

    The deep band follows each wave's level; the bright wash follows its
    square, so a wave brightens as it breaks and dulls as it draws back. The
    right channel hears the same waves a moment later, as along a shore.
    """
    swell = _swells(rng, n, rate)
    deep = _band(rng, n, rate, 0.9, low=35.0, high=900.0, width=0.55)
    wash = _band(rng, n, rate, 0.4, low=400.0, high=min(6000.0, 0.4 * rate), width=0.55)
    deep *= 0.3 + 0.7 * swell
    swell *= swell  # in place from here on: these arrays are the size of the loop
    wash *= swell
    wash *= np.float32(0.7)
    deep += wash
    return deep


def _swells(rng: np.random.Generator, n: int, rate: int, hop: float = 0.05) -> np.ndarray:
    """Wave envelopes ``(n, 2)`` in [0, 1], periodic in ``n``: one wave every 6-10 s.

    Waves of slightly different lengths, sizes and shapes are laid end to end
    round the loop (so every wave period divides its length), drawn at a
    control rate of one point per ``hop`` seconds, smoothed, and interpolated.
    """
    m = max(int(n / rate / hop), 16)  # control points round the loop
    waves = max(round(n / rate / 8.0), 2)
    lengths = rng.uniform(0.75, 1.25, waves)
    lengths *= m / lengths.sum()
    crests = rng.uniform(0, m) + np.cumsum(lengths)
    size = rng.uniform(0.6, 1.0, waves)
    rise = rng.uniform(0.45, 0.65, waves)  # share of the wave spent building
    j = np.arange(m)
    env = np.zeros(m)
    for crest, length, a, r in zip(crests, lengths, size, rise, strict=True):
        u = ((j - crest + m / 2) % m - m / 2) / length  # wave-lengths from this crest
        build = np.cos(0.5 * np.pi * np.clip(u / r, -1, 0)) ** 2
        draw_back = np.exp(-np.clip(u, 0, None) / (0.3 * (1 - r)))
        env += a * np.where(u < 0, build, draw_back)
    env = _smooth_circular(env, int(0.6 / hop))
    env /= env.max()
    lag = max(int(rng.uniform(0.2, 0.5) / hop), 1)  # seconds the right side hears it later
    grid = np.arange(m + 1) * (n / m)
    frames = np.arange(n)
    out = np.empty((n, 2), dtype=np.float32)
    out[:, 0] = np.interp(frames, grid, np.append(env, env[0]))
    right = np.roll(env, lag)
    out[:, 1] = np.interp(frames, grid, np.append(right, right[0]))
    return out


def _smooth_circular(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average of ``width`` points that wraps round: keeps ``x`` periodic."""
    if width < 2:
        return x
    kernel = np.zeros_like(x)
    kernel[:width] = 1.0 / width
    out = np.fft.irfft(np.fft.rfft(x) * np.fft.rfft(kernel), len(x))
    return np.roll(out, -(width // 2))
