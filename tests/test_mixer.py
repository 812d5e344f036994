"""The real mixer's output, analysed sample by sample (16 kHz to keep it quick)."""

from __future__ import annotations

import numpy as np
import pytest

from relaxplayer.mixer import LIMIT_KNEE
from tests.conftest import RATE, db, make_mixer, render_all, rms

QUIET = "end: {fade_out: 0s}\n"


def test_a_bell_starts_on_its_frame_and_nothing_sounds_before() -> None:
    out = render_all(
        make_mixer(f"title: t\n{QUIET}steps:\n  - pause: 1s\n  - bell: chime\n  - pause: 3s\n")
    )
    assert out.shape == (4 * RATE, 2)
    assert np.all(out[:RATE] == 0.0)
    onset = int(np.flatnonzero(np.abs(out[:, 0]) > 1e-4)[0])
    assert RATE <= onset <= RATE + 5
    assert np.max(np.abs(out)) <= 0.5 + 1e-6


def test_breath_tones_start_on_their_phases() -> None:
    text = f"title: t\n{QUIET}steps:\n  - breathe: {{inhale: 4, exhale: 6}}\n    cycles: 2\n"
    out = render_all(make_mixer(text))[:, 0]
    assert out.shape[0] == 20 * RATE
    for start in (0, 4, 10, 14):
        s = start * RATE
        assert rms(out[s : s + RATE]) > 0.02, f"no cue at {start}s"
        if s:
            assert np.all(np.abs(out[s - 200 : s]) < 1e-3), f"sound just before {start}s"


def test_only_timed_steps_render_to_exactly_their_sum() -> None:
    text = f"title: t\n{QUIET}steps:\n  - pause: 1.3s\n  - timer: 2.01s\n  - breathe: relax\n    cycles: 1\n"
    mixer = make_mixer(text)
    assert render_all(mixer, 1000).shape[0] == round((1.3 + 2.01 + 10) * RATE)


def test_block_size_does_not_change_a_single_sample() -> None:
    text = """title: t
background: {sound: rain, volume: 40%, fade_in: 1s, duck: 6 dB}
end: {fade_out: 2s}
steps:
  - say: hello
  - bell: bowl
  - breathe: box
    cycles: 1
"""
    a = render_all(make_mixer(text), 997)
    b = render_all(make_mixer(text), 16384)
    assert np.array_equal(a, b)


def test_no_jump_at_block_or_step_boundaries_beyond_the_signal_itself() -> None:
    text = """title: t
background: {sound: brown-noise, volume: 50%, fade_in: 0.5s}
end: {fade_out: 1s}
steps:
  - pause: 2s
  - bell: soft
  - breathe: {inhale: 2, hold: 1, exhale: 2}
    cycles: 2
  - pause: 1s
"""
    mixer = make_mixer(text)
    out = render_all(mixer, 1024)
    jumps = np.abs(np.diff(out, axis=0)).max(axis=1)
    typical = np.percentile(jumps, 99.99)
    blocks = np.arange(1024, out.shape[0], 1024) - 1
    edges = [f for c in mixer.timeline.cues for f in (c.start, c.end) if 2 < f < out.shape[0] - 2]
    steps = [s.start for s in mixer.timeline.steps if 2 < s.start < out.shape[0] - 2]
    for name, frames in (("block", blocks), ("cue", edges), ("step", steps)):
        near = np.concatenate([np.arange(f - 2, f + 2) for f in frames])
        assert jumps[near].max() <= typical, f"a jump at a {name} boundary"
    assert jumps.max() <= 1.25 * typical  # no outlier anywhere: nothing clicks
    assert out[0].tolist() == [0.0, 0.0] and np.abs(out[-1]).max() < 1e-3


def test_seek_renders_the_same_samples_as_playing_through() -> None:
    text = """title: t
background: {sound: ocean, volume: 30%}
steps:
  - bell: bowl
  - pause: 3s
  - breathe: relax
    cycles: 1
"""
    full = render_all(make_mixer(text))
    mixer = make_mixer(text)
    mixer.seek(2 * RATE + 123)
    assert np.array_equal(render_all(mixer), full[2 * RATE + 123 :])


def test_background_level_fade_in_and_ducking_depth() -> None:
    base = "end: {fade_out: 0s}\nsteps:\n  - pause: 6s\n  - say: hello\n  - pause: 6s\n"
    bg = "background: {sound: pink-noise, volume: 50%, duck: 10 dB, fade_in: 2s}\n"
    with_bg = render_all(make_mixer(f"title: t\n{bg}{base}"))
    without = render_all(make_mixer(f"title: t\n{base}"))
    bed = (with_bg - without)[:, 0]  # the background alone, exactly as mixed
    assert rms(bed[: RATE // 10]) < 0.01  # fading in from silence
    steady = rms(bed[3 * RATE : 5 * RATE])
    assert abs(db(steady) - db(0.1 * 0.5)) < 0.5  # ambience RMS -20 dBFS at 50 %
    voice = 6 * RATE
    ducked = rms(bed[voice + RATE // 2 : voice + RATE])  # inside the stand-in chime
    assert abs((db(steady) - db(ducked)) - 10.0) < 0.7
    assert abs(db(rms(bed[-2 * RATE :])) - db(steady)) < 0.7  # back up after


def test_the_mix_never_clips() -> None:
    text = """title: t
background: {sound: white-noise, volume: 400%}
steps:
  - bell: bowl
    volume: +12 dB
  - bell: chime
    volume: 400%
  - pause: 3s
"""
    out = render_all(make_mixer(text))
    assert np.max(np.abs(out)) < 1.0
    assert np.max(np.abs(out)) > LIMIT_KNEE  # the limiter really had work to do


def test_end_fade_reaches_silence() -> None:
    text = "title: t\nbackground: {sound: pink-noise, volume: 50%, fade_in: 0s}\nend: {fade_out: 2s}\nsteps:\n  - pause: 5s\n"
    out = render_all(make_mixer(text))
    assert rms(out[-RATE // 10 :]) < rms(out[:RATE]) * 0.1
    assert np.abs(out[-1]).max() < 1e-3


@pytest.mark.parametrize("channels", [1, 2])
def test_channels(channels: int) -> None:
    out = render_all(
        make_mixer("title: t\nbackground: rain\nsteps:\n  - pause: 1s\n", channels=channels)
    )
    assert out.shape == (RATE, channels) and out.dtype == np.float32


def test_linger_keeps_the_background_after_the_steps() -> None:
    text = "title: t\nbackground: {sound: ocean, fade_in: 0s}\nend: {fade_out: 1s, linger: 4s}\nsteps:\n  - pause: 1s\n"
    out = render_all(make_mixer(text))
    assert out.shape[0] == 5 * RATE
    assert rms(out[2 * RATE : 3 * RATE]) > 0.005


@pytest.mark.parametrize("gain", [1.0, 0.8, "ramp"])
def test_mono_into_stereo_adds_the_same_samples_as_column_by_column(gain: object) -> None:
    """The one-pass complex add gives exactly what two column adds give (play equals render)."""
    from relaxplayer.mixer import _add

    rng = np.random.default_rng(3)
    out = rng.uniform(-0.5, 0.5, (1000, 2)).astype(np.float32)
    mono = rng.uniform(-0.5, 0.5, (1000, 1)).astype(np.float32)
    g = np.linspace(0.0, 1.0, 1000, dtype=np.float32) if gain == "ramp" else gain
    expected = out.copy()
    scaled = mono[:, 0] * (g if isinstance(g, np.ndarray) else np.float32(g))
    for c in range(2):
        expected[:, c] += scaled
    _add(out, mono.copy(), g)  # type: ignore[arg-type]
    assert np.array_equal(out, expected)
