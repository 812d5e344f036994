"""Synthesized bells, as numbers: level, ramps, ring time, partials and beating."""

from __future__ import annotations

import numpy as np
import pytest

from relaxplayer.model import BELLS
from relaxplayer.sounds import bells, loudness

RATE = 16000
RING = {"bowl": (8.0, 10.0), "chime": (4.0, 5.0), "soft": (2.0, 3.0)}  # seconds, min..max


def envelope_db(x: np.ndarray, window: float = 0.05) -> np.ndarray:
    """Level (dBFS) of consecutive ``window``-second blocks."""
    w = int(window * RATE)
    blocks = x[: len(x) // w * w].reshape(-1, w)
    return 20 * np.log10(np.sqrt(np.mean(blocks**2, axis=1)) + 1e-12)


def band_level(x: np.ndarray, lo: float, hi: float) -> float:
    """Peak spectral magnitude (dB) of ``x`` between ``lo`` and ``hi`` Hz."""
    spec = np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(20 * np.log10(spec[(f >= lo) & (f < hi)].max()))


def test_every_model_bell_is_synthesized() -> None:
    assert set(BELLS) == set(bells.BELLS)


@pytest.mark.parametrize("name", BELLS)
def test_bell_shape_level_and_ends(name: str) -> None:
    x = bells.make_bell(name, RATE)
    assert x.dtype == np.float32 and x.ndim == 1
    lo, hi = RING[name]
    assert lo * RATE <= len(x) <= hi * RATE
    assert np.max(np.abs(x)) == pytest.approx(bells.BELLS[name].peak, abs=1e-6)
    assert np.max(np.abs(x)) <= 0.5
    assert x[0] == 0.0 and x[-1] == 0.0
    assert np.all(np.abs(x[-RATE // 100 :]) < 1e-3)  # the last 10 ms: at the end of its fade
    assert abs(float(np.mean(x))) < 1e-4  # no DC


@pytest.mark.parametrize("name", BELLS)
def test_bell_sounds_at_once_with_a_soft_attack(name: str) -> None:
    x = bells.make_bell(name, RATE)
    peak = np.max(np.abs(x))
    first = int(np.argmax(np.abs(x) >= 0.05 * peak))
    assert first < 0.015 * RATE  # no silence before the strike
    assert np.max(np.abs(x[: RATE // 1000])) < 0.5 * peak  # first ms still ramping: no click
    steps = np.abs(np.diff(x))
    assert steps[: RATE // 1000].max() < 0.5 * steps.max()  # the start is no steeper than the ring


@pytest.mark.parametrize("name", BELLS)
def test_bell_decays_smoothly(name: str) -> None:
    env = envelope_db(bells.make_bell(name, RATE))
    top = int(env.argmax())
    assert top < 0.5 / 0.05  # loudest in the first half second
    # after the strike the level only falls (beats may lift it a little, by < 3 dB)
    assert np.all(np.diff(env[top:]) < 3.0)
    assert env[-2] < env[top] - 25  # rung out before the final fade


def test_bowl_rings_longest_and_soft_is_quietest() -> None:
    x = {n: bells.make_bell(n, RATE) for n in BELLS}

    def ring_time(name: str) -> float:
        """Seconds until the level first falls 20 dB below its peak."""
        env = envelope_db(x[name])
        return float(np.argmax(env < env.max() - 20)) * 0.05

    assert ring_time("bowl") > 1.5 * ring_time("chime") > 1.5 * ring_time("soft")
    strike = {n: float(loudness.momentary(v, RATE).max()) for n, v in x.items()}
    assert strike["soft"] < strike["bowl"] - 1.5
    assert strike["soft"] < strike["chime"] - 1.5


@pytest.mark.parametrize("rate", [16000, 44100])
def test_every_bell_strikes_well_under_the_voice(rate: int) -> None:
    """Momentary (400 ms) loudness at the strike: at least BELLS_UNDER_VOICE under the voice."""
    for name in BELLS:
        strike = float(loudness.momentary(bells.make_bell(name, rate), rate).max())
        assert strike <= loudness.VOICE_LUFS - loudness.BELLS_UNDER_VOICE - 1.0, (name, strike)
        assert strike >= loudness.VOICE_LUFS - 9.0, (name, strike)  # still clearly heard


def test_bowl_partials_are_inharmonic_and_beat() -> None:
    x = bells.make_bell("bowl", RATE)
    f0 = bells.BELLS["bowl"].fundamental
    # energy at the shell's second mode (x2.83), little at the harmonic octave (x2)
    assert band_level(x, 2.78 * f0, 2.9 * f0) > band_level(x, 1.9 * f0, 2.1 * f0) + 30
    # slow beating: once the steady decay is taken out, the level still swells and dips
    env = envelope_db(x[int(0.5 * RATE) : 7 * RATE])
    t = np.arange(len(env))
    wobble = env - np.polyval(np.polyfit(t, env, 1), t)
    assert wobble.std() > 1.0  # dB


def test_chime_is_brighter_than_bowl() -> None:
    def centroid(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x[:RATE]))
        return float((spec * np.fft.rfftfreq(RATE, 1 / RATE)).sum() / spec.sum())

    assert centroid(bells.make_bell("chime", RATE)) > 2 * centroid(bells.make_bell("bowl", RATE))


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_bells_are_clean_at_other_rates(rate: int) -> None:
    for name in BELLS:
        x = bells.make_bell(name, rate)
        assert x[0] == 0.0 and x[-1] == 0.0 and np.max(np.abs(x)) <= 0.5
        assert np.all(np.isfinite(x))


def test_bells_are_deterministic() -> None:
    for name in BELLS:
        assert np.array_equal(bells.make_bell(name, RATE), bells.make_bell(name, RATE))


def test_unknown_bell() -> None:
    with pytest.raises(ValueError, match="unknown bell 'gong'; expected one of bowl, chime, soft"):
        bells.make_bell("gong", RATE)
