"""The built-in library: every session validates, has what `list` shows, and renders to real sound."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from relaxplayer.cli import make_narrator
from relaxplayer.library import builtin_dir
from relaxplayer.lint import session_warnings
from relaxplayer.loader import load_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.model import Repeat, Say, Section, Timer
from relaxplayer.timeline import build_timeline, lines_near_bells
from tests.conftest import rms

SESSIONS = sorted(builtin_dir().glob("*.yaml"))
# Minutes, measured with the real voice; another voice differs by a few seconds.
EXPECTED = {
    "default": (3, 5),
    "back-relief": (15, 20),
    "neck-and-shoulders": (9.5, 11),
    "posture-reset": (3, 5),
    "bedtime-body-scan": (19, 21),
    "breathing-4-7-8": (4.75, 5.5),
    "box-breathing": (4.75, 5.5),
    "coherent-breathing": (9.5, 10.5),
    "progressive-muscle-relaxation": (14, 16),
}
RATE = 8000
LEAD_IN = 3.0  # seconds of ambience or silence before the first words
PLAIN = re.compile(r"[A-Za-z ,.'?!]+")


def test_the_library_has_every_promised_session() -> None:
    assert {p.stem for p in SESSIONS} >= set(EXPECTED)


@pytest.mark.voice
@pytest.mark.slow
@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_session_validates_and_renders_with_a_real_voice(path: Path) -> None:
    session = load_session(path)
    assert session.title and session.description and session.tags
    assert any(isinstance(s, Section) for s in session.steps)
    bank = SoundBank(RATE, make_narrator(session, None))
    assert bank.narrator is not None  # real speech, not the stand-in chime
    timeline = build_timeline(session, RATE, bank.measure)
    low, high = EXPECTED.get(path.stem, (1, 60))
    assert low * 60 <= timeline.steps_end / RATE <= high * 60, timeline.steps_end / RATE / 60
    mixer = Mixer(timeline, bank, channels=1)
    peak, loud_blocks, blocks = 0.0, 0, 0
    for block in mixer.blocks(RATE * 10):
        peak = max(peak, float(np.max(np.abs(block))))
        loud_blocks += rms(block) > 0.003
        blocks += 1
    assert mixer.position == timeline.length
    assert peak < 1.0
    assert loud_blocks / blocks > 0.5  # sound most of the time, not silence
    first_words = min(c.start for c in timeline.cues if c.narration)
    assert first_words >= LEAD_IN * RATE, first_words / RATE  # ambience or silence first
    assert lines_near_bells(timeline) == []  # no words on a bell's strike
    assert all(c.end <= timeline.fade_start for c in timeline.cues if c.narration)


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_session_leads_in_and_keeps_words_off_the_bells_by_estimate(path: Path) -> None:
    """The same rules with estimated line lengths (what `validate` checks, no voice needed)."""
    session = load_session(path)
    bank = SoundBank(RATE, make_narrator(session, None), synthesize=False)
    timeline = build_timeline(session, RATE, bank.measure)
    assert min(c.start for c in timeline.cues if c.narration) >= LEAD_IN * RATE
    assert session_warnings(session, timeline) == []


def _words(path: Path) -> str:
    """Everything a session says, lower-case, in one string."""
    return " ".join(text for _, text in _spoken(load_session(path).steps)).lower()


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_every_session_says_when_to_stop_and_when_to_see_a_professional(path: Path) -> None:
    words = _words(path)
    assert re.search(r"\bstop\b", words), path.stem
    assert re.search(r"\b(professional|doctor)\b", words), path.stem


def test_self_massage_sessions_name_the_warning_signs() -> None:
    for name in ("back-relief", "neck-and-shoulders", "posture-reset"):
        words = _words(builtin_dir() / f"{name}.yaml")
        assert "sharp" in words or "dizzy" in words or "hurts" in words, name
        assert "professional" in words, name


@pytest.mark.parametrize("name", ["breathing-4-7-8", "box-breathing", "coherent-breathing"])
def test_breathing_sessions_say_to_return_to_normal_breathing(name: str) -> None:
    words = _words(builtin_dir() / f"{name}.yaml")
    assert "light headed" in words
    assert "breathe normally" in words or "normal breathing" in words


@pytest.mark.parametrize("name", ["breathing-4-7-8", "box-breathing"])
def test_breath_hold_sessions_ask_who_should_check_with_a_doctor(name: str) -> None:
    words = _words(builtin_dir() / f"{name}.yaml")
    assert "pregnant" in words and "heart" in words and "doctor" in words


def test_back_relief_works_both_sides_and_ends_with_water() -> None:
    session = load_session(builtin_dir() / "back-relief.yaml")
    timers = [s for s in session.steps if isinstance(s, Timer)]
    assert sum(1 for t in timers if t.sides == ("left", "right")) >= 4
    says = [s.text for s in session.steps if isinstance(s, Say)]
    assert any("water" in t for t in says[-3:])


def _spoken(steps: tuple) -> list[tuple[object, str]]:
    """Every (step, text) a voice will read, inside repeats too."""
    out: list[tuple[object, str]] = []
    for step in steps:
        if isinstance(step, Say):
            out.append((step, step.text))
        elif isinstance(step, Timer) and step.say:
            out.append((step, step.say))
        elif isinstance(step, Repeat):
            out.extend(_spoken(step.steps))
    return out


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_session_parses_and_has_what_list_shows(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert {"title", "description", "tags", "steps"} <= set(data)
    session = load_session(path)
    assert session.title and session.description and session.tags
    assert any(isinstance(s, Section) for s in session.steps)


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_spoken_text_is_plain_words(path: Path) -> None:
    """A TTS voice reads symbols and digits badly: the library spells everything out."""
    for step, text in _spoken(load_session(path).steps):
        assert PLAIN.fullmatch(text.replace("{side}", "side")), (step.mark, text)


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_two_sided_timers_name_the_side_only_through_the_placeholder(path: Path) -> None:
    """'Your right hand to your {side} shoulder' is wrong on one of the two sides."""
    for step, text in _spoken(load_session(path).steps):
        if isinstance(step, Timer) and step.sides:
            assert "{side}" in text, step.mark
            assert not re.search(r"\b(left|right)\b", text, re.IGNORECASE), (step.mark, text)


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_two_sided_stretches_come_back_to_the_centre_before_the_other_side(path: Path) -> None:
    for step, text in _spoken(load_session(path).steps):
        if isinstance(step, Timer) and step.sides and re.search(r"\bear drop|\bturn\b", text):
            assert "centre" in text, (step.mark, text)
