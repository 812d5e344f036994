"""Timeline offsets, to the frame, from the real loader."""

from __future__ import annotations

from pathlib import Path

from relaxplayer.loader import parse_session
from relaxplayer.timeline import SoundRef, Timeline, build_timeline, lines_near_bells

RATE = 8000
SPEECH_FRAMES = 3 * RATE  # every narration clip measures 3 s here
BELL_FRAMES = 2 * RATE


def measure(ref: SoundRef) -> int:
    """Fixed lengths, so that offsets can be computed by hand."""
    if ref.kind == "breath":
        return int(ref.seconds * RATE)
    return {"speech": SPEECH_FRAMES, "clip": SPEECH_FRAMES, "bell": BELL_FRAMES}[ref.kind]


def timeline(yaml_text: str, rate: int = RATE) -> Timeline:
    session = parse_session(yaml_text, "t.yaml", Path("."))
    return build_timeline(session, rate, measure)


def test_breath_cues_start_on_their_phase_frames() -> None:
    t = timeline(
        "title: t\nend: {fade_out: 0s}\nsteps:\n  - breathe: {inhale: 4, exhale: 6}\n    cycles: 3\n"
    )
    inhale = [c.start for c in t.cues if c.sound.name == "inhale"]
    exhale = [c.start for c in t.cues if c.sound.name == "exhale"]
    assert inhale == [0, 10 * RATE, 20 * RATE]
    assert exhale == [4 * RATE, 14 * RATE, 24 * RATE]
    assert t.length == 30 * RATE


def test_pauses_timers_and_breathing_sum_exactly_to_the_frame() -> None:
    text = """title: t
steps:
  - pause: 1.37s
  - timer: 2.011s
  - breathe: coherent
    cycles: 3
  - timer: 1m
    every: 15s
  - pause: 0.333s
"""
    for rate in (8000, 22050, 44100, 48000):
        t = timeline(text, rate)
        total = 1.37 + 2.011 + 33.0 + 60.0 + 0.333
        assert t.length == round(total * rate)
        assert t.steps_end == t.length


def test_narration_takes_clip_plus_gap_and_ducks_the_background() -> None:
    text = """title: t
narration: {gap: 2s}
background: {sound: rain, volume: 50%, duck: 6 dB, fade_in: 1s}
steps:
  - say: Hello there.
  - pause: 10s
  - say: Goodbye.
"""
    t = timeline(text)
    says = [s for s in t.steps if s.kind == "say"]
    assert [s.start for s in says] == [0, 5 * RATE + 10 * RATE]
    assert says[0].length == SPEECH_FRAMES + 2 * RATE
    assert t.steps_end == 2 * (5 * RATE) + 10 * RATE
    # the default 10 s end fade starts when "Goodbye." has finished, not over it
    assert t.length == 15 * RATE + SPEECH_FRAMES + 10 * RATE
    duck = dict(t.background.duck)
    assert abs(duck[SPEECH_FRAMES] - 10 ** (-6 / 20)) < 1e-9  # ducked to the end of the first clip
    assert t.background.fade_in == RATE


def test_timer_sides_substitute_and_ring_bells() -> None:
    text = """title: t
steps:
  - timer: 90s
    say: Roll the ball under your {side} shoulder.
    sides: [left, right]
    every: 30s
"""
    t = timeline(text)
    spans = [s for s in t.steps if s.kind == "timer"]
    assert [s.start for s in spans] == [0, 90 * RATE]
    assert [s.label for s in spans] == [
        "Roll the ball under your left shoulder.",
        "Roll the ball under your right shoulder.",
    ]
    bells = [c.start for c in t.cues if c.sound.kind == "bell" and c.sound.name == "soft"]
    # interval bells at 30 and 60 s of each side, plus the switch-sides bell at 90 s
    assert bells == [30 * RATE, 60 * RATE, 90 * RATE, 120 * RATE, 150 * RATE]
    speech = [c for c in t.cues if c.sound.kind == "speech"]
    assert speech[0].start == 0 and speech[1].start == 90 * RATE + 2 * RATE  # SWITCH_PAUSE
    assert t.length == 180 * RATE


def test_repeat_sections_and_a_final_bell_ringing_out() -> None:
    text = """title: t
steps:
  - section: Warm up
  - repeat: 3
    steps:
      - pause: 2s
  - section: Close
  - bell: bowl
"""
    t = timeline(text)
    assert [s.kind for s in t.steps] == ["section", "pause", "pause", "pause", "section", "bell"]
    assert t.steps[3].section == "Warm up" and t.steps[5].section == "Close"
    assert t.steps_end == 6 * RATE
    assert t.length == 6 * RATE + BELL_FRAMES  # the last bell rings out


def test_linger_and_master_fade() -> None:
    text = "title: t\nbackground: ocean\nend: {fade_out: 5s, linger: 1m}\nsteps:\n  - pause: 30s\n"
    t = timeline(text)
    assert t.steps_end == 30 * RATE and t.length == 90 * RATE
    assert t.master == ((0, 1.0), (85 * RATE, 1.0), (90 * RATE, 0.0))


def test_voice_and_bell_breath_cues() -> None:
    text = "title: t\nsteps:\n  - breathe: 4-7-8\n    cycles: 1\n    cue: voice\n"
    t = timeline(text)
    assert [(c.start, c.sound.name) for c in t.cues] == [
        (0, "Breathe in"),
        (4 * RATE, "Hold"),
        (11 * RATE, "Breathe out"),
    ]
    t = timeline("title: t\nsteps:\n  - breathe: box\n    cycles: 1\n    cue: none\n")
    assert t.cues == () and t.length == 16 * RATE


def test_step_at_finds_the_playing_step() -> None:
    t = timeline("title: t\nsteps:\n  - section: A\n  - pause: 1s\n  - pause: 2s\n")
    assert t.step_at(0).kind == "pause"
    assert t.step_at(RATE).start == RATE
    assert t.step_at(3 * RATE - 1).index == 2


def test_same_place_keeps_the_step_and_offset_when_earlier_lines_are_re_measured() -> None:
    text = "title: t\nsteps:\n  - say: One.\n  - section: Later\n  - pause: 10s\n  - say: Two.\n"
    session = parse_session(text, "t.yaml", Path("."))
    guessed = build_timeline(session, RATE, measure)  # "One." estimated at 3 s
    real = build_timeline(
        session, RATE, lambda ref: 5 * RATE if ref.name == "One." else measure(ref)
    )
    into_pause = guessed.steps[2].start + 4 * RATE
    assert guessed.steps[2].kind == "pause"
    assert guessed.same_place(into_pause, real) == real.steps[2].start + 4 * RATE
    assert real.steps[2].start - guessed.steps[2].start == 2 * RATE
    assert guessed.same_place(RATE, real) == RATE  # inside the re-measured line itself
    assert guessed.same_place(guessed.length, real) == real.length


def test_the_end_fade_starts_when_the_last_words_have_finished() -> None:
    text = "title: t\nend: {fade_out: 8s}\nsteps:\n  - pause: 20s\n  - say: Good night.\n"
    t = timeline(text)
    words_end = 20 * RATE + SPEECH_FRAMES
    assert t.steps_end == words_end + RATE  # the narration gap
    assert t.master == ((0, 1.0), (words_end, 1.0), (words_end + 8 * RATE, 0.0))
    assert t.fade_start == words_end and t.length == words_end + 8 * RATE
    assert all(c.end <= t.fade_start for c in t.cues if c.narration)


def test_a_long_linger_fades_at_its_end_as_before() -> None:
    text = "title: t\nbackground: rain\nend: {fade_out: 5s, linger: 1m}\nsteps:\n  - say: Sleep well.\n"
    t = timeline(text)
    assert t.length == SPEECH_FRAMES + RATE + 60 * RATE
    assert t.fade_start == t.length - 5 * RATE


def test_fade_out_zero_ends_on_a_short_ramp_and_keeps_the_exact_length() -> None:
    t = timeline("title: t\nend: {fade_out: 0s}\nsteps:\n  - pause: 5s\n")
    assert t.length == 5 * RATE
    assert t.master == ((0, 1.0), (5 * RATE - 400, 1.0), (5 * RATE, 0.0))  # 50 ms
    t = timeline("title: t\nnarration: {gap: 0s}\nend: {fade_out: 0s}\nsteps:\n  - say: Done.\n")
    assert t.fade_start == SPEECH_FRAMES and t.length == SPEECH_FRAMES + 400


def test_lines_near_bells_lists_words_that_start_on_a_strike() -> None:
    text = """title: t
narration: {gap: 0s}
steps:
  - bell: bowl
  - say: Too soon.
  - bell: soft
  - pause: 1.4s
  - say: Still too soon.
  - bell: soft
  - pause: 1.6s
  - say: Late enough.
  - timer: 20s
    say: The {side} side.
    sides: [left, right]
"""
    t = timeline(text)
    found = [(line.text, bell.start) for line, bell in lines_near_bells(t)]
    assert found == [("Too soon.", 0), ("Still too soon.", SPEECH_FRAMES)]
    # the switch-sides bell sounds on its own: the words follow SWITCH_PAUSE later
    assert len(lines_near_bells(t, 2.0)) == 3 and len(lines_near_bells(t, 2.01)) == 4
