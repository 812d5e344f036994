"""The bedside box end to end through the virtual sound card, heard in the capture.

``run_box`` (what ``relaxplayer serve`` runs) on the main thread, with the
config read from a file, the ``alsa`` output on ALSA's ``default`` (the
virtual card's ``file`` plugin appends every sample played to
``$AUDIO_CAPTURE``), a button on gpiozero's ``MockFactory`` and an injected
wall clock. A driver thread moves the clock to the schedule's time, presses
the button and watches the capture grow; at the end it sends SIGTERM to this
process, which the box handles as ``serve`` does. Then the samples are
analysed: sound, silence during the pause, sound again, and a fade (not a
cut) at the long press.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from relaxplayer.box import BoxOptions, device_wait_for, run_box
from relaxplayer.cli import _box_factory
from relaxplayer.history import History
from relaxplayer.service.config import load_config
from tests.service.box import WAIT

pytestmark = [pytest.mark.audio, pytest.mark.slow]

RATE = 16000
PIN = 17
WINDOW = RATE // 20  # 50 ms
SESSION = (
    "title: Steady\nbackground: {sound: pink-noise, volume: 40%, fade_in: 0s}\n"
    "steps:\n  - pause: 1m\n"
)


class Clock:
    """The box's wall clock: a moment the test sets."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.looks = 0  # how often the scheduler asked

    def __call__(self) -> datetime:
        self.looks += 1
        return self.moment


class Capture:
    """The virtual card's capture file, read as it grows (left channel, -1 to 1)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.grew = threading.Event()  # never set: a bounded wait between looks

    def samples(self) -> np.ndarray:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return np.zeros(0)
        frames = len(data) // 4
        raw = np.frombuffer(data[: frames * 4], dtype="<i2").reshape(-1, 2)
        return raw[:, 0].astype(np.float64) / 32767.0

    def wait_until(self, test, what: str) -> None:
        for _ in range(int(WAIT / 0.05)):
            if test(self.samples()):
                return
            self.grew.wait(0.05)
        raise AssertionError(f"the capture never showed {what}")


def trailing(x: np.ndarray, silent: bool) -> int:
    """Frames at the end of ``x`` that are all exactly zero (``silent``) or all sound."""
    quiet = x == 0.0
    flips = np.flatnonzero(quiet != silent)
    return len(x) - (flips[-1] + 1 if len(flips) else 0)


def sounding(x: np.ndarray) -> int:
    """Frames at the end of ``x`` since it last was silent for 10 ms."""
    levels = np.abs(x) > 0
    n = len(x) // 160
    blocks = levels[: n * 160].reshape(n, 160).any(axis=1)
    off = np.flatnonzero(~blocks)
    return (n - (off[-1] + 1 if len(off) else 0)) * 160


@pytest.fixture
def box_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if "AUDIO_CAPTURE" not in os.environ:
        pytest.skip("no virtual sound card")
    for key, folder in (("CONFIG", "config"), ("DATA", "data"), ("STATE", "state")):
        monkeypatch.setenv(f"RELAXPLAYER_{key}", str(tmp_path / folder))
    (tmp_path / "config" / "sessions").mkdir(parents=True)
    (tmp_path / "config" / "sessions" / "steady.yaml").write_text(SESSION)
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield tmp_path
    Device.pin_factory.reset()
    Device.pin_factory = previous


def test_serve_plays_a_schedule_a_press_pauses_and_a_long_press_fades_out(box_env: Path) -> None:
    at = (datetime.now().astimezone() + timedelta(days=1)).replace(
        hour=22, minute=30, second=0, microsecond=0
    )
    config_file = box_env / "config" / "config.yaml"
    config_file.write_text(
        "output: alsa\ndefault_session: steady\n"
        f"button: {{pin: {PIN}, hold: 0.5, bounce: null}}\n"
        'schedules:\n  - {at: "22:30", session: steady}\n'
    )
    capture = Capture(Path(os.environ["AUDIO_CAPTURE"]))
    capture.path.unlink(missing_ok=True)
    clock = Clock(at - timedelta(seconds=3))
    lines: list[str] = []
    said = threading.Condition()
    failure: list[BaseException] = []
    pin = Device.pin_factory.pin(PIN)

    def log(line: str) -> None:
        with said:
            lines.append(line)
            said.notify_all()

    def wait_line(start: str) -> None:
        with said:
            ok = said.wait_for(lambda: any(s.startswith(start) for s in lines), WAIT)
        assert ok, f"no line {start!r} in {lines}"

    def press(hold: str | None = None) -> None:
        pin.drive_low()  # pull-up: pressed is low
        if hold is not None:
            wait_line(hold)  # a long press acts when the hold time is reached
        pin.drive_high()

    def drive() -> None:
        try:
            wait_line("relaxplayer ")
            assert not capture.samples().any()
            capture.wait_until(lambda x: clock.looks >= 3, "the scheduler looking at 22:29:57")
            assert not any(s.startswith("schedule ") for s in lines)  # nothing was due then
            clock.moment = at + timedelta(seconds=1)
            wait_line("schedule 22:30: playing steady")
            capture.wait_until(lambda x: sounding(x) >= 2 * RATE, "2 s of sound")
            press()  # short: pause
            capture.wait_until(lambda x: trailing(x, True) >= RATE, "1 s of silence")
            press()  # short: resume
            capture.wait_until(lambda x: sounding(x) >= 2 * RATE, "2 s of sound again")
            press(hold="steady: quit")  # long: stop with a fade
        except BaseException as exc:
            failure.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    options = BoxOptions(
        config_path=config_file,
        make_playback=_box_factory("alsa", None, RATE),
        device_wait=device_wait_for("alsa", None, RATE),
        now=clock,
    )
    driver = threading.Thread(target=drive, name="driver")
    driver.start()
    run_box(load_config(config_file), options, log)
    driver.join(WAIT)
    if failure:
        raise failure[0]
    assert "SIGTERM: fading out and stopping" in lines
    history = History(box_env / "data" / "history.sqlite3")
    [play] = history.recent()
    history.close()
    assert (play.session, play.how) == ("steady", "stopped")

    x = capture.samples()
    n = len(x) // WINDOW
    levels = np.sqrt(np.mean(x[: n * WINDOW].reshape(n, WINDOW) ** 2, axis=1))
    loud = levels > 0
    # Sound, one pause of silence (exact zeros) of at least a second, sound again.
    edges = np.flatnonzero(np.diff(loud.astype(int)))
    first = np.argmax(loud)
    runs = np.split(np.arange(first, n), edges[edges >= first] + 1)
    sound = [r for r in runs if loud[r[0]] and len(r) > 2]
    gaps = [r for r in runs if not loud[r[0]] and r[-1] < sound[-1][-1]]
    assert len(sound) == 2, [len(r) for r in runs]
    assert len(gaps) == 1 and len(gaps[0]) >= 20
    steady = float(np.median(levels[sound[0]]))
    assert steady > 0.01
    assert len(sound[0]) >= 40 and len(sound[1]) >= 40
    # The pause and the stop are ramps, not cuts: the last 10 ms before each silence are quiet,
    # and no sample steps further than the noise itself does while steady.
    own_step = np.max(np.abs(np.diff(x[sound[0][5] * WINDOW : sound[0][-5] * WINDOW])))
    for run in (sound[0], sound[1]):
        end = (run[-1] + 1) * WINDOW
        end = np.flatnonzero(x[end - WINDOW : end])[-1] + end - WINDOW + 1  # the last sample
        assert np.sqrt(np.mean(x[end - RATE // 100 : end] ** 2)) < 0.5 * steady, "a cut"
        assert np.max(np.abs(np.diff(x[end - WINDOW : end + 1]))) <= 1.2 * own_step
    # The long press: a 0.5 s fade, falling window by window to silence.
    fade = levels[sound[1][-12:]]
    assert fade[0] > 0.6 * steady and fade[-1] < 0.2 * steady
    smooth = np.convolve(fade, np.ones(2) / 2, mode="valid")
    assert np.sum(np.diff(smooth) < 0) >= 7  # falling over at least 8 windows (0.4 s)
