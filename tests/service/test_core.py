"""The service core end to end: a REAL Player over the real ``null`` output, real sessions
from the user's folder, real SQLite history, injected clocks for schedules and the sleep timer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from relaxplayer import events as ev
from relaxplayer import library, resume
from relaxplayer.errors import ConfigError, OutputError
from relaxplayer.history import History
from relaxplayer.loader import load_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.outputs.null import NullOutput
from relaxplayer.player import Player
from relaxplayer.service.config import Config, parse_config
from relaxplayer.service.core import DeviceWait, Service, SessionChanged
from relaxplayer.service.scheduler import Scheduler
from relaxplayer.timeline import build_timeline
from tests.service.box import RATE, WAIT, Recorder, make_playback

CET = timezone(timedelta(hours=1))
SHORT = "title: Short\nsteps:\n  - bell: soft\n  - pause: 1s\n"
LONG = "title: Long\nbackground: {sound: pink-noise, volume: 20%}\nsteps:\n  - pause: 10m\n"


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("RELAXPLAYER_STATE", str(tmp_path / "state"))
    sessions = tmp_path / "config" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "short.yaml").write_text(SHORT)
    (sessions / "long.yaml").write_text(LONG)


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Service, Recorder, History, Monotonic]]:
    history = History(tmp_path / "data" / "history.sqlite3")
    clock = Monotonic()
    config = Config(default_session="short", sleep_fade=0.3)
    service = Service(
        make_playback,
        config,
        history=history,
        monotonic=clock,
        scheduler=Scheduler([], lambda: datetime.now(CET)),
    )
    recorder = Recorder()
    service.subscribe(recorder)
    try:
        yield service, recorder, history, clock
    finally:
        service.close(fade=0.05)
        history.close()


def started(e: ev.Event) -> bool:
    return isinstance(e, ev.Started)


def test_plays_a_session_to_its_end_and_records_it(box) -> None:
    service, recorder, history, _ = box
    assert service.idle and service.status()["state"] == "idle"
    service.play_default()
    assert not service.idle
    recorder.wait_for(lambda e: isinstance(e, ev.Finished))
    assert service.wait_idle(WAIT)
    [play] = history.recent()
    assert (play.session, play.title, play.how) == ("short", "Short", "finished")
    assert play.fraction == 1.0 and play.heard == pytest.approx(1.0, abs=0.01)  # all of it
    assert play.source.endswith("short.yaml")
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds[0] == "SessionChanged" and kinds[-1] == "SessionChanged"
    assert "Started" in kinds and "Finished" in kinds
    assert resume.lookup("short") is None  # heard to the end: nothing to resume


def test_pause_resume_and_stop_with_a_fade(box) -> None:
    service, recorder, history, _ = box
    service.play("long")
    recorder.wait_for(lambda e: isinstance(e, ev.Tick) and e.position > RATE // 5)
    service.toggle_pause()
    recorder.wait_for(lambda e: isinstance(e, ev.Paused))
    assert service.status()["state"] == "paused"
    point = resume.lookup("long")
    assert point is not None and point.how == "paused"
    service.resume()
    recorder.wait_for(lambda e: isinstance(e, ev.Resumed))
    service.stop(fade=0.1)
    finished = recorder.wait_for(lambda e: isinstance(e, ev.Finished))
    assert finished.reason == "quit"  # type: ignore[attr-defined]
    assert service.wait_idle(WAIT)
    assert history.recent()[0].how == "stopped"
    assert resume.lookup().session == "long"  # type: ignore[union-attr]


def test_sleep_timer_fades_out_and_is_recorded_as_sleep_timer(box) -> None:
    service, recorder, history, clock = box
    with pytest.raises(ConfigError, match="nothing is playing"):
        service.sleep(60)
    service.play("long")
    recorder.wait_for(started)
    service.sleep(30 * 60)
    assert service.sleep_remaining == 1800.0
    clock.t += 1800 - 1.0  # the fade (0.3 s) has not begun yet
    service.tick()
    assert not service.idle
    clock.t += 0.8  # 0.2 s left: inside the fade, which ends when the timer does
    service.tick()
    recorder.wait_for(lambda e: isinstance(e, ev.Finished))
    assert service.wait_idle(WAIT)
    assert history.recent()[0].how == "sleep-timer"
    assert resume.lookup("long").how == "sleep-timer"  # type: ignore[union-attr]


def test_playing_another_session_switches(box) -> None:
    service, recorder, history, _ = box
    service.play("long")
    recorder.wait_for(started)
    mark = len(recorder.events)
    service.play("short")
    recorder.wait_for(lambda e: isinstance(e, ev.Started) and e.title == "Short", after=mark)
    assert service.wait_idle(WAIT)
    assert [(p.session, p.how) for p in history.recent()] == [
        ("short", "finished"),
        ("long", "stopped"),
    ]


def test_unknown_session_is_refused_at_once(box) -> None:
    service, _, _, _ = box
    with pytest.raises(ConfigError, match="no session named 'nope'"):
        service.play("nope")
    assert service.idle


def test_a_schedule_plays_at_its_injected_time(tmp_path: Path) -> None:
    config = parse_config(
        "default_session: short\nschedules:\n  - {at: 22:30, session: short, volume: 40%}\n",
        "config.yaml",
    )
    wall = [datetime(2026, 12, 7, 22, 29, tzinfo=CET)]
    history = History(tmp_path / "h.db")
    log: list[str] = []
    options: list[dict] = []

    def factory(name: str, **kw: object) -> Player:
        options.append(kw)
        return make_playback(name, **kw)  # type: ignore[arg-type]

    service = Service(
        factory,
        config,
        history=history,
        now=lambda: wall[0],
        log=log.append,
        scheduler=Scheduler(config.schedules, lambda: wall[0], plausible=lambda m: None),
    )
    try:
        service.tick()
        assert service.idle
        wall[0] += timedelta(minutes=1)
        service.tick()
        assert not service.idle
        assert service.wait_idle(WAIT)
        assert options == [{"volume": 0.4}]
        service.tick()  # polled again in the same minute: once only
        assert service.idle and len(options) == 1
        assert history.recent()[0].how == "finished"
        assert "schedule 22:30: playing short" in log
    finally:
        service.close()
        history.close()


def test_an_implausible_clock_is_logged_once(tmp_path: Path) -> None:
    config = parse_config("schedules:\n  - {at: 22:30, session: short}\n", "config.yaml")
    wall = [datetime(1970, 1, 1, 22, 30, tzinfo=CET)]  # fake-hwclock at its worst
    log: list[str] = []
    service = Service(make_playback, config, now=lambda: wall[0], log=log.append)
    try:
        for _ in range(3):
            service.tick()
        assert service.idle
        assert [line for line in log if line.startswith("schedules paused")] == [log[0]]
        assert "before this relaxplayer was installed" in log[0]
    finally:
        service.close()


def test_a_button_press_plays_the_default_then_pauses(box) -> None:
    gpiozero = pytest.importorskip("gpiozero")
    from gpiozero.pins.mock import MockFactory

    from relaxplayer.controls.gpio import GpioButton

    service, recorder, history, _ = box
    factory = MockFactory()
    try:
        with GpioButton(service, 17, bounce=None, pin_factory=factory):
            pin = factory.pin(17)
            pin.drive_low()
            pin.drive_high()
            recorder.wait_for(started)
            pin.drive_low()
            pin.drive_high()
            recorder.wait_for(lambda e: isinstance(e, ev.Paused))
    finally:
        factory.reset()
    del gpiozero
    service.stop(fade=0.05)
    assert service.wait_idle(WAIT)
    assert history.recent()[0].session == "short"


def test_a_broken_subscriber_does_not_stop_playback(box) -> None:
    service, recorder, history, _ = box
    log: list[str] = []
    service.log = log.append

    def broken(event: ev.Event) -> None:
        raise RuntimeError("remote went away")

    service.subscribe(broken)
    service.play("short")
    assert service.wait_idle(WAIT)
    assert history.recent()[0].how == "finished"
    assert any("a listener failed" in line for line in log)
    assert any(isinstance(e, SessionChanged) for e in recorder.events)


def test_sleep_timer_listener_on_a_bare_player(tmp_path: Path) -> None:
    """``play --sleep``: the timer as a listener of one Player, history and resume recording."""
    from relaxplayer.history import HistoryListener
    from relaxplayer.resume import ResumeListener
    from relaxplayer.service.core import SleepTimer

    history = History(tmp_path / "h.db")
    clock = Monotonic()
    player = make_playback("long")
    recorders = (HistoryListener(history, "long"), ResumeListener("long"))
    for recorder in recorders:
        player.listen(recorder)
    timer = SleepTimer(player, 45 * 60, fade=0.2, recorders=recorders, monotonic=clock)
    ticks = threading.Event()

    def advance(event: ev.Event) -> None:
        if isinstance(event, ev.Tick) and not ticks.is_set():
            ticks.set()
            clock.t += 45 * 60 - 0.1  # the clock jumps to 0.1 s before the deadline

    player.listen(advance)
    player.listen(timer)
    with pytest.raises(ConfigError):
        SleepTimer(player, 0)
    assert player.run() == "quit"
    assert timer.fired and history.recent()[0].how == "sleep-timer"
    assert resume.lookup("long").how == "sleep-timer"  # type: ignore[union-attr]
    history.close()


# --- a lost sound device (the real thing is in test_device_loss.py) ---------------------


class Card:
    """A sound card that can be unplugged: a real null output that fails while it is out."""

    def __init__(self) -> None:
        self.present = True

    def open(self) -> NullOutput:
        if not self.present:
            raise OutputError("no such card")
        card = self

        class Unpluggable(NullOutput):
            def _write(self, block: np.ndarray) -> None:
                if not card.present:
                    raise OutputError("unplugged")
                super()._write(block)

        return Unpluggable(RATE, 2)

    def make_playback(
        self, name: str, volume: float = 1.0, start_at: str | None = None, fade_in: float = 0.0
    ) -> Player:
        session = load_session(library.find(name).path)
        bank = SoundBank(RATE, None)
        mixer = Mixer(build_timeline(session, RATE, bank.measure), bank, 2)
        if start_at is not None:
            mixer.seek(int(float(start_at.removesuffix("s")) * RATE))
        return Player(mixer, self.open, volume=volume, fade_in=fade_in, retry_seconds=0.2)


def test_a_pause_while_the_device_is_away_is_kept_and_a_new_session_gives_the_old_up(
    tmp_path: Path,
) -> None:
    card = Card()
    asked: list[float] = []
    tried = threading.Condition()

    def sleep(cond: threading.Condition, seconds: float) -> None:
        with tried:
            asked.append(seconds)
            tried.notify_all()
        cond.wait(0.01)

    history = History(tmp_path / "data" / "history.sqlite3")
    lines: list[str] = []
    wait = DeviceWait(probe=lambda: None if card.present else "no such card", sleep=sleep)
    service = Service(
        card.make_playback, Config(), history=history, log=lines.append, device_wait=wait
    )
    recorder = Recorder()
    service.subscribe(recorder)
    try:
        service.play("long")
        recorder.wait_for(lambda e: isinstance(e, ev.Tick) and e.position > RATE // 2)
        card.present = False
        recorder.wait_for(lambda e: isinstance(e, ev.Notice) and "waiting for it" in e.message)
        assert service.status()["state"] == "waiting"
        service.toggle_pause()  # a press while it waits: kept for when it is back
        mark = len(recorder.events)
        card.present = True
        recorder.wait_for(lambda e: isinstance(e, ev.Paused), after=mark)
        assert service.status()["state"] == "paused"
        assert [line for line in lines if line.startswith("sound device")] == [
            "sound device lost: audio output failed: unplugged; waiting for it"
        ]  # paused, the clock runs but nothing is heard: not "back" yet
        before = len(asked)
        card.present = False  # lost again, before a sound was heard: the same outage, not said
        with tried:
            assert tried.wait_for(lambda: len(asked) > before, WAIT)
        assert service.status()["state"] == "waiting"
        service.play("short")  # another session: the lost one is given up
        recorder.wait_for(lambda e: isinstance(e, SessionChanged) and e.session == "short")
        card.present = True
        recorder.wait_for(lambda e: isinstance(e, ev.Finished) and e.reason == "end")
        assert service.wait_idle(WAIT)
    finally:
        service.close(fade=0.05)
    assert asked[0] == 1.0 and asked[before] == 1.0  # each wait starts its backoff again
    assert sum(line.startswith("sound device lost") for line in lines) == 1
    plays = {p.session: p.how for p in history.recent()}
    history.close()
    assert plays == {"long": "device-failed", "short": "finished"}
