"""A real service for the remotes: library -> loader -> timeline -> mixer -> Player -> ``null``
output (paced in real time), sessions in a temporary user folder, no history file."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from relaxplayer import events as ev
from relaxplayer import library
from relaxplayer.history import History
from relaxplayer.loader import load_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.outputs.null import NullOutput
from relaxplayer.player import Player
from relaxplayer.service.config import Config
from relaxplayer.service.core import Service
from relaxplayer.timeline import build_timeline

RATE = 8000
WAIT = 20.0  # seconds: generous bound for things that happen in well under one
STEPS = """\
title: Steps
steps:
  - section: Arrive
  - pause: 30s
  - breathe: box
    cycles: 2
  - section: Rest
  - pause: 10m
"""
SHORT = "title: Short\nsteps:\n  - bell: soft\n  - pause: 1s\n"


@pytest.fixture(autouse=True)
def _sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("RELAXPLAYER_STATE", str(tmp_path / "state"))
    folder = tmp_path / "config" / "sessions"
    folder.mkdir(parents=True)
    (folder / "steps.yaml").write_text(STEPS)
    (folder / "short.yaml").write_text(SHORT)
    return folder


def make_playback(name: str, volume: float = 1.0, **options: object) -> Player:
    session = load_session(library.find(name).path)
    bank = SoundBank(RATE, None)
    mixer = Mixer(build_timeline(session, RATE, bank.measure), bank, 2)
    return Player(mixer, lambda: NullOutput(RATE, 2), volume=volume)


class Recorder:
    """Subscribes to the service; ``wait_for`` blocks (bounded) until a matching event."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: ev.Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[ev.Event], bool], after: int = 0) -> ev.Event:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(match(e) for e in self.events[after:]), WAIT)
            assert ok, f"no such event; got {[type(e).__name__ for e in self.events[-20:]]}"
            return next(e for e in self.events[after:] if match(e))


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "data" / "history.sqlite3")
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def service(history: History) -> Iterator[tuple[Service, Recorder]]:
    svc = Service(make_playback, Config(default_session="steps", output="null"), history=history)
    recorder = Recorder()
    svc.subscribe(recorder)
    try:
        yield svc, recorder
    finally:
        svc.close(fade=0.05)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    sessions = tmp_path / "config" / "sessions"  # the autouse fixture made it, with steps.yaml
    assert (sessions / "steps.yaml").read_text() == STEPS
    (tmp_path / "config" / "config.yaml").write_text("default_session: steps\n")
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "RELAXPLAYER_CONFIG": str(tmp_path / "config"),
        "RELAXPLAYER_DATA": str(tmp_path / "data"),
        "RELAXPLAYER_STATE": str(tmp_path / "state"),
    }
