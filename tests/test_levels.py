"""Levels measured the BS.1770 way: the meters themselves, line levelling, the limiter, whole mixes.

The session-level figures come from the listening report's own measurement
(benchmarks/bench_listening.py) run on short sessions made for these tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from benchmarks.bench_listening import measure_session
from relaxplayer.lint import session_warnings
from relaxplayer.loader import parse_session
from relaxplayer.mixer import CEILING, LIMIT_KNEE, Mixer, SoundBank, soft_limit
from relaxplayer.model import Background, Voice
from relaxplayer.sounds import ambience, clips, loudness
from relaxplayer.sounds.speech import Narrator, espeak_binary, piper_available
from relaxplayer.timeline import SoundRef, build_timeline
from tests.conftest import make_mixer, render_all

RATE = 16000


def _speechlike(seconds: float, rate: int, seed: int, crest: float) -> np.ndarray:
    """Noise in syllable-like bursts, with a few sharp peaks ``crest`` times the typical level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = rng.standard_normal(n) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    spikes = rng.choice(n, size=max(n // rate, 1), replace=False)
    x[spikes] *= crest
    return (0.05 * x).astype(np.float32)


def test_integrated_loudness_is_bs1770_and_short_sounds_are_measured_whole() -> None:
    rate = 48000
    t = np.arange(20 * rate) / rate
    sine = np.sin(2 * np.pi * 1000 * t)
    # BS.1770's calibration: a 1 kHz sine at 0 dBFS on one channel is -3.01 LUFS;
    # EBU Tech 3341 case 1: the same sine at -23 dBFS on both channels is -23.0 LUFS.
    assert loudness.integrated_loudness(0.1 * sine, rate) == pytest.approx(-23.01, abs=0.03)
    stereo = np.stack([sine, sine], axis=1) * loudness.gain(-23.0)
    assert loudness.integrated_loudness(stereo, rate) == pytest.approx(-23.0, abs=0.1)
    x = _speechlike(3.0, RATE, 1, 3.0)
    short = x[: int(0.25 * RATE)]  # shorter than one 400 ms gating block
    assert loudness.integrated_loudness(short, RATE) == pytest.approx(
        float(loudness.momentary(short, RATE)[0]), abs=0.3
    )
    assert loudness.integrated_loudness(np.zeros(RATE), RATE) == float("-inf")


def _pink(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    f = np.fft.rfftfreq(n)
    spectrum = rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)
    spectrum[0] = 0
    spectrum[1:] /= np.sqrt(f[1:])
    x = np.fft.irfft(spectrum, n)
    return 0.05 * x / np.std(x)


# libebur128 against pyloudnorm (the meter used before, kept as a reference in the test
# extra): pyloudnorm's K-weighting uses rounded shelf parameters (1500 Hz, +4 dB, Q 0.707
# instead of 1681.97 Hz, +3.99984 dB, Q 0.7072), which reads every 400 ms block a fixed
# 0.04 LU lower at 44.1-48 kHz, 0.09 LU at 22.05 kHz (Piper's rate) and 0.13 LU at 16 kHz.
# libebur128 is the closer of the two to BS.1770's own calibration (the test above).
AGREEMENT = {16000: 0.15, 22050: 0.1, 44100: 0.05, 48000: 0.05}


@pytest.mark.parametrize("rate", sorted(AGREEMENT))
def test_integrated_loudness_agrees_with_pyloudnorm_on_noise_and_speechlike_sound(
    rate: int,
) -> None:
    for x in (_pink(6.0, rate, 4), _speechlike(6.0, rate, 2, 3.0).astype(np.float64)):
        for data in (x, np.stack([x, 0.5 * x], axis=1)):
            expected = pyloudnorm.Meter(rate).integrated_loudness(data)
            got = loudness.integrated_loudness(data, rate)
            assert got - expected == pytest.approx(0, abs=AGREEMENT[rate]), (rate, data.shape)
            assert got >= expected  # the offset has one sign: pyloudnorm's filter reads low


@pytest.mark.voice
@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng not installed")
def test_momentary_loudness_of_real_speech_agrees_with_pyloudnorm_block_by_block(
    tmp_path: Path,
) -> None:
    narrator = Narrator(Voice(engine="espeak"), cache_dir=tmp_path)
    x = narrator._espeak("Let your shoulders soften, and breathe out slowly.").astype(np.float64)
    rate = 22050
    meter = pyloudnorm.Meter(rate)
    meter.integrated_loudness(x)
    theirs = np.array(meter.blockwise_loudness)
    ours = loudness.momentary(x, rate)
    k = min(theirs.size, ours.size)
    voiced = theirs[:k] > -50  # blocks that carry speech (the rest is the engine's silence)
    assert np.count_nonzero(voiced) >= 10
    diff = ours[:k][voiced] - theirs[:k][voiced]
    assert np.all(np.abs(diff - 0.09) < 0.03), diff  # the fixed filter offset, nothing else


def test_the_true_peak_filter_and_the_running_minimum_are_scipys() -> None:
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import resample_poly

    rng = np.random.default_rng(9)
    for n, channels in ((1, 1), (7, 2), (5000, 1), (5000, 2)):
        x = rng.standard_normal((n, channels)) * 0.3
        up = resample_poly(x, loudness.OVERSAMPLE, 1, axis=0)[: n * loudness.OVERSAMPLE]
        expected = np.maximum(
            np.abs(up).max(axis=1).reshape(n, loudness.OVERSAMPLE).max(axis=1),
            np.abs(x).max(axis=1),
        )
        np.testing.assert_allclose(loudness.true_peak_envelope(x), expected, atol=1e-12)
    for n, half in ((1, 3), (10, 3), (999, 5), (22050, 176)):
        x = rng.random(n)
        expected = minimum_filter1d(x, 2 * half + 1, mode="nearest")
        assert np.array_equal(loudness._running_min(x, half), expected)


def test_the_streaming_meter_agrees_with_the_whole_measurement() -> None:
    x = ambience.make_loop("rain", RATE, seconds=12.0)
    meter = loudness.HopMeter(RATE, 2)
    for i in range(0, x.shape[0], 1536):
        meter.feed(x[i : i + 1536])
    streamed = loudness.gated_loudness(loudness.block_powers(meter.powers))
    assert streamed == pytest.approx(loudness.integrated_loudness(x, RATE), abs=0.01)


def test_true_peak_finds_the_peak_between_samples() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    x = np.sin(2 * np.pi * (rate / 4) * t + np.pi / 4)  # every sample at +-0.707 of a 1.0 sine
    assert np.max(np.abs(x)) == pytest.approx(0.7071, abs=1e-3)
    assert loudness.true_peak(x, rate) == pytest.approx(0.0, abs=0.2)
    assert loudness.true_peak(np.zeros(10), rate) == float("-inf")


@pytest.mark.parametrize("seconds", [0.3, 0.6, 2.0, 9.0])
@pytest.mark.parametrize("crest", [1.0, 6.0])
def test_lines_short_or_long_punchy_or_not_come_out_equally_loud(
    seconds: float, crest: float
) -> None:
    line = _speechlike(seconds, RATE, 7, crest)
    out = clips.normalize_loudness(line[:, None], RATE)
    assert out.shape == (line.shape[0], 1)
    assert loudness.integrated_loudness(out[:, 0], RATE) == pytest.approx(
        loudness.VOICE_LUFS, abs=0.15
    )
    assert loudness.true_peak(out, RATE) <= loudness.LINE_CEILING_DBTP + 0.05


def test_loudness_gain_is_the_one_level_decision_for_clips() -> None:
    x = _speechlike(2.0, RATE, 3, 1.0)
    gain = clips.loudness_gain(x, RATE)
    assert isinstance(gain, float)
    assert loudness.integrated_loudness(x * gain, RATE) == pytest.approx(
        loudness.VOICE_LUFS, abs=0.01
    )
    stereo = np.stack([x, x], axis=1)
    assert clips.loudness_gain(stereo, RATE) == pytest.approx(gain)  # a clip plays as mono
    assert clips.loudness_gain(np.zeros(RATE, np.float32), RATE) == 1.0


def test_the_peak_limiter_leaves_a_quiet_line_alone() -> None:
    x = _speechlike(1.0, RATE, 5, 1.0) * np.float32(0.1)
    assert loudness.limit_peaks(x, RATE) is x or np.array_equal(loudness.limit_peaks(x, RATE), x)


def test_the_master_limiter_holds_true_peak_under_minus_one_dbtp_on_a_loud_stack() -> None:
    text = """title: t
background: {sound: rain, volume: 400%, fade_in: 0s}
end: {fade_out: 0s}
steps:
  - bell: bowl
    volume: +12 dB
  - bell: chime
    volume: +12 dB
  - breathe: {inhale: 2, exhale: 2}
    cycles: 1
"""
    out = render_all(make_mixer(text, rate=44100), 1536)
    assert np.max(np.abs(out)) > LIMIT_KNEE  # the limiter had work to do
    assert np.max(np.abs(out)) < CEILING
    assert loudness.true_peak(out, 44100) <= loudness.CEILING_DBTP


def test_the_limiter_curve_is_stateless_and_monotonic() -> None:
    x = np.linspace(-3.0, 3.0, 20001, dtype=np.float32)[:, None]
    y = x.copy()
    soft_limit(y)
    assert np.all(np.diff(y[:, 0]) >= 0)
    assert np.max(np.abs(y)) <= CEILING
    inside = np.abs(x) <= LIMIT_KNEE
    assert np.array_equal(y[inside], x[inside])
    parts = x.copy()
    for a in range(0, 20001, 1536):  # any block size: the same samples
        soft_limit(parts[a : a + 1536])
    assert np.array_equal(parts, y)


@pytest.mark.parametrize("bed", ambience.NAMES)
def test_every_bed_at_the_default_volume_sits_14_lu_under_the_voice(bed: str) -> None:
    x = ambience.make_loop(bed, RATE) * np.float32(Background(bed).volume)
    voice_in_stereo = loudness.VOICE_LUFS + 10 * np.log10(2)  # mono voice on both speakers
    under = voice_in_stereo - loudness.integrated_loudness(x, RATE)
    assert under >= loudness.BACKGROUND_UNDER_VOICE, (bed, under)


def test_validate_warns_when_words_start_on_a_bell() -> None:
    text = "title: t\nsteps:\n  - pause: 5s\n  - bell: bowl\n  - say: Welcome.\n"
    session = parse_session(text, "t.yaml", Path("."))
    timeline = build_timeline(session, 8000, lambda ref: 8000 * (3 if ref.kind != "breath" else 1))
    warnings = session_warnings(session, timeline)
    assert warnings == [
        "0:05: 'Welcome.' starts 0.0 s after a bell (bowl); keep words at least 1.5 s "
        "from a bell's strike (add a pause after the bell)"
    ]
    fixed = text.replace("  - say:", "  - pause: 2s\n  - say:")
    session = parse_session(fixed, "t.yaml", Path("."))
    assert session_warnings(session, build_timeline(session, 8000, lambda ref: 24000)) == []


def test_fade_out_zero_ends_on_a_ramp_not_a_cut() -> None:
    text = "title: t\nbackground: {sound: pink-noise, fade_in: 0s}\nend: {fade_out: 0s}\nsteps:\n  - pause: 2s\n"
    out = render_all(make_mixer(text), 997)
    assert out.shape[0] == 2 * RATE
    assert np.abs(out[-1]).max() < 1e-3
    assert np.abs(out[-int(0.06 * RATE)]).max() > 0  # the bed plays until its last 50 ms


SESSION = """title: Levels
voice: {{engine: {engine}, speed: 0.9}}
background: {{sound: rain, fade_in: 1s}}
end: {{fade_out: 4s}}
steps:
  - pause: 3s
  - say: Welcome. Let your shoulders drop, and let your breathing slow down, in your own time.
  - bell: bowl
  - pause: 3s
  - say: Release.
  - breathe: relax
    cycles: 1
  - say: Notice the weight of your body, held by the floor beneath you.
  - say: Let your jaw soften. Let your tongue rest. There is nothing you need to do.
  - say: Good night.
"""


def _figures(engine: str):
    """The figures of a short session, read at speed 0.9 like every built-in session."""
    session = parse_session(SESSION.format(engine=engine), "levels.yaml", Path("."))
    bank = SoundBank(RATE, Narrator(session.voice))
    return measure_session("levels", session, bank, rate=RATE, peer=False)


def _assert_meets_every_target(f) -> None:
    assert f.lines == 5
    assert abs(f.voice - loudness.VOICE_LUFS) <= 0.5
    assert f.spread <= loudness.LINE_SPREAD, f.line_levels
    assert abs(f.last) <= 1.0  # the end fade does not lie over the last words
    assert f.tones - f.voice <= -loudness.TONES_UNDER_VOICE
    assert f.bells - f.voice <= -loudness.BELLS_UNDER_VOICE
    assert f.between <= -loudness.BACKGROUND_UNDER_VOICE
    assert f.under <= f.between - 5.0  # ducked under the words
    assert f.true_peak <= loudness.CEILING_DBTP
    assert f.wpm <= 150


@pytest.mark.voice
@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed")
def test_a_short_session_meets_every_level_target_with_espeak() -> None:
    _assert_meets_every_target(_figures("espeak"))


@pytest.mark.voice
@pytest.mark.slow
@pytest.mark.skipif(not piper_available(), reason="piper-tts is not installed")
def test_a_short_session_meets_every_level_target_with_piper() -> None:
    f = _figures("piper")
    _assert_meets_every_target(f)
    assert f.wpm >= 90  # calm, not dragging


def test_the_no_voice_chime_sits_under_the_voice() -> None:
    bank = SoundBank(RATE, None)
    chime = bank.source(SoundRef("speech", "hello")).read(0, bank.measure(SoundRef("speech", "x")))
    assert float(loudness.momentary(chime[:, 0], RATE).max()) <= loudness.VOICE_LUFS - 4


def test_render_is_block_size_independent_with_the_new_limiter() -> None:
    text = "title: t\nbackground: {sound: white-noise, volume: 400%}\nsteps:\n  - bell: chime\n    volume: +12 dB\n  - pause: 2s\n"
    session = parse_session(text, "t.yaml", Path("."))
    bank = SoundBank(RATE, None)
    timeline = build_timeline(session, RATE, bank.measure)
    a = render_all(Mixer(timeline, bank), 1536)
    b = render_all(Mixer(timeline, bank), 4096)
    assert np.array_equal(a, b)


@pytest.mark.voice
@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed")
def test_voice_speed_still_scales_the_pace() -> None:
    text = "Let your shoulders drop, and let your breathing slow down."
    lengths = {}
    for speed in (0.8, 1.0):
        narrator = Narrator(Voice(engine="espeak", speed=speed))
        narrator.synthesize(text)
        lengths[speed] = narrator.length(text, RATE)
    assert lengths[0.8] > 1.15 * lengths[1.0]
