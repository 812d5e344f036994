"""The service when the sound card goes away and comes back, for real.

The "card" is the ALSA device ``lossy``: an ALSA ``file`` plugin (every sample
played appended to a capture file) in front of the pulse plugin, pointed at a
PulseAudio daemon that only this test runs. Killing that daemon is the card
going away (aplay fails mid-stream, and opening fails until it is back);
starting it again is the card coming back. Played through the real chain: the
``serve`` playback factory, ``Playback``, ``Player``, the ``alsa`` output and
aplay. The waits between tries come from an injected sleeper that records
them (the backoff) but waits only briefly on the service's condition, so a
stop still wakes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from relaxplayer import events as ev
from relaxplayer import resume
from relaxplayer.box import device_wait_for
from relaxplayer.cli import _box_factory
from relaxplayer.history import History
from relaxplayer.resume import BACK_OFF
from relaxplayer.service.config import Config
from relaxplayer.service.core import DeviceWait, Service
from tests.service.box import WAIT, Recorder

pytestmark = [pytest.mark.audio, pytest.mark.slow]

RATE = 16000
STEADY = "title: Steady\nbackground: {sound: pink-noise, volume: 30%}\nsteps:\n  - pause: 10m\n"
WINDOW = RATE // 20  # 50 ms


class LossyCard:
    """A PulseAudio daemon of our own behind the ALSA device ``lossy``; ``unplug``/``plug``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.run = folder / "run"
        self.run.mkdir(parents=True, mode=0o700)
        self.capture = folder / "capture.raw"
        (folder / "asound.conf").write_text(
            f'pcm.lossy_pulse {{ type pulse server "unix:{self.run}/pulse/native" device "lossy" }}\n'
            f'pcm.lossy {{ type file slave.pcm "lossy_pulse" file "|cat >> {self.capture}" '
            'format "raw" }\n'
        )
        top = Path("/usr/share/alsa/alsa.conf").read_text()
        for skipped in ('"/var/lib/alsa/conf.d"', '"/usr/etc/alsa/conf.d"', '"/etc/alsa/conf.d"'):
            top = "\n".join(line for line in top.splitlines() if skipped not in line)
        top = top.replace('"~/.asoundrc"', f'"{folder}/asound.conf"')
        self.alsa_conf = folder / "alsa.conf"
        self.alsa_conf.write_text(top + "\n")
        self.up = False

    def _pulse(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self.run)}
        return subprocess.run(["pulseaudio", *args], env=env, check=False, timeout=30)

    def plug(self) -> None:
        done = self._pulse(
            "--daemonize=yes",
            "-n",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--disable-shm=yes",
            f"--load=module-null-sink sink_name=lossy rate={RATE} channels=2",
            "--load=module-native-protocol-unix",
            f"--log-target=file:{self.folder}/pulse.log",
            "--log-level=error",
        )
        assert done.returncode == 0, (self.folder / "pulse.log").read_text()
        self.up = True

    def unplug(self) -> None:
        if self.up:
            self.up = False
            self._pulse("-k")  # returns once the daemon is told; aplay then fails on its own

    def samples(self) -> np.ndarray:
        """The capture as float mono (the left channel), -1 to 1."""
        raw = np.frombuffer(self.capture.read_bytes(), dtype="<i2").reshape(-1, 2)
        return raw[:, 0].astype(np.float64) / 32767.0


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LossyCard]:
    if shutil.which("pulseaudio") is None or shutil.which("aplay") is None:
        pytest.skip("needs pulseaudio and aplay (scripts/test.sh installs them)")
    card = LossyCard(tmp_path / "lossy")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(card.alsa_conf))  # aplay inherits it
    card.plug()
    try:
        yield card
    finally:
        card.unplug()


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("RELAXPLAYER_STATE", str(tmp_path / "state"))
    sessions = tmp_path / "config" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "steady.yaml").write_text(STEADY)


class Sleeper:
    """Records each wait the service asks for; waits a moment on its condition (a stop wakes it)."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.changed = threading.Condition()

    def __call__(self, cond: threading.Condition, seconds: float) -> None:
        with self.changed:
            self.asked.append(seconds)
            self.changed.notify_all()
        cond.wait(0.05)

    def wait_for_tries(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.asked) >= n, WAIT), self.asked


class Lines(list[str]):
    """The service's log, with a bounded wait for a line."""

    def __init__(self) -> None:
        super().__init__()
        self.cond = threading.Condition()

    def __call__(self, line: str) -> None:
        with self.cond:
            self.append(line)
            self.cond.notify_all()

    def wait_for(self, start: str, timeout: float = WAIT) -> str:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(s.startswith(start) for s in self), timeout)
            assert ok, f"no line {start!r}; saw {list(self)}"
            return next(s for s in self if s.startswith(start))


def _service(tmp_path: Path, wait: DeviceWait) -> tuple[Service, Recorder, Lines, History]:
    history = History(tmp_path / "data" / "history.sqlite3")
    lines = Lines()
    service = Service(
        _box_factory("alsa", "lossy", RATE),
        Config(default_session="steady"),
        history=history,
        log=lines,
        device_wait=wait,
    )
    recorder = Recorder()
    service.subscribe(recorder)
    return service, recorder, lines, history


def _heard(seconds: float):
    return lambda e: isinstance(e, ev.Tick) and e.position >= seconds * RATE


def rms_windows(x: np.ndarray) -> np.ndarray:
    n = len(x) // WINDOW
    return np.sqrt(np.mean(x[: n * WINDOW].reshape(n, WINDOW) ** 2, axis=1))


def test_a_lost_device_is_waited_for_and_the_session_goes_on_fading_in(
    card: LossyCard, tmp_path: Path
) -> None:
    probe = device_wait_for("alsa", "lossy", RATE)
    assert probe is not None
    sleeper = Sleeper()
    service, recorder, lines, history = _service(
        tmp_path, DeviceWait(probe=probe.probe, sleep=sleeper)
    )
    try:
        service.play("steady")
        recorder.wait_for(_heard(7.0))
        card.unplug()
        lost = lines.wait_for("sound device lost: ")
        assert lost.endswith("; waiting for it")
        sleeper.wait_for_tries(4)  # four tries with the card away
        assert service.status()["state"] == "waiting"
        assert sleeper.asked[:4] == [1.0, 2.0, 4.0, 8.0]  # the backoff, then 10 s for ever
        mark = len(recorder.events)
        card.plug()
        lines.wait_for("sound device back: continuing steady at ")
        again = recorder.wait_for(lambda e: isinstance(e, ev.Started), after=mark)
        recorder.wait_for(_heard(again.position / RATE + 4.0), after=mark)
        assert service.status()["state"] == "playing"
        service.stop(fade=0.5)
        assert service.wait_idle(WAIT)
    finally:
        service.close(fade=0.05)
    # Said once each; the session went on BACK_OFF seconds before where it was lost.
    assert [s.split(":")[0] for s in lines].count("sound device lost") == 1
    lost_at = next(
        e.position for e in recorder.events if isinstance(e, ev.Notice) and "lost" in e.message
    )
    assert lost_at >= 7 * RATE
    assert again.position == pytest.approx(lost_at - BACK_OFF * RATE, abs=RATE * 0.01)
    # One row for the whole session, ended by the stop, not by the device.
    [play] = history.recent()
    history.close()
    assert play.how == "stopped" and play.heard > 10.0
    # In the capture: steady noise, then the continuation rising from silence over seconds.
    levels = rms_windows(card.samples())  # the background itself fades in over its first 5 s
    steady = float(np.median(levels[110:140]))  # 5.5 to 7 s: before the card went
    assert steady > 0.002
    quiet = np.flatnonzero(levels[100:] < 0.05 * steady) + 100
    start = next(i for i in quiet if levels[i + 1 : i + 80].min() > 0.01 * steady)  # the fade-in
    rising = levels[start : start + 50]  # 2.5 s of the 3 s fade-in
    assert rising[-1] > 0.6 * steady and rising[5] < 0.35 * steady
    smooth = np.convolve(rising, np.ones(5) / 5, mode="valid")
    assert np.all(np.diff(smooth) > -0.05 * steady)  # rising all the way, no jump down
    assert float(np.median(levels[start + 70 : start + 80])) == pytest.approx(steady, rel=0.35)


@pytest.mark.parametrize("how", ["stop", "close"])
def test_a_stop_or_sigterm_while_waiting_ends_it_at_once_as_device_failed(
    card: LossyCard, tmp_path: Path, how: str
) -> None:
    probe = device_wait_for("alsa", "lossy", RATE)
    assert probe is not None
    # An hour between tries: only the stop itself can end this wait within the test.
    service, recorder, lines, history = _service(
        tmp_path, DeviceWait(probe=probe.probe, delays=(3600.0,))
    )
    try:
        service.play("steady")
        recorder.wait_for(_heard(2.0))
        card.unplug()
        lines.wait_for("sound device lost: ")
        assert service.status()["state"] == "waiting"
        if how == "stop":
            service.stop()
            assert service.wait_idle(WAIT)
        else:
            closer = threading.Thread(target=service.close)
            closer.start()
            closer.join(WAIT)
            assert not closer.is_alive()
        lines.wait_for("steady: stopped while waiting for the sound device")
    finally:
        service.close(fade=0.05)
    [play] = history.recent()
    history.close()
    assert play.how == "device-failed" and play.heard >= 2.0
    point = resume.lookup("steady")
    assert point is not None and point.how == "device-failed" and point.stopped_at >= 2.0
