"""Ambience as numbers: the streaming beds the mixer plays, and the periodic loops they grew from.

The streams: level and peak, spectra matching the loops, seeded determinism,
seeks, no seams where segments join, and no 10-second window that correlates
with another more than 2 s away (repetition). The loops (``make_loop``):
level, seams, spectra, swells, stereo and seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from relaxplayer.model import AMBIENCES
from relaxplayer.sounds import ambience
from tests.conftest import db, rms

RATE = 16000
SECONDS = 8.0


@pytest.fixture(scope="module")
def loops() -> dict[str, np.ndarray]:
    """One short loop of every ambience, made once for the whole module."""
    return {name: ambience.make_loop(name, RATE, seconds=SECONDS) for name in AMBIENCES}


@pytest.fixture(scope="module")
def ocean() -> np.ndarray:
    """The ocean at its default length, so its waves are the ones users hear."""
    return ambience.make_loop("ocean", RATE)


def band_db(x: np.ndarray, lo: float, hi: float, rate: int = RATE) -> float:
    """Mean power (dB) of the spectrum of ``x`` between ``lo`` and ``hi`` Hz."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].mean()))


def block_levels(x: np.ndarray, seconds: float) -> np.ndarray:
    """RMS (dBFS) of consecutive blocks of ``seconds``, per channel: shape (blocks, channels)."""
    w = int(seconds * RATE)
    blocks = x[: len(x) // w * w].reshape(-1, w, x.shape[1])
    return 20 * np.log10(np.sqrt(np.mean(blocks.astype(np.float64) ** 2, axis=1)))


def high_passed(x: np.ndarray, lo: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / RATE) < lo] = 0
    return np.fft.irfft(spec, len(x))


def kurtosis(x: np.ndarray) -> float:
    """4th moment over squared variance: 3 for Gaussian noise, more for clicks and drops."""
    x = x - x.mean()
    return float(np.mean(x**4) / np.mean(x**2) ** 2)


def test_every_model_ambience_is_synthesized() -> None:
    assert set(ambience.NAMES) == set(AMBIENCES)


@pytest.mark.parametrize("name", AMBIENCES)
def test_loop_shape_level_and_no_dc(loops: dict[str, np.ndarray], name: str) -> None:
    x = loops[name]
    assert x.shape == (int(SECONDS * RATE), 2) and x.dtype == np.float32
    assert x.flags["C_CONTIGUOUS"]
    assert abs(db(rms(x)) - db(ambience.TARGET_RMS)) < 0.1  # -20 dBFS
    assert np.max(np.abs(x)) < ambience.MAX_PEAK  # well under full scale
    assert np.abs(x.mean(axis=0)).max() < 1e-4


def seam_is_smooth(x: np.ndarray) -> bool:
    """Whether the join from the last frame to the first looks like any other step in ``x``.

    Both the step and the change of slope across the join must be within the
    99.9th percentile of those inside the loop, on every channel.
    """
    joined = np.concatenate([x[-2:], x[:2]])  # the join sits between rows 1 and 2
    steps = np.abs(np.diff(x, axis=0))
    bends = np.abs(np.diff(x, n=2, axis=0))
    step_ok = np.abs(joined[2] - joined[1]) <= np.percentile(steps, 99.9, axis=0)
    bend_ok = np.abs(np.diff(joined, n=2, axis=0)).max(axis=0) <= np.percentile(bends, 99.9, axis=0)
    return bool(np.all(step_ok) and np.all(bend_ok))


@pytest.mark.parametrize("name", AMBIENCES)
def test_loop_is_seamless(loops: dict[str, np.ndarray], name: str) -> None:
    assert seam_is_smooth(loops[name])


@pytest.mark.parametrize("name", ["brown-noise", "ocean"])
def test_a_cut_loop_fails_the_seam_check(loops: dict[str, np.ndarray], name: str) -> None:
    """The seam check can fail: the same sound, cut short, is no longer periodic."""
    x = loops[name]
    assert not any(seam_is_smooth(x[:-cut]) for cut in (RATE // 3, RATE // 2, RATE))


@pytest.mark.parametrize(
    ("name", "slope"), [("white-noise", 0.0), ("pink-noise", -3.0), ("brown-noise", -6.0)]
)
def test_noise_colours_have_their_spectral_slope(
    loops: dict[str, np.ndarray], name: str, slope: float
) -> None:
    for channel in (0, 1):
        x = loops[name][:, channel]
        per_octave = (band_db(x, 1600, 3200) - band_db(x, 200, 400)) / 3  # dB per octave
        assert abs(per_octave - slope) < 1.0


def test_brown_noise_has_no_rumble_below_20_hz(loops: dict[str, np.ndarray]) -> None:
    x = loops["brown-noise"][:, 0]
    # 1/f^2 would put 2-10 Hz some 20 dB above 40-80 Hz; the high-pass takes it well below
    assert band_db(x, 2, 10) < band_db(x, 40, 80) - 6


@pytest.mark.parametrize("name", AMBIENCES)
def test_stereo_is_wide_but_related(loops: dict[str, np.ndarray], name: str) -> None:
    x = loops[name]
    corr = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert 0.1 < corr < 0.9


def test_rain_is_band_limited_and_soft(loops: dict[str, np.ndarray]) -> None:
    x = loops["rain"][:, 0]
    total = band_db(x, 20, RATE / 2)
    assert band_db(x, 7000, RATE / 2) < total - 15  # not hissy
    assert band_db(x, 20, 80) < total - 10  # no rumble
    assert band_db(x, 2000, 4000) < band_db(x, 250, 500)  # falls with frequency, like pink


def test_rain_has_droplets_over_its_bed(loops: dict[str, np.ndarray]) -> None:
    # the drops (1.2-4.2 kHz pings) make the top band spiky; plain noise is not
    assert kurtosis(high_passed(loops["rain"][:, 0], 1000)) > 3.3
    assert kurtosis(high_passed(loops["pink-noise"][:, 0], 1000)) < 3.1


def test_ocean_swells_and_recedes(ocean: np.ndarray) -> None:
    assert len(ocean) == int(ambience.AMBIENCE_SECONDS["ocean"] * RATE)
    levels = block_levels(ocean, 0.5)
    assert np.all(levels.max(axis=0) - levels.min(axis=0) > 8.0)  # dB


def test_ocean_waves_come_every_6_to_12_seconds(ocean: np.ndarray) -> None:
    env = 10 ** (block_levels(ocean, 0.5)[:, 0] / 20)
    harmonics = np.abs(np.fft.rfft(env - env.mean()))
    loop = len(ocean) / RATE
    period = loop / int(harmonics.argmax())
    assert 6.0 <= period <= 12.0


def test_ocean_brightens_as_a_wave_breaks(ocean: np.ndarray) -> None:
    w = RATE // 2
    blocks = ocean[: len(ocean) // w * w, 0].reshape(-1, w)
    spec = np.abs(np.fft.rfft(blocks, axis=1))
    centroid = (spec * np.fft.rfftfreq(w, 1 / RATE)).sum(axis=1) / spec.sum(axis=1)
    levels = block_levels(ocean, 0.5)[:, 0]
    assert np.corrcoef(levels, centroid)[0, 1] > 0.7
    assert centroid.max() > 2 * centroid.min()


def test_ocean_waves_reach_the_right_a_moment_later(ocean: np.ndarray) -> None:
    env = 10 ** (block_levels(ocean, 0.05) / 20)
    env -= env.mean(axis=0)
    lags = range(-20, 21)  # 50 ms steps: +-1 s
    xcorr = [float(np.dot(env[:, 0], np.roll(env[:, 1], -k))) for k in lags]
    lag = lags[int(np.argmax(xcorr))] * 0.05
    assert 0.1 <= lag <= 0.6  # seconds


@pytest.mark.parametrize("name", AMBIENCES)
def test_default_lengths(name: str) -> None:
    x = ambience.make_loop(name, 4000)
    expected = ambience.AMBIENCE_SECONDS.get(name, ambience.DEFAULT_SECONDS)
    assert len(x) == int(expected * 4000)
    assert expected * 44100 * 2 * 4 <= 18e6  # bytes at 44.1 kHz: a modest loop


def test_loops_are_deterministic_per_seed() -> None:
    for name in AMBIENCES:
        a = ambience.make_loop(name, RATE, seconds=2.0, seed=3)
        assert np.array_equal(a, ambience.make_loop(name, RATE, seconds=2.0, seed=3))
        assert not np.array_equal(a, ambience.make_loop(name, RATE, seconds=2.0, seed=4))


def test_odd_lengths_are_made_even() -> None:
    x = ambience.make_loop("pink-noise", 16001, seconds=1.0)
    assert len(x) == 16000


def test_unknown_ambience() -> None:
    with pytest.raises(ValueError, match="unknown ambience 'forest'; expected one of rain, ocean"):
        ambience.make_loop("forest", RATE)


def test_too_short_a_loop() -> None:
    with pytest.raises(ValueError, match="at least 1 s"):
        ambience.make_loop("rain", RATE, seconds=0.5)


# --- the streaming beds ------------------------------------------------------------------

STREAM_SECONDS = 60


@pytest.fixture(scope="module")
def streams() -> dict[str, np.ndarray]:
    """A minute of every bed at 16 kHz, read in play-sized blocks (1536 frames)."""
    return {
        name: read_blocks(ambience.open_ambience(name, RATE), STREAM_SECONDS * RATE, 1536)
        for name in AMBIENCES
    }


def read_blocks(source: ambience.Bed, frames: int, block: int, start: int = 0) -> np.ndarray:
    return np.concatenate(
        [
            source.read(lo, min(block, start + frames - lo))
            for lo in range(start, start + frames, block)
        ]
    )


def window_correlation(
    x: np.ndarray, rate: float, window: float = 10.0, apart: float = 2.0, hop: float = 2.5
) -> tuple[float, float, float]:
    """Highest |normalised correlation| of two ``window``-second stretches of ``x`` more than ``apart`` s apart.

    One window starts on a grid of ``hop`` seconds, the other anywhere: each
    grid window is cross-correlated with the whole signal by FFT, divided by
    both windows' energies (a sliding sum). A signal that repeats a stretch
    scores near 1; independent noise scores about 4/sqrt(window * bandwidth).
    Returns (correlation, start of the grid window, start of the other), s.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n, w, gap = len(x), int(window * rate), int(apart * rate)
    size = 1 << int(np.ceil(np.log2(n + w)))
    x32 = x.astype(np.float32)  # single-precision FFTs: twice as fast, exact to ~1e-5 here
    spectrum = np.fft.rfft(x32, size)
    sums = np.concatenate([[0.0], np.cumsum(x * x)])
    energy = sums[w:] - sums[:-w]  # of the window starting at each frame
    best = (0.0, 0.0, 0.0)
    for s in range(0, n - w + 1, max(int(hop * rate), 1)):
        corr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(x32[s : s + w], size)), size)[
            : n - w + 1
        ]
        corr = np.abs(corr) / np.sqrt(energy[s] * energy + 1e-30)
        corr[max(s - gap, 0) : s + gap + 1] = 0.0
        t = int(corr.argmax())
        if corr[t] > best[0]:
            best = (float(corr[t]), s / rate, t / rate)
    return best


def decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """Mean of every ``factor`` samples: linear, so any repeat in ``x`` repeats in the result."""
    return x[: len(x) // factor * factor].reshape(-1, factor).mean(axis=1)


@pytest.mark.parametrize("name", AMBIENCES)
def test_stream_level_and_peak_match_the_loop(
    streams: dict[str, np.ndarray], loops: dict[str, np.ndarray], name: str
) -> None:
    x = streams[name]
    assert x.shape == (STREAM_SECONDS * RATE, 2) and x.dtype == np.float32
    within = 1.0 if name == "ocean" else 0.25  # dB: a minute of ocean is only some eight waves
    assert abs(db(rms(x)) - db(ambience.TARGET_RMS)) < within  # -20 dBFS
    assert abs(db(rms(x)) - db(rms(loops[name]))) < within
    assert np.max(np.abs(x)) < ambience.MAX_PEAK  # -3 dBFS
    assert np.abs(x.mean(axis=0)).max() < 2e-3


@pytest.mark.parametrize("name", AMBIENCES)
def test_stream_spectrum_matches_the_loop(
    streams: dict[str, np.ndarray], loops: dict[str, np.ndarray], name: str
) -> None:
    x, loop = streams[name][: len(loops[name])], loops[name]
    for lo in (40, 100, 250, 630, 1600, 4000):
        for channel in (0, 1):
            here, there = band_db(x[:, channel], lo, 2 * lo), band_db(loop[:, channel], lo, 2 * lo)
            assert abs(here - there) < 2.0, (lo, channel)  # dB


@pytest.mark.parametrize("name", AMBIENCES)
def test_stream_stereo_is_wide_but_related(streams: dict[str, np.ndarray], name: str) -> None:
    x = streams[name]
    assert 0.1 < np.corrcoef(x[:, 0], x[:, 1])[0, 1] < 0.9


@pytest.mark.parametrize("name", AMBIENCES)
def test_stream_is_seeded_and_reads_the_same_however_it_is_read(name: str) -> None:
    a = ambience.open_ambience(name, RATE, seed=5)
    whole = a.read(3 * RATE, 20 * RATE)
    fresh = ambience.open_ambience(name, RATE, seed=5)
    assert np.array_equal(whole, fresh.read(3 * RATE, 20 * RATE))  # same seed, same samples
    other = ambience.open_ambience(name, RATE, seed=6).read(3 * RATE, 20 * RATE)
    assert np.abs(np.corrcoef(whole[:, 0], other[:, 0])[0, 1]) < 0.1  # another seed, another sound
    # play-sized blocks, render-sized blocks, odd blocks: the same frames
    for block in (1536, 32768, 997):
        assert np.array_equal(read_blocks(a, 20 * RATE, block, start=3 * RATE), whole)
    # seeks: far ahead, back, then the same place again
    a.read(3_600 * RATE, 4096)
    a.read(0, 10)
    assert np.array_equal(a.read(7 * RATE + 11, 5000), whole[4 * RATE + 11 : 4 * RATE + 5011])
    assert np.array_equal(a.read(7 * RATE + 11, 5000), whole[4 * RATE + 11 : 4 * RATE + 5011])


def steps_near(x: np.ndarray, frames: list[int]) -> float:
    """Largest sample-to-sample step in ``x`` into or out of any of ``frames``."""
    steps = np.abs(np.diff(x, axis=0)).max(axis=1)
    idx = [f + d for f in frames for d in (-1, 0) if 0 <= f + d < len(steps)]
    return float(steps[idx].max())


def largest_step_elsewhere(x: np.ndarray, frames: list[int]) -> float:
    """Largest sample-to-sample step in ``x`` more than two frames from any of ``frames``."""
    steps = np.abs(np.diff(x, axis=0)).max(axis=1)
    away = np.ones(len(steps), dtype=bool)
    for f in frames:
        away[max(f - 3, 0) : f + 3] = False
    return float(steps[away].max())


def layer_joins(layer: ambience.Layer, frames: int) -> list[int]:
    """Every frame below ``frames`` where one of ``layer``'s voices starts or ends a fade."""
    return [f for f in layer.joins(0, frames) if f < frames]


@pytest.mark.parametrize("name", AMBIENCES)
def test_no_seam_where_segments_join(name: str) -> None:
    bed = ambience.open_ambience(name, RATE)
    x = read_blocks(bed, 30 * RATE, 1536)
    joins = layer_joins(bed._layer, len(x))
    assert len(joins) > 20
    # no join steps further than the signal does anywhere else (a cut would: see below)
    assert steps_near(x, joins) < 0.8 * largest_step_elsewhere(x, joins)


def test_the_seam_check_can_fail() -> None:
    """Without the crossfade (a hard cut from one excerpt to the next) the same check fails."""
    bed = ambience.open_ambience("brown-noise", RATE)
    layer = bed._layer
    layer._fade_in[:] = 0.0  # the incoming segment silent during the overlap ...
    layer._fade_out[:] = 1.0  # ... the outgoing one at full level, then cut
    x = read_blocks(bed, 30 * RATE, 1536)
    joins = layer_joins(layer, len(x))
    assert steps_near(x, joins) > 2 * largest_step_elsewhere(x, joins)


def test_ocean_waves_are_continuous_across_epochs() -> None:
    ocean = ambience.open_ambience("ocean", RATE)
    points = ocean._points
    env = ocean._env(0, 5 * points)
    steps = np.abs(np.diff(env))
    at_edges = steps[[e * points - 1 for e in range(1, 5)]]
    assert at_edges.max() <= np.percentile(steps, 99)


def test_stream_ocean_swells_every_6_to_11_seconds() -> None:
    x = ambience.open_ambience("ocean", RATE).read(0, 600 * RATE)
    assert abs(db(rms(x)) - db(ambience.TARGET_RMS)) < 0.2  # over ten minutes: -20 dBFS
    levels = block_levels(x, 0.5)
    assert np.all(levels.max(axis=0) - levels.min(axis=0) > 8.0)  # dB
    env = 10 ** (levels[:, 0] / 20)
    crests = [
        i
        for i in range(1, len(env) - 1)
        if env[i] == env[max(i - 6, 0) : i + 7].max() and env[i] > np.median(env)
    ]
    gaps = np.diff(crests) * 0.5  # seconds
    assert 6.0 <= np.median(gaps) <= 10.0
    assert np.percentile(gaps, 10) >= 4.5 and np.percentile(gaps, 90) <= 12.0
    # irregular: not one period repeated
    assert np.std(gaps) > 0.4


def test_stream_rain_has_droplets_over_its_bed(streams: dict[str, np.ndarray]) -> None:
    assert kurtosis(high_passed(streams["rain"][: 20 * RATE, 0], 1000)) > 3.3
    assert kurtosis(high_passed(streams["pink-noise"][: 20 * RATE, 0], 1000)) < 3.1


def test_unknown_stream() -> None:
    with pytest.raises(ValueError, match="unknown ambience 'forest'; expected one of rain, ocean"):
        ambience.open_ambience("forest", RATE)


CORRELATION_RATE = 8000
CORRELATION_MINUTES = 5


@pytest.mark.slow
@pytest.mark.parametrize("name", AMBIENCES)
def test_no_10_second_window_repeats(name: str) -> None:
    """Over 5 minutes (8 kHz, averaged down to 1 kHz), no window correlates above 0.3 with another.

    One window on a 5 s grid, the other at every frame: any pair is within 2.5 s of a
    grid pair, which overlaps it by three quarters. ``bench_ambience.py`` measures 30 minutes.
    """
    bed = ambience.open_ambience(name, CORRELATION_RATE)
    x = read_blocks(bed, CORRELATION_MINUTES * 60 * CORRELATION_RATE, 32768)[:, 0]
    corr, _, _ = window_correlation(decimate(x, 8), CORRELATION_RATE / 8, hop=5.0)
    assert corr < 0.3


def test_the_correlation_check_finds_a_loop() -> None:
    """Today's 30-second loop, played for 2 minutes, correlates ~1 with itself one loop later."""
    loop = ambience.make_loop("pink-noise", CORRELATION_RATE)[:, 0]
    x = np.tile(loop, 4)
    corr, t1, t2 = window_correlation(decimate(x, 8), CORRELATION_RATE / 8, hop=5.0)
    assert corr > 0.99 and abs(abs(t2 - t1) % 30.0) < 0.01


def test_empty_reads_and_the_mixer_plays_streams_without_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAXPLAYER_CACHE", str(tmp_path))
    from relaxplayer.mixer import SoundBank

    bed = SoundBank(RATE).background("ocean")
    assert isinstance(bed, ambience.Bed) and bed.length is None and bed.channels == 2
    assert bed.read(5 * RATE, 0).shape == (0, 2)
    assert bed.read(5 * RATE, 10).shape == (10, 2)
    assert not any(tmp_path.iterdir())  # nothing written: the tables are made, not stored
