"""Bells, breathing tones and ambience loops, as numbers."""

from __future__ import annotations

import numpy as np
import pytest

from relaxplayer.model import AMBIENCES, BELLS
from relaxplayer.sounds import ambience, bells, tones
from tests.conftest import db, rms

RATE = 16000


def dominant(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spec.argmax()])


@pytest.mark.parametrize("name", BELLS)
def test_bells_are_ramped_and_within_level(name: str) -> None:
    x = bells.make_bell(name, RATE)
    assert x.dtype == np.float32 and x.ndim == 1
    assert x[0] == 0.0 and x[-1] == 0.0
    assert 0.05 <= np.max(np.abs(x)) <= bells.BELLS[name].peak + 1e-6  # level: docs/listening.md
    assert abs(float(np.mean(x))) < 1e-3
    attack = np.abs(x[: RATE // 1000])  # first millisecond: still ramping up, not a struck click
    assert attack.max() < 0.5 * np.max(np.abs(x))
    assert np.all(np.abs(x[-RATE // 100 :]) < 1e-3)  # ends on its release ramp
    assert np.array_equal(x, bells.make_bell(name, RATE))  # deterministic


def test_bowl_rings_longest_and_soft_is_quietest() -> None:
    lengths = {n: len(bells.make_bell(n, RATE)) for n in BELLS}
    assert lengths["bowl"] > lengths["chime"] > lengths["soft"]
    assert np.max(np.abs(bells.make_bell("soft", RATE))) < np.max(
        np.abs(bells.make_bell("bowl", RATE))
    )


def test_unknown_bell() -> None:
    with pytest.raises(ValueError, match="unknown bell 'gong'"):
        bells.make_bell("gong", RATE)


def test_inhale_rises_and_exhale_falls_within_the_phase() -> None:
    up = tones.breath_cue("inhale", 4.0, RATE)
    down = tones.breath_cue("exhale", 8.0, RATE)
    q = len(up) // 4
    assert dominant(up[:q], RATE) < dominant(up[-q:], RATE)
    q = len(down) // 4
    assert dominant(down[:q], RATE) > dominant(down[-q:], RATE)
    assert len(up) <= 4 * RATE and len(down) <= 8 * RATE
    assert np.max(np.abs(up)) <= 0.25 + 1e-6
    assert up[0] == 0.0 and abs(up[-1]) < 1e-6


def test_hold_is_short_and_quieter() -> None:
    hold = tones.breath_cue("hold", 7.0, RATE)
    assert len(hold) <= int(0.4 * RATE)
    assert np.max(np.abs(hold)) < 0.25


def test_glide_is_phase_continuous() -> None:
    x = tones.glide(200, 400, 2.0, RATE)
    # a click would show as a jump far above the sine's own steepest slope
    bound = 2 * np.pi * 400 * 3 / RATE * 0.25
    assert np.abs(np.diff(x)).max() < bound


@pytest.mark.parametrize("name", AMBIENCES)
def test_ambience_loops_are_seamless_centred_and_level(name: str) -> None:
    x = ambience.make_loop(name, RATE, seconds=8.0)
    assert x.shape == (8 * RATE, 2) and x.dtype == np.float32
    assert abs(db(rms(x)) - db(0.1)) < 0.1
    assert np.abs(x.mean(axis=0)).max() < 1e-4
    assert np.max(np.abs(x)) < 1.0
    steps = np.abs(np.diff(x, axis=0))
    seam = np.abs(x[0] - x[-1])
    assert np.all(seam <= np.percentile(steps, 99.9, axis=0))


def band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return 10 * np.log10(spec[(f >= lo) & (f < hi)].mean())


@pytest.mark.parametrize(
    ("name", "slope"), [("white-noise", 0.0), ("pink-noise", -3.0), ("brown-noise", -6.0)]
)
def test_noise_colours_have_their_spectral_slope(name: str, slope: float) -> None:
    x = ambience.make_loop(name, RATE, seconds=8.0)[:, 0]
    per_octave = (band_db(x, 1600, 3200) - band_db(x, 200, 400)) / 3
    assert abs(per_octave - slope) < 1.0


def test_ocean_swells() -> None:
    x = ambience.make_loop("ocean", RATE)[:, 0]
    win = RATE // 2
    levels = [db(rms(x[i : i + win])) for i in range(0, len(x) - win, win)]
    assert max(levels) - min(levels) > 6.0


def test_loops_are_deterministic_per_seed() -> None:
    a = ambience.make_loop("rain", RATE, seconds=2.0, seed=3)
    assert np.array_equal(a, ambience.make_loop("rain", RATE, seconds=2.0, seed=3))
    assert not np.array_equal(a, ambience.make_loop("rain", RATE, seconds=2.0, seed=4))


def test_unknown_ambience() -> None:
    with pytest.raises(ValueError, match="unknown ambience"):
        ambience.make_loop("forest", RATE)
