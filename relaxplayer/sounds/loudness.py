"""Loudness the broadcast way (ITU-R BS.1770-4): the level targets and how they are measured.

Every level decision in relaxplayer refers to these numbers, and
docs/listening.md explains them. Loudness is in LUFS (K-weighted, gated; 1 LU =
1 dB of loudness), measured with libebur128 (the reference library ffmpeg and
mpv use, ``sounds/ebur128.py``); true peak is in dBTP, measured on a 4x
oversampled signal as in BS.1770-4 Annex 2. Nothing here imports scipy: the
narration worker levels every line, and scipy alone would cost it 91 MB.

A mono source (the voice, tones, bells) is measured as the mono signal each
speaker plays; the levels below are for that signal.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from relaxplayer.sounds import ebur128

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


def integrated_loudness(data: np.ndarray, rate: int) -> float:
    """Gated integrated loudness of ``data`` (``(n,)`` or ``(n, channels)``), LUFS.

    Measured by libebur128 (``sounds/ebur128.py``). A sound shorter than one
    400 ms gating block ("Release.") is measured over copies of itself laid
    end to end: the same mean square, so its loudness is its own momentary
    loudness over its length instead of being diluted by padding. Silence
    measures ``-inf``.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.shape[0] == 0:
        return float("-inf")
    block = int(np.ceil(BLOCK_SECONDS * rate)) + 1
    if x.shape[0] < block:
        reps = -(-block // x.shape[0])
        x = np.concatenate([x] * reps, axis=0)
    with ebur128.Meter(rate, 1 if x.ndim == 1 else x.shape[1]) as meter:
        meter.add(x)
        value = meter.integrated()
    return value if np.isfinite(value) and value > SILENCE_LUFS else float("-inf")


def momentary(data: np.ndarray, rate: int, step: float = 0.1) -> np.ndarray:
    """Momentary loudness (400 ms windows every ``step`` seconds), LUFS per window.

    Window ``k`` covers frames ``[k * step, k * step + 0.4 s)``; libebur128's
    filters run once over the whole sound. A sound shorter than one window
    gives one value, its integrated loudness (the copies rule above).
    Silence reads about -200 LUFS rather than ``-inf``, so maxima compare.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    floor = float(to_lufs(0.0))
    win, hop = int(BLOCK_SECONDS * rate), max(int(step * rate), 1)
    if x.shape[0] < win:
        return np.array([max(integrated_loudness(x, rate), floor)])
    starts = np.arange(0, x.shape[0] - win + 1, hop)
    out = np.empty(starts.shape[0])
    with ebur128.Meter(rate, x.shape[1], ebur128.MODE_M) as meter:
        fed = 0
        for k, start in enumerate(starts):
            meter.add(x[fed : start + win])
            fed = start + win
            out[k] = meter.momentary()
    return np.maximum(out, floor)


def true_peak(data: np.ndarray, rate: int) -> float:
    """True peak in dBTP: the largest magnitude of the 4x oversampled signal (BS.1770-4 Annex 2).

    ``rate`` does not change the measurement (the oversampling is relative);
    it is there so every measure here reads the same. ``-inf`` for silence.
    """
    return db(float(np.max(true_peak_envelope(data), initial=0.0)))


@cache
def _phases() -> tuple[np.ndarray, ...]:
    """The 4x interpolation filter, split into its 4 phases (21, 20, 20, 20 taps).

    The filter is scipy's ``resample_poly(x, 4, 1)`` one, written out so the
    worker needs no scipy (tests pin the two together): an 81-tap windowed
    sinc, cutoff a quarter of the new Nyquist, Kaiser window (beta 5), unity
    gain at DC, times 4 for the inserted zeros.
    """
    half = 10 * OVERSAMPLE
    m = np.arange(2 * half + 1) - half
    cutoff = 1.0 / OVERSAMPLE
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half + 1, 5.0)
    h = h / h.sum() * OVERSAMPLE
    return tuple(h[p::OVERSAMPLE] for p in range(OVERSAMPLE))


def true_peak_envelope(data: np.ndarray) -> np.ndarray:
    """Per input frame, the largest oversampled magnitude around it (over all channels).

    Oversampling by 4 with a polyphase FIR (the filter of scipy's
    ``resample_poly``, Kaiser window; zeros before and after the sound) finds
    the peaks between samples that a DAC or an MP3 encoder will reconstruct;
    the envelope lets a limiter act on them sample by sample. Output sample
    ``4 m + p`` is phase ``p`` of the filter run over the input around frame ``m``.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    delay = 10  # the filter's centre, in input frames (its 81 taps span +-40 output samples)
    env = np.abs(x).max(axis=1)
    for ch in range(x.shape[1]):
        for taps in _phases():
            phase = np.convolve(x[:, ch], taps)[delay : delay + n]
            np.maximum(env, np.abs(phase), out=env)
    return env


def _running_min(x: np.ndarray, half: int) -> np.ndarray:
    """Minimum over ``x[i - half : i + half + 1]`` for every ``i``, edges held (van Herk / Gil-Werman).

    The same as scipy's ``minimum_filter1d(x, 2 * half + 1, mode="nearest")``
    in O(n): blocks of the window's width, with a running minimum forwards and
    one backwards in each; any window spans the tail of one block and the head
    of the next.
    """
    width = 2 * half + 1
    padded = np.pad(x, half, mode="edge")
    blocks = -(-padded.shape[0] // width)
    buf = np.full(blocks * width, np.inf)
    buf[: padded.shape[0]] = padded
    rows = buf.reshape(blocks, width)
    forward = np.minimum.accumulate(rows, axis=1).ravel()
    backward = np.minimum.accumulate(rows[:, ::-1], axis=1)[:, ::-1].ravel()
    n = x.shape[0]
    return np.minimum(backward[:n], forward[width - 1 : width - 1 + n])


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
        need = _running_min(need, half)
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

    The same filters as ``integrated_loudness`` (libebur128's), their state
    carried from block to block, so an hour of audio is measured in constant
    memory; ``powers`` holds one mean square per hop (``rate // 10`` frames,
    libebur128's own 100 ms).
    """

    def __init__(self, rate: int, channels: int) -> None:
        self.rate = rate
        self.hop = rate // 10
        self._meter = ebur128.Meter(rate, channels, ebur128.MODE_M)
        self._carry = np.zeros((0, channels))
        self._powers: list[float] = []

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        x = x[:, None] if x.ndim == 1 else x
        x = np.concatenate([self._carry, x])
        n = x.shape[0] // self.hop
        for k in range(n):
            self._meter.add(x[k * self.hop : (k + 1) * self.hop])
            level = self._meter.window(100)
            self._powers.append(10 ** ((level + 0.691) / 10) if np.isfinite(level) else 0.0)
        self._carry = x[n * self.hop :]

    @property
    def powers(self) -> np.ndarray:
        return np.array(self._powers)


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
