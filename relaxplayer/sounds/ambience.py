"""Built-in ambience beds: endless streams that never repeat, read at any frame offset.

``open_ambience`` gives the mixer a ``Source`` whose ``read(offset, n)`` is a
pure function of the absolute frame, so seeking, ``play`` and ``render`` agree
sample for sample and the same seed always gives the same sound.

Why tables and not noise made block by block: drawing random numbers and
filtering them costs about 1 ms per second of audio, more than a whole
60-minute render may spend on its background. Instead every bed is a few
short seamless noise tables (made once, in the frequency domain, by the loop
synthesis below) read by several *voices*. A voice plays its table in
segments of a few seconds, each from an offset hashed from (seed, voice,
segment), and crossfades (equal power) into the next; the voices have
different segment lengths and tables, so the mix at any moment is a
combination of excerpts that never comes back. What is heard as events is
made over absolute time instead of being read from a table: the near rain
drops are placed per one-second chunk from that chunk's random generator, and
the ocean's 6-10 s waves are drawn per 64-second epoch of absolute time.

``make_loop`` still makes the old exactly periodic loops; the streams use its
building blocks for their tables, and the tests compare the two for level and
spectrum. Work is in float32/complex64, and random bins are drawn only where a
band has energy, to keep time and memory small on a Raspberry Pi.
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
VERSION = 3  # bump when the synthesis changes, so loops cached by the mixer are made again
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
    """Root mean square of all of ``x``: blocks of 65536 dotted in place, their sums added in float64.

    No copy, not even a float64 one: that conversion cost more than the noise it measured.
    """
    flat = x.reshape(-1)
    total = sum(
        float(np.dot(block, block))
        for block in (flat[i : i + 65536] for i in range(0, flat.size, 65536))
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


# --- streaming beds: what the mixer plays -----------------------------------------------

VOICES = 3  # voices per layer: every moment mixes this many unrelated excerpts
OCEAN_VOICES = 2  # the ocean's waves already vary it: two voices of four channels are enough
# each voice's own seamless table; at 44.1 kHz a noise bed or rain holds 6.4 MB, the ocean 12.7
TABLE_SECONDS = 6.0
# per voice: unequal, so the voices' joins never line up. Short: the highest correlation of
# two 10 s windows grows with the share of a window one segment fills (3-4 s segments: 0.38)
SEGMENT_SECONDS = (1.1, 1.3, 1.7)
# equal-power join from one segment into the next: short, since a crossfaded frame costs four
# passes where a plain one costs one (0.2 s fades made the layer 1.6x dearer); noise into
# unrelated noise of the same spectrum at equal power has no seam to hear
CROSSFADE_SECONDS = 0.05
APART_SECONDS = 0.3  # segments crossfading read table positions at least this far apart
DROP_CHUNK_SECONDS = 1.0  # near rain drops are placed per chunk of this many seconds
NEAR_DROPS_PER_SECOND = 25.0
PINGS = 64  # distinct near-drop sounds, each heard at its own level and place
EPOCH_SECONDS = 64.0  # ocean waves are drawn per epoch of absolute time ...
WAVES_PER_EPOCH = 8  # ... eight of them, each 6 s plus a random share of the other 16 s
HOP_SECONDS = 0.05  # the wave envelope's control rate
SMOOTH_SECONDS = 0.6  # moving average over the envelope: no wave starts with a corner
GAIN_STEP = 128  # frames: the wave gains are held this long (2.9 ms at 44.1 kHz)
GAIN_CHUNK = 16384  # gain steps worked out at once and kept (48 s at 44.1 kHz)
_M64 = (1 << 64) - 1


def open_ambience(name: str, rate: int, seed: int = 0) -> Bed:
    """The endless stereo bed ``name`` at ``rate`` Hz: a ``Source`` that never repeats.

    ``read(offset, n)`` depends on nothing but ``(name, rate, seed, offset, n)``.
    Making it costs a few tenths of a second (its tables); reading costs a
    few copies per block. Raises ``ValueError`` for an unknown name.
    """
    if name not in NAMES:
        raise ValueError(f"unknown ambience {name!r}; expected one of {', '.join(NAMES)}")
    if name == "rain":
        return Rain(rate, seed)
    if name == "ocean":
        return Ocean(rate, seed)
    slope = {"white-noise": 0.0, "pink-noise": 0.5, "brown-noise": 1.0}[name]
    return NoiseBed(rate, seed, slope)


def _hash(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix64 rounds): random-looking and pure, cheap for a few a block."""
    z = 0
    for part in parts:
        z = (z + (part & _M64) + 0x9E3779B97F4A7C15) & _M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        z ^= z >> 31
    return z


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng(_hash(*parts))


def _table_frames(rate: int) -> int:
    return int(TABLE_SECONDS * rate) & ~1  # even: rfft/irfft exact inverses


def _knee(out: np.ndarray) -> None:
    """Round off the rare peaks above ``KNEE`` in place, as ``_level`` does: none reaches ``MAX_PEAK``.

    Sample by sample, so it keeps ``read`` a pure function of the offset.
    """
    peak = max(float(out.max()), -float(out.min())) if out.size else 0.0
    if peak <= KNEE:
        return
    over = np.abs(out) > KNEE
    x = out[over]
    room = np.float32(MAX_PEAK - KNEE)
    out[over] = np.sign(x) * (KNEE + room * np.tanh((np.abs(x) - KNEE) / room))


class Layer:
    """Voices, one per seamless table, each reading it in hashed, crossfaded segments.

    Voice ``k`` plays segment ``j`` over frames ``[phase + j*S, phase + (j+1)*S)``
    (``S`` its segment length) from table position ``(offset_j + frame) % L``,
    fading in over the ``CROSSFADE_SECONDS`` before that span while segment
    ``j - 1`` fades out. Offsets are hashed from (key, voice, segment), so any
    frame is found without reading what came before. Two segments that
    crossfade are kept ``APART_SECONDS`` apart in the table (correlated
    excerpts would swell by 3 dB): odd segments pick the first of four
    candidate offsets that is far enough from both even neighbours.
    """

    def __init__(self, tables: list[np.ndarray], rate: int, key: tuple[int, ...]) -> None:
        self._tables = [np.ascontiguousarray(t, dtype=np.float32) for t in tables]
        self._key = key
        self._segments = [int(s * rate) for s in SEGMENT_SECONDS[: len(tables)]]
        self._phases = [_hash(*key, k, -1) % seg for k, seg in enumerate(self._segments)]
        self._fade = max(int(CROSSFADE_SECONDS * rate), 1)
        u = (np.arange(self._fade) + 0.5) / self._fade
        # (frames, channels), not (frames, 1): broadcasting a column over two is 5x slower
        channels = self._tables[0].shape[1]
        self._fade_in = np.repeat(np.sin(0.5 * np.pi * u).astype(np.float32)[:, None], channels, 1)
        self._fade_out = np.repeat(np.cos(0.5 * np.pi * u).astype(np.float32)[:, None], channels, 1)
        self._scratch = np.empty((self._fade, channels), dtype=np.float32)  # one crossfade's worth
        self._apart = int(APART_SECONDS * rate)
        self._offsets: dict[tuple[int, int], int] = {}

    def render(self, lo: int, n: int) -> np.ndarray:
        """This layer's frames ``[lo, lo + n)``: a new float32 ``(n, channels)`` array.

        The first voice writes every frame (a copy, no zeroing first); the
        others add to it: the cost is about one pass over the block per voice,
        plus a little for the few frames that crossfade.
        """
        out = np.empty((n, self._tables[0].shape[1]), dtype=np.float32)
        for k in range(len(self._tables)):
            self._voice(out, lo, k, first=k == 0)
        return out

    def joins(self, lo: int, hi: int) -> list[int]:
        """Frames in ``[lo, hi)`` where some voice starts or ends a crossfade (for tests and figures)."""
        found = []
        for seg, phase in zip(self._segments, self._phases, strict=True):
            for j in range((lo - phase) // seg, (hi - phase) // seg + 1):
                start = phase + j * seg
                found += [f for f in (start - self._fade, start) if lo <= f < hi]
        return sorted(found)

    def _voice(self, out: np.ndarray, lo: int, k: int, first: bool) -> None:
        """Voice ``k`` into ``out`` (frames ``[lo, lo + len(out))``): plain spans, then crossfades.

        Segment ``j`` alone sounds over ``[start_j, start_j+1 - x)``; over
        ``[start_j+1 - x, start_j+1)`` it fades out while ``j + 1`` fades in.
        Each span is one or two whole-array operations, whatever the block size.
        """
        hi = lo + out.shape[0]
        seg, phase, x = self._segments[k], self._phases[k], self._fade
        a = lo
        while a < hi:
            j = (a - phase) // seg
            cross = phase + (j + 1) * seg - x  # the fade into segment j + 1 starts here
            if a < cross:
                b = min(hi, cross)
                self._read(out[a - lo : b - lo], k, self._offset(k, j), a, None, 0, first)
            else:
                b = min(hi, cross + x)
                dst = out[a - lo : b - lo]
                old, new = self._offset(k, j), self._offset(k, j + 1)
                if first:
                    self._read(dst, k, old, a, self._fade_out, a - cross, True)
                else:
                    scratch = self._scratch[: b - a]
                    self._read(scratch, k, old, a, self._fade_out, a - cross, True)
                    dst += scratch
                scratch = self._scratch[: b - a]
                self._read(scratch, k, new, a, self._fade_in, a - cross, True)
                dst += scratch
            a = b

    def _read(
        self,
        dst: np.ndarray,
        k: int,
        off: int,
        a: int,
        gain: np.ndarray | None,
        g: int,
        assign: bool,
    ) -> None:
        """Table ``k`` from position ``off + a`` (times ``gain[g:]``) into ``dst``: set or added."""
        table = self._tables[k]
        size = table.shape[0]
        p, i, n = (off + a) % size, 0, dst.shape[0]
        while i < n:
            m = min(n - i, size - p)
            part, src = dst[i : i + m], table[p : p + m]
            if gain is not None:  # always assigned: a crossfade's halves go through the scratch
                np.multiply(src, gain[g + i : g + i + m], out=part)
            elif assign:
                part[:] = src
            else:
                part += src
            i, p = i + m, 0

    def _offset(self, k: int, j: int) -> int:
        if (k, j) in self._offsets:
            return self._offsets[(k, j)]
        size = self._tables[k].shape[0]
        off = raw = _hash(*self._key, k, j) % size
        if j % 2:
            near = (_hash(*self._key, k, j - 1) % size, _hash(*self._key, k, j + 1) % size)
            for i in range(4):  # each neighbour rules out at most one: two always remain
                off = (raw + i * size // 4) % size
                if all(min((off - o) % size, (o - off) % size) >= self._apart for o in near):
                    break
        if len(self._offsets) >= 64:
            self._offsets.clear()
        self._offsets[(k, j)] = off
        return off


class Bed:
    """An endless stereo ambience ``Source``; subclasses make the frames, this keeps the peaks down."""

    channels = 2
    length: int | None = None

    def read(self, offset: int, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros((0, 2), dtype=np.float32)
        out = self._render(offset, n)
        _knee(out)
        return out

    def release(self) -> None:
        """The bed plays all session long: its tables are kept."""

    def _render(self, lo: int, n: int) -> np.ndarray:
        raise NotImplementedError


def _voice_tables(
    seed: int, layer: int, make: Callable[[np.random.Generator], np.ndarray], voices: int = VOICES
) -> list[np.ndarray]:
    """One unit-RMS table per voice, each scaled by 1/sqrt(voices): the voices add up to unit RMS."""
    scale = np.float32(1 / np.sqrt(voices))
    return [np.asarray(make(_rng(seed, layer, k)), dtype=np.float32) * scale for k in range(voices)]


class NoiseBed(Bed):
    """White, pink or brown noise: one layer of noise tables, ``TARGET_RMS`` over both channels."""

    def __init__(self, rate: int, seed: int, slope: float) -> None:
        frames = _table_frames(rate)
        tables = _voice_tables(seed, 1, lambda rng: _noise_bed(rng, frames, rate, slope))
        for t in tables:
            t *= np.float32(TARGET_RMS)
        self._layer = Layer(tables, rate, (seed, 1))

    def _render(self, lo: int, n: int) -> np.ndarray:
        return self._layer.render(lo, n)


class Rain(Bed):
    """Rain hiss with far drops in its tables, and near drops placed per chunk over absolute time.

    Levels as in ``make_loop``: the bed at unit RMS plus 0.35 of unit drops
    (near plus half as much far), the whole at ``TARGET_RMS``. The far drops
    are a fine texture (160 a second), so tables carry them, a third in each
    voice; the near ones (25 a second) are what an ear would recognise, so
    each is placed afresh: chunk ``c`` draws its drops from its own generator.
    """

    def __init__(self, rate: int, seed: int) -> None:
        frames = _table_frames(rate)
        high = min(6000.0, 0.4 * rate)
        beds, fars = [], []
        for k in range(VOICES):
            rng = _rng(seed, 2, k)
            beds.append(_band(rng, frames, rate, 0.5, low=150.0, high=high, width=0.9))
            fars.append(
                _droplets(rng, frames, rate, 160.0 / VOICES, seconds=0.008, decay=(0.0015, 0.003))
            )
        self._pings = _ping_bank(_rng(seed, 3), rate, seconds=0.02, decay=(0.003, 0.008))
        amp2 = (1 - 0.1**7) / (7 * 0.9)  # E[amp**2] for amp = U(0.1, 1)**3
        energy = float(np.mean(np.sum(self._pings.astype(np.float64) ** 2, axis=1)))
        near_power = NEAR_DROPS_PER_SECOND / rate * amp2 * energy / 2  # per sample, both channels
        far_power = sum(float(np.mean(f.astype(np.float64) ** 2)) for f in fars)
        unit = 0.35 / np.sqrt(near_power + 0.25 * far_power)
        total = TARGET_RMS / np.sqrt(1 + 0.35**2)
        root = np.sqrt(VOICES)
        tables = [
            (bed + np.float32(root * 0.5 * unit) * far) * np.float32(total / root)
            for bed, far in zip(beds, fars, strict=True)
        ]
        self._layer = Layer(tables, rate, (seed, 2))
        self._near = float(total * unit)
        self._chunk_frames = max(int(DROP_CHUNK_SECONDS * rate), 1)
        self._seed = seed
        self._chunks: dict[int, np.ndarray] = {}

    def _render(self, lo: int, n: int) -> np.ndarray:
        out = self._layer.render(lo, n)
        self._add_drops(out, lo)
        return out

    def _add_drops(self, out: np.ndarray, lo: int) -> None:
        hi, size = lo + out.shape[0], self._chunk_frames
        tail = self._pings.shape[1]  # a chunk's last drops ring on into the next
        frames = out.view(np.complex64)[:, 0]  # (left, right) as one number: contiguous adds
        for c in range(max((lo - tail) // size, 0), (hi - 1) // size + 1):
            drops = self._chunk(c)
            a, b = max(lo, c * size), min(hi, c * size + len(drops))
            if a < b:
                frames[a - lo : b - lo] += drops[a - c * size : b - c * size]

    def _chunk(self, c: int) -> np.ndarray:
        """Chunk ``c``'s near drops from frame ``c * chunk``: complex64 (left + i right) frames.

        Stereo frames as complex numbers keep every add contiguous: a drop is
        its ping times one complex gain (its level and place), added in one pass.
        """
        if c not in self._chunks:
            rng = _rng(self._seed, 4, c)
            size, k = self._chunk_frames, self._pings.shape[1]
            count = int(rng.poisson(NEAR_DROPS_PER_SECOND * DROP_CHUNK_SECONDS))
            starts = rng.integers(0, size, count).tolist()
            which = rng.integers(0, PINGS, count).tolist()
            amp = rng.uniform(0.1, 1.0, count) ** 3 * self._near  # many faint, few loud
            pan = rng.uniform(0.15, 0.85, count)  # share to the right
            gains = (amp * (np.sqrt(1 - pan) + 1j * np.sqrt(pan))).astype(
                np.complex64
            )  # equal power
            out = np.zeros(size + k, dtype=np.complex64)
            for start, w, gain in zip(starts, which, gains, strict=True):
                out[start : start + k] += self._pings[w] * gain
            if len(self._chunks) >= 3:
                self._chunks.pop(next(iter(self._chunks)))
            self._chunks[c] = out
        return self._chunks[c]


def _ping_bank(
    rng: np.random.Generator, rate: int, seconds: float, decay: tuple[float, float]
) -> np.ndarray:
    """``PINGS`` droplet sounds ``(PINGS, frames)``, made as ``_droplets`` makes each drop, peak 1."""
    k = max(int(seconds * rate), 2)
    top = min(4200.0, 0.35 * rate)
    f0 = np.exp(rng.uniform(np.log(1200.0), np.log(top), (PINGS, 1)))
    tau = rng.uniform(*decay, (PINGS, 1))
    chirp = rng.uniform(0.0, 0.3, (PINGS, 1)) / seconds
    t = np.arange(k) / rate
    pings = np.sin(2 * np.pi * f0 * (t + 0.5 * chirp * t**2)) * np.exp(-t / tau)
    ramp(pings.T, rate, 0.0003, 0.3 * seconds)
    return np.ascontiguousarray(pings, dtype=np.float32)


class Ocean(Bed):
    """Deep roar and bright wash under irregular waves drawn over absolute time.

    As in ``make_loop``: the deep band follows each wave's level (0.3 + 0.7 e),
    the wash its square, and the right channel hears the waves a moment later.
    Epoch ``e`` (``EPOCH_SECONDS`` of absolute time) draws its eight waves from
    its own generator; the envelope at any control point sums the waves of its
    epoch and both neighbours, so it is a pure function of time, and its level
    is calibrated on the first ten epochs so the bed sits at ``TARGET_RMS``.
    """

    def __init__(self, rate: int, seed: int) -> None:
        frames = _table_frames(rate)
        wash_high = min(6000.0, 0.4 * rate)

        def make(rng: np.random.Generator) -> np.ndarray:
            deep = _band(rng, frames, rate, 0.9, low=35.0, high=900.0, width=0.55)
            wash = _band(rng, frames, rate, 0.4, low=400.0, high=wash_high, width=0.55)
            return np.hstack([deep, wash])

        # deep and wash side by side, (frames, 4): one read per voice, one gain pass per block
        self._layer = Layer(_voice_tables(seed, 5, make, OCEAN_VOICES), rate, (seed, 5))
        self._seed = seed
        self._hop = max(int(HOP_SECONDS * rate), 1)
        self._points = round(EPOCH_SECONDS / HOP_SECONDS)  # control points per epoch
        self._lag = max(int(_rng(seed, 7).uniform(0.2, 0.5) / HOP_SECONDS), 1)
        self._epochs: dict[int, np.ndarray] = {}
        self._gain_chunks: dict[int, np.ndarray] = {}
        e = self._env(0, 10 * self._points)
        power = np.mean((0.3 + 0.7 * e) ** 2) + 0.49 * np.mean(e**4)
        self._gain = float(TARGET_RMS / np.sqrt(power))

    def _render(self, lo: int, n: int) -> np.ndarray:
        both = self._layer.render(lo, n)
        both *= self._gains(lo, n)
        # deep + wash, channel by channel: seen as complex pairs (left + i right) the sum is one
        # contiguous pass, where adding the two halves of each row runs a loop of two, 20x slower
        pairs = both.view(np.complex64)
        return (pairs[:, 0] + pairs[:, 1]).view(np.float32).reshape(n, 2)

    def _gains(self, lo: int, n: int) -> np.ndarray:
        """Per-frame ``(n, 4)`` gains: deep band left and right, then the wash.

        The envelope is interpolated linearly to every ``GAIN_STEP``-th frame
        of absolute time and held in between: a step is at most a few parts in
        ten thousand, far under the noise's own sample-to-sample change, and a
        repeat is one cheap pass where a per-frame ramp costs four. The steps
        are worked out a ``GAIN_CHUNK`` at a time and kept, so a block costs
        one slice and one repeat.
        """
        q0, q1 = lo // GAIN_STEP, (lo + n - 1) // GAIN_STEP + 1
        c0, c1 = q0 // GAIN_CHUNK, (q1 - 1) // GAIN_CHUNK
        if c0 == c1:
            steps = self._gain_chunk(c0)[q0 - c0 * GAIN_CHUNK : q1 - c0 * GAIN_CHUNK]
        else:
            parts = [self._gain_chunk(c) for c in range(c0, c1 + 1)]
            steps = np.concatenate(parts)[q0 - c0 * GAIN_CHUNK : q1 - c0 * GAIN_CHUNK]
        skip = lo - q0 * GAIN_STEP
        return np.repeat(steps, GAIN_STEP, axis=0)[skip : skip + n]

    def _gain_chunk(self, c: int) -> np.ndarray:
        """The float32 ``(GAIN_CHUNK, 4)`` gains of steps ``[c, c + 1) * GAIN_CHUNK``."""
        if c not in self._gain_chunks:
            q0, q1 = c * GAIN_CHUNK, (c + 1) * GAIN_CHUNK
            at = np.arange(q0, q1, dtype=np.float64) * (GAIN_STEP / self._hop)  # control points
            e = np.empty((q1 - q0, 2))
            for side, shift in enumerate((0, self._lag)):
                j0 = int(at[0]) - shift
                env = self._env(j0, int(at[-1]) - shift + 2)
                e[:, side] = np.interp(at - shift, np.arange(j0, j0 + len(env)), env)
            gains = np.hstack([(0.3 + 0.7 * e) * self._gain, (0.7 * self._gain) * e * e])
            if len(self._gain_chunks) >= 2:
                self._gain_chunks.pop(next(iter(self._gain_chunks)))
            self._gain_chunks[c] = gains.astype(np.float32)
        return self._gain_chunks[c]

    def _env(self, j0: int, j1: int) -> np.ndarray:
        """The wave envelope (about 0..1) at control points ``[j0, j1)``."""
        m = self._points
        parts = []
        for e in range(j0 // m, (j1 - 1) // m + 1):
            env = self._epoch(e)
            parts.append(env[max(j0 - e * m, 0) : min(j1 - e * m, m)])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _epoch(self, e: int) -> np.ndarray:
        """Epoch ``e``'s envelope at its ``m`` control points, smoothed over ``SMOOTH_SECONDS``."""
        if e not in self._epochs:
            m, w = self._points, max(round(SMOOTH_SECONDS / HOP_SECONDS), 1)
            j = np.arange(e * m - w // 2 + 1, (e + 1) * m + w // 2, dtype=np.float64)
            raw = np.zeros(len(j))
            for near in (e - 1, e, e + 1):
                crests, lengths, size, rise = self._waves(near)
                u = (j[None, :] - crests[:, None]) / lengths[:, None]  # wave-lengths from a crest
                r = rise[:, None]
                build = np.cos(0.5 * np.pi * np.clip(u / r, -1, 0)) ** 2
                draw_back = np.exp(-np.clip(u, 0, None) / (0.3 * (1 - r)))
                raw += (size[:, None] * np.where(u < 0, build, draw_back)).sum(axis=0)
            total = np.concatenate([[0.0], np.cumsum(raw)])
            if len(self._epochs) >= 4:
                self._epochs.pop(next(iter(self._epochs)))
            self._epochs[e] = (total[w:] - total[:-w]) / w
        return self._epochs[e]

    def _waves(self, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Epoch ``e``'s waves: crests and lengths (control points), sizes, share spent building."""
        rng = _rng(self._seed, 8, e)
        seconds = 6.0 + (EPOCH_SECONDS - 6.0 * WAVES_PER_EPOCH) * rng.dirichlet(
            np.full(WAVES_PER_EPOCH, 4.0)
        )
        lengths = seconds / HOP_SECONDS
        crests = e * self._points + np.cumsum(lengths) - 0.5 * lengths
        return (
            crests,
            lengths,
            rng.uniform(0.6, 1.0, WAVES_PER_EPOCH),
            rng.uniform(0.45, 0.65, WAVES_PER_EPOCH),
        )
