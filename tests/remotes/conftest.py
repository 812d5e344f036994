"""A real service for the remotes: library -> loader -> timeline -> mixer -> Player -> ``null``
output (paced in real time), sessions in a temporary user folder, no history file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaxplayer.history import History
from relaxplayer.service.config import Config
from relaxplayer.service.core import Service
from tests.service.box import Recorder, make_playback

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
