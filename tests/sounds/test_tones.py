"""Breathing cues, the plain tone and the shared ramp, as numbers."""

from __future__ import annotations

import numpy as np
import pytest

from relaxplayer.sounds import loudness, tones

RATE = 16000


def dominant(x: np.ndarray, rate: int = RATE) -> float:
    """Frequency (Hz) of the strongest spectral peak of ``x``."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    return float(np.fft.rfftfreq(8 * len(x), 1 / rate)[spec.argmax()])


def onset(x: np.ndarray, threshold: float = 0.01) -> int:
    """First frame whose magnitude reaches ``threshold``."""
    return int(np.argmax(np.abs(x) >= threshold))


def slope_bound(level: float, freqs: list[tuple[float, float]], rate: int = RATE) -> float:
    """Largest sample-to-sample step a sum of sines (Hz, amplitude) can make at ``level`` peak.

    A click or a phase jump would step further than any smooth sine can.
    """
    return level * sum(amp * 2 * np.pi * f / rate for f, amp in freqs)


# --- ramp -------------------------------------------------------------------


def test_ramp_fades_to_exact_zero_at_both_ends_and_leaves_the_middle() -> None:
    x = np.ones(RATE, dtype=np.float32)
    out = tones.ramp(x, RATE, 0.1, 0.2)
    assert out is x  # in place, returned for chaining
    assert x[0] == 0.0 and x[-1] == 0.0
    assert np.all(x[int(0.1 * RATE) : -int(0.2 * RATE)] == 1.0)
    assert np.all(np.diff(x[: int(0.1 * RATE)]) > 0)  # rises monotonically
    assert np.all(np.diff(x[-int(0.2 * RATE) :]) < 0)  # falls monotonically
    # raised cosine: half way through the attack it is at half level
    assert x[int(0.05 * RATE)] == pytest.approx(0.5, abs=1e-3)


def test_ramp_works_on_stereo_frames() -> None:
    x = np.ones((RATE // 10, 2), dtype=np.float32)
    tones.ramp(x, RATE, 0.01, 0.01)
    assert np.array_equal(x[:, 0], x[:, 1])
    assert np.all(x[0] == 0.0) and np.all(x[-1] == 0.0)


def test_ramp_longer_than_the_sound_is_shortened() -> None:
    x = np.ones(100, dtype=np.float32)
    tones.ramp(x, RATE, 1.0, 1.0)  # 16000 frames each, on 100 frames
    assert x[0] == 0.0 and np.all(np.isfinite(x)) and np.max(x) <= 1.0
    tones.ramp(np.zeros(0, dtype=np.float32), RATE, 0.1, 0.1)  # nothing to do, no error


# --- tone -------------------------------------------------------------------


def test_tone_is_a_ramped_sine_at_its_frequency_and_level() -> None:
    x = tones.tone(660.0, 0.6, RATE, level=0.15)
    assert x.dtype == np.float32 and x.shape == (int(0.6 * RATE),)
    assert dominant(x) == pytest.approx(660.0, abs=2.0)
    assert 0.14 <= np.max(np.abs(x)) <= 0.15
    assert x[0] == 0.0 and x[-1] == 0.0
    assert onset(x) < 0.02 * RATE  # sounds at once: no silence before it
    assert np.abs(np.diff(x)).max() <= slope_bound(0.15, [(660.0, 1.0)])
    assert abs(float(np.mean(x))) < 1e-3


def test_tone_of_no_time_is_empty() -> None:
    assert tones.tone(440.0, 0.0, RATE).shape == (0,)


# --- breathing cues ------------------------------------------------------------


@pytest.mark.parametrize("seconds", [2.0, 4.0, 5.5, 8.0])
def test_inhale_rises_and_exhale_falls(seconds: float) -> None:
    up = tones.breath_cue("inhale", seconds, RATE)
    down = tones.breath_cue("exhale", seconds, RATE)
    for x in (up, down):
        assert x.dtype == np.float32 and x.ndim == 1
    q = len(up) // 4
    start_up, end_up = dominant(up[:q]), dominant(up[-q:])
    start_down, end_down = dominant(down[:q]), dominant(down[-q:])
    # the glide spans a fifth (x1.5); each quarter's average moves by well over a third
    assert end_up > 1.3 * start_up
    assert start_down > 1.3 * end_down
    assert 180 < start_up < 230 and 180 < end_down < 230  # around G3, 196 Hz


@pytest.mark.parametrize("phase", ["inhale", "exhale"])
@pytest.mark.parametrize("seconds", [1.0, 4.0, 7.0, 12.0])
def test_glides_end_inside_their_phase_and_are_ramped(phase: str, seconds: float) -> None:
    x = tones.breath_cue(phase, seconds, RATE)
    assert len(x) <= seconds * RATE
    assert len(x) <= tones.GLIDE_MAX * RATE  # a long phase gets a glide that ends, then rests
    assert 0.96 * tones.CUE_LEVEL <= np.max(np.abs(x)) <= tones.CUE_LEVEL
    assert x[0] == 0.0 and x[-1] == 0.0
    assert onset(x) < 0.15 * RATE  # heard within its attack
    assert np.max(np.abs(x[: RATE // 100])) < 0.2 * tones.CUE_LEVEL  # the first 10 ms: fading in
    assert abs(float(np.mean(x))) < 1e-3


def test_glide_attack_and_release_times() -> None:
    x = tones.breath_cue("inhale", 6.0, RATE)
    env = np.maximum.accumulate(np.abs(x))
    # reaches 90 % of its peak only after most of the 0.15 s attack
    assert 0.08 * RATE < np.argmax(env >= 0.9 * env[-1]) < 0.3 * RATE
    tail = np.abs(x[-int(0.4 * RATE) :])
    assert tail[: RATE // 20].max() > 0.8 * tones.CUE_LEVEL  # still full as the release starts
    assert tail[-RATE // 20 :].max() < 0.08 * tones.CUE_LEVEL  # faded by its end


def test_glide_is_phase_continuous_with_no_clicks() -> None:
    x = tones.breath_cue("inhale", 5.0, RATE)
    top = tones.INHALE[1]
    partials = [(top, 1.0)] + [(top * k, amp) for k, amp in tones.OVERTONES]
    # the cue is normalised to CUE_LEVEL from a sum whose peak is above 1: a generous bound
    assert np.abs(np.diff(x)).max() <= slope_bound(tones.CUE_LEVEL, partials)
    # a click or pitch step would splatter energy far above the highest overtone
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    assert spec[f > 2000].sum() < 1e-6 * spec.sum()


def test_hold_is_a_short_quiet_steady_tone() -> None:
    hold = tones.breath_cue("hold", 7.0, RATE)
    glide = tones.breath_cue("inhale", 4.0, RATE)
    assert 0.3 * RATE <= len(hold) <= tones.HOLD_SECONDS * RATE
    assert np.max(np.abs(hold)) < 0.75 * np.max(np.abs(glide))
    half = len(hold) // 2
    assert dominant(hold[:half]) == pytest.approx(dominant(hold[half:]), abs=15.0)
    assert hold[0] == 0.0 and hold[-1] == 0.0


def test_a_short_hold_still_ends_inside_its_phase() -> None:
    hold = tones.breath_cue("hold", 0.25, RATE)
    assert 0 < len(hold) <= 0.25 * RATE and hold[-1] == 0.0


def test_a_phase_of_no_time_has_no_cue() -> None:
    assert tones.breath_cue("inhale", 0.0, RATE).shape == (0,)


@pytest.mark.parametrize("phase", ["rest", "breathe", ""])
def test_unknown_phase(phase: str) -> None:
    with pytest.raises(ValueError, match="no cue tone for breathing phase"):
        tones.breath_cue(phase, 4.0, RATE)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_breathing_tones_sit_well_under_the_voice(rate: int) -> None:
    """Momentary loudness of every cue at least TONES_UNDER_VOICE under the voice, yet audible."""
    for phase, seconds in (("inhale", 4.0), ("exhale", 6.0), ("inhale", 5.5), ("hold", 7.0)):
        x = tones.breath_cue(phase, seconds, rate)
        top = float(loudness.momentary(x, rate).max())
        assert top <= loudness.VOICE_LUFS - loudness.TONES_UNDER_VOICE - 1.0, (phase, top)
        assert top >= loudness.VOICE_LUFS - 16.0, (phase, top)
