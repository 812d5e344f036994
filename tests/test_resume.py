"""Resume points: written from real events into a real (isolated) state folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaxplayer import events as ev
from relaxplayer import resume

RATE = 100


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_STATE", str(tmp_path / "state"))


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def play(listener: resume.ResumeListener, seconds: float, start: int = 0) -> int:
    pos = start
    for _ in range(round(seconds * 10)):
        pos += RATE // 10
        listener(ev.Tick(pos, 10**6, False, 1.0, 0))
    return pos


def started(listener: resume.ResumeListener, title: str = "Bedtime") -> None:
    listener(ev.Started(0, title, 10**6, RATE, "null"))


def test_nothing_to_resume_is_said_plainly() -> None:
    assert resume.lookup() is None
    assert resume.lookup("bedtime") is None
    assert resume.nothing_to_resume() == "nothing to resume: no session was left unfinished"
    assert "'bedtime'" in resume.nothing_to_resume("bedtime")


def test_written_every_15_seconds_of_heard_audio(tmp_path: Path) -> None:
    listener = resume.ResumeListener("bedtime", str(tmp_path / "bedtime.yaml"), clock=Clock())
    started(listener)
    play(listener, 14.9)
    assert resume.lookup("bedtime") is None
    play(listener, 0.2, start=1490)
    point = resume.lookup("bedtime")
    assert point is not None and point.stopped_at == pytest.approx(15.0) and point.how == "playing"
    # paused ticks add nothing
    for _ in range(300):
        listener(ev.Tick(1510, 10**6, True, 1.0, 0))
    assert resume.lookup("bedtime").stopped_at == pytest.approx(15.0)  # type: ignore[union-attr]


def test_pause_and_stop_write_and_back_off_five_seconds(tmp_path: Path) -> None:
    source = tmp_path / "bedtime.yaml"
    listener = resume.ResumeListener("bedtime", str(source), clock=Clock())
    started(listener, "Bedtime body scan")
    pos = play(listener, 3.0)
    listener(ev.Paused(pos))
    point = resume.lookup()
    assert point is not None and (point.how, point.stopped_at, point.seconds) == (
        "paused",
        3.0,
        0.0,
    )
    pos = play(listener, 9.0, start=pos)
    listener(ev.Finished(pos, "quit"))
    point = resume.lookup(str(source))  # by path as well as by name
    assert point is not None and point.how == "stopped"
    assert point.stopped_at == pytest.approx(12.0) and point.seconds == pytest.approx(7.0)
    assert point.describe() == "resuming 'Bedtime body scan' at 0:07 (it stopped at 0:12)"
    files = list(resume.folder().iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["session"] == "bedtime"


def test_played_to_the_end_leaves_nothing_to_resume(tmp_path: Path) -> None:
    listener = resume.ResumeListener("bedtime", str(tmp_path / "b.yaml"))
    started(listener)
    pos = play(listener, 20)
    listener(ev.Finished(pos, "end"))
    assert resume.lookup() is None


def test_last_interrupted_is_the_newest(tmp_path: Path) -> None:
    clock = Clock()
    for name in ("one", "two", "three"):
        clock.t += 60
        listener = resume.ResumeListener(name, str(tmp_path / f"{name}.yaml"), clock=clock)
        listener.ending = "sleep-timer" if name == "two" else None
        started(listener, name.title())
        listener(ev.Finished(play(listener, 8), "quit"))
    assert resume.lookup().session == "three"  # type: ignore[union-attr]
    assert resume.lookup("two").how == "sleep-timer"  # type: ignore[union-attr]
    assert [p.session for p in resume.points()] == ["three", "two", "one"]


def test_a_damaged_point_is_ignored(tmp_path: Path) -> None:
    resume.folder().mkdir(parents=True)
    (resume.folder() / "broken.json").write_text("{not json")
    assert resume.lookup() is None


def test_unwritable_state_folder_warns_once_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("RELAXPLAYER_STATE", str(blocker))
    warnings: list[str] = []
    listener = resume.ResumeListener("bedtime", warn=warnings.append)
    started(listener)
    pos = play(listener, 40)
    listener(ev.Paused(pos))
    listener(ev.Finished(pos, "quit"))
    assert len(warnings) == 1 and "cannot save the resume point" in warnings[0]
