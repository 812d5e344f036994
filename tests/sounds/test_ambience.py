"""Ambience loops, as numbers: level, seams, spectra, swells, stereo and seeds."""

from __future__ import annotations

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
