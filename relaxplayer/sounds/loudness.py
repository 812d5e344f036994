"""Loudness the broadcast way (ITU-R BS.1770-4): the level targets and how they are measured.

Every level decision in relaxplayer refers to these numbers, and
docs/listening.md explains them. Loudness is in LUFS (K-weighted, gated; 1 LU =
1 dB of loudness), measured with ``pyloudnorm`` for integrated loudness; true
peak is in dBTP, measured on a 4x oversampled signal as in BS.1770-4 Annex 2.

A mono source (the voice, tones, bells) is measured as the mono signal each
speaker plays; the levels below are for that signal.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# --- targets (LUFS, LU, dBTP) ---------------------------------------------------------
VOICE_LUFS = -20.0  # every narration line and recorded clip, integrated, measured alone
TONES_UNDER_VOICE = 8.0  # breathing tones: momentary max at least this far under the voice
BELLS_UNDER_VOICE = 4.0  # bells: momentary (400 ms) max at least this far under the voice
BACKGROUND_UNDER_VOICE = 14.0  # default background between lines, at least this far under
LINE_CEILING_DBTP = -3.0  # a line's own peak limiter holds its true peak here
CEILING_DBTP = -1.0  # the whole mix, every render and every playback
LINE_SPREAD = 1.5  # LU: every line of a session within this of the others

BLOCK_SECONDS = 0.4  # the BS.1770 gating block (momentary loudness window)
OVERSAMPLE = 4  # true-peak measurement, BS.1770-4 Annex 2
SILENCE_LUFS = -70.0  # the absolute gate: quieter than this counts as silence


def db(gain: float) -> float:
    """A linear amplitude as dB (-inf for 0)."""
    return float(20 * np.log10(gain)) if gain > 0 else float("-inf")


def gain(db_value: float) -> float:
    """dB as a linear amplitude."""
    return float(10 ** (db_value / 20))


@cache
def _meter(rate: int):  # -> pyloudnorm.Meter
    """A BS.1770 meter per rate; pyloudnorm (and scipy) load on first use, not at start-up."""
    import pyloudnorm

    return pyloudnorm.Meter(rate, block_size=BLOCK_SECONDS)


def integrated_loudness(data: np.ndarray, rate: int) -> float:
    """Gated integrated loudness of ``data`` (``(n,)`` or ``(n, channels)``), LUFS.

    A sound shorter than one 400 ms gating block ("Release.") is measured over
    copies of itself laid end to end: the same mean square, so its loudness is
    its own momentary loudness over its length instead of being diluted by
    padding. Silence measures ``-inf``.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.shape[0] == 0:
        return float("-inf")
    block = int(np.ceil(BLOCK_SECONDS * rate)) + 1
    if x.shape[0] < block:
        reps = -(-block // x.shape[0])
        x = np.concatenate([x] * reps, axis=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(_meter(rate).integrated_loudness(x))
    return value if np.isfinite(value) and value > SILENCE_LUFS else float("-inf")


def momentary(data: np.ndarray, rate: int, step: float = 0.1) -> np.ndarray:
    """Momentary loudness (400 ms windows every ``step`` seconds), LUFS per window.

    Computed directly (K-weighting by pyloudnorm's own filters, then mean
    squares), so a long render is measured in one vectorised pass.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    weighted = _k_weight(x, rate)
    power = np.sum(weighted**2, axis=1)  # channel weights 1.0 for L and R
    csum = np.concatenate([[0.0], np.cumsum(power)])
    win, hop = int(BLOCK_SECONDS * rate), max(int(step * rate), 1)
    if x.shape[0] < win:
        return np.array([-0.691 + 10 * np.log10(max(csum[-1] / max(x.shape[0], 1), 1e-20))])
    starts = np.arange(0, x.shape[0] - win + 1, hop)
    mean_square = (csum[starts + win] - csum[starts]) / win
    return -0.691 + 10 * np.log10(np.maximum(mean_square, 1e-20))


def _k_weight(x: np.ndarray, rate: int) -> np.ndarray:
    """The BS.1770 K-weighting (high shelf, then high pass), channel by channel."""
    out = x.copy()
    for stage in _meter(rate)._filters.values():
        for ch in range(out.shape[1]):
            out[:, ch] = stage.apply_filter(out[:, ch])
    return out


def true_peak(data: np.ndarray, rate: int) -> float:
    """True peak in dBTP: the largest magnitude of the 4x oversampled signal (BS.1770-4 Annex 2).

    ``rate`` does not change the measurement (the oversampling is relative);
    it is there so every measure here reads the same. ``-inf`` for silence.
    """
    return db(float(np.max(true_peak_envelope(data), initial=0.0)))


def true_peak_envelope(data: np.ndarray) -> np.ndarray:
    """Per input frame, the largest oversampled magnitude around it (over all channels).

    Oversampling by 4 with a polyphase FIR (scipy's ``resample_poly``, Kaiser
    window) finds the peaks between samples that a DAC or an MP3 encoder will
    reconstruct; the envelope lets a limiter act on them sample by sample.
    """
    from scipy.signal import resample_poly

    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    up = resample_poly(x, OVERSAMPLE, 1, axis=0)[: n * OVERSAMPLE]
    env = np.abs(up).max(axis=1).reshape(n, OVERSAMPLE).max(axis=1)
    return np.maximum(env, np.abs(x).max(axis=1))


def line_gain(data: np.ndarray, rate: int, target: float = VOICE_LUFS) -> float:
    """Linear gain that brings ``data`` to ``target`` LUFS integrated (1.0 for silence)."""
    loudness = integrated_loudness(data, rate)
    if not np.isfinite(loudness):
        return 1.0
    return gain(target - loudness)


def limit_peaks(
    data: np.ndarray, rate: int, ceiling_dbtp: float = LINE_CEILING_DBTP, smooth: float = 0.008
) -> np.ndarray:
    """Hold the true peak of a whole sound (a line, a clip) at ``ceiling_dbtp``, gently.

    Offline and look-ahead: the gain each frame needs (from the oversampled
    envelope) is spread by a minimum filter over ``smooth`` seconds either side
    and then smoothed by a Hann window of the same width, so the gain glides
    down before a peak and back after it (no clipping, no pumping) and is
    still at or below what every frame needs. Only the loudest consonants
    move. Returns ``data`` itself when no peak passes the ceiling.
    """
    from scipy.ndimage import minimum_filter1d

    ceiling = gain(ceiling_dbtp) * 0.999  # a hair under: the second pass rarely has work
    out = np.asarray(data, dtype=np.float32)
    half = max(int(smooth * rate), 1)
    window = np.hanning(2 * half + 3)[1:-1]
    window /= window.sum()
    for _ in range(4):  # between samples, a smoothed gain can leave a sliver: pass again
        env = true_peak_envelope(out)
        if env.size == 0 or float(env.max()) <= ceiling / 0.999:
            return out
        need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
        need = minimum_filter1d(need, size=2 * half + 1, mode="nearest")
        g = np.convolve(np.pad(need, half, mode="edge"), window, mode="valid")
        g = np.minimum(g, need)  # rounding in the smoothing must not let a peak through
        out = (out * g.reshape((-1,) + (1,) * (out.ndim - 1))).astype(np.float32)
    return out


def level_line(data: np.ndarray, rate: int, target: float = VOICE_LUFS) -> np.ndarray:
    """A narration line or clip at ``target`` LUFS, its true peak held at ``LINE_CEILING_DBTP``.

    Loudness is measured on the mono mix of the channels (as the mixer plays
    a clip). Limiting takes a little loudness off a punchy line, so the gain is
    corrected and the line limited again until it lands within 0.1 LU.
    """
    x = np.asarray(data, dtype=np.float32)
    mono = x.mean(axis=1) if x.ndim == 2 else x
    level = integrated_loudness(mono, rate)
    if not np.isfinite(level):
        return x
    g = gain(target - level)
    out = x
    for _ in range(4):
        out = limit_peaks(x * np.float32(g), rate)
        got = integrated_loudness(out.mean(axis=1) if out.ndim == 2 else out, rate)
        if not np.isfinite(got) or abs(target - got) < 0.1:
            break
        g *= gain(target - got)
    return out


# --- streaming measurement, for long renders (the listening report) ---------------------
HOP_SECONDS = 0.1  # momentary windows start every 100 ms (75 % overlap, as BS.1770 gates)


class HopMeter:
    """K-weighted power of a stream, summed over channels, per 100 ms hop, fed block by block.

    The same filters as ``integrated_loudness`` (pyloudnorm's), run with their
    state carried from block to block, so an hour of audio is measured in
    constant memory; ``powers`` holds one mean square per hop.
    """

    def __init__(self, rate: int, channels: int) -> None:
        from scipy.signal import lfilter

        self._lfilter = lfilter
        self.rate = rate
        self.hop = round(HOP_SECONDS * rate)
        self._stages = [(f.b, f.a, f.passband_gain) for f in _meter(rate)._filters.values()]
        self._state = [np.zeros((max(len(a), len(b)) - 1, channels)) for b, a, _ in self._stages]
        self._carry = np.zeros(0)
        self._powers: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        x = x[:, None] if x.ndim == 1 else x
        for k, (b, a, g) in enumerate(self._stages):
            x, self._state[k] = self._lfilter(b, a, x, axis=0, zi=self._state[k])
            x = x * g
        p = np.concatenate([self._carry, np.sum(x**2, axis=1)])
        n = p.shape[0] // self.hop
        self._powers.append(p[: n * self.hop].reshape(n, self.hop).mean(axis=1))
        self._carry = p[n * self.hop :]

    @property
    def powers(self) -> np.ndarray:
        return np.concatenate(self._powers) if self._powers else np.zeros(0)


def block_powers(powers: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Mean squares of the 400 ms blocks (4 hops each, one per hop) whose hops are all kept."""
    if powers.shape[0] < 4:
        return np.zeros(0)
    z = (powers[:-3] + powers[1:-2] + powers[2:-1] + powers[3:]) / 4
    if keep is not None:
        k = keep[:-3] & keep[1:-2] & keep[2:-1] & keep[3:]
        z = z[k]
    return z


def to_lufs(mean_square: np.ndarray | float) -> np.ndarray | float:
    return -0.691 + 10 * np.log10(np.maximum(mean_square, 1e-20))


def gated_loudness(blocks: np.ndarray) -> float:
    """Integrated loudness of 400 ms block mean squares: BS.1770 absolute and relative gates."""
    z = blocks[to_lufs(blocks) > SILENCE_LUFS]
    if z.size == 0:
        return float("-inf")
    z = z[to_lufs(z) > to_lufs(z.mean()) - 10.0]
    return float(to_lufs(z.mean())) if z.size else float("-inf")
