"""Signals: handlers only record, a dispatcher thread turns them into commands.

In-process tests drive ``signal_controls`` with ``os.kill`` on this very
process (delivered before ``kill`` returns, so nothing is coalesced); the
subprocess tests send real signals to a real ``play`` and are repeated over
several players at once, enough to have caught the old deadlock (it hung 5
runs in 8). No test waits by sleep arithmetic: each waits for what it needs
to see (a line, the kernel no longer holding a signal), under a deadline
that only guards against a hang.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from relaxplayer.commands import SIGNAL_FADE
from relaxplayer.controls.signals import signal_controls
from tests.conftest import ROOT
from tests.test_player import CLI, Lines

STOP_WITHIN = 2.5  # seconds from the signals to "stopped": the documented 2 s, plus a margin
EXIT_WITHIN = 10.0  # seconds to exit after that (a loaded machine is slow to unload numpy)


class Recorder:
    """A ``Commands`` target that only records; ``arrived`` waits for ``n`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []
        self._new = threading.Condition()

    def _add(self, name: str, arg: float | None = None) -> None:
        with self._new:
            self.calls.append((name, arg))
            self._new.notify_all()

    def arrived(self, n: int, timeout: float = 10.0) -> list[tuple[str, float | None]]:
        with self._new:
            assert self._new.wait_for(lambda: len(self.calls) >= n, timeout), self.calls
            return list(self.calls)

    def toggle_pause(self) -> None:
        self._add("toggle_pause")

    def pause(self) -> None:
        self._add("pause")

    def resume(self) -> None:
        self._add("resume")

    def next_step(self) -> None:
        self._add("next_step")

    def restart_step(self) -> None:
        self._add("restart_step")

    def next_section(self) -> None:
        self._add("next_section")

    def change_volume(self, delta: float) -> None:
        self._add("change_volume", delta)

    def quit(self, fade: float = 0.5) -> None:
        self._add("quit", fade)


def test_each_signal_becomes_its_command_in_order() -> None:
    target = Recorder()
    sent = [signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
    with signal_controls(target):
        for sig in sent:
            os.kill(os.getpid(), sig)
        calls = target.arrived(len(sent))
    assert calls == [
        ("toggle_pause", None),
        ("next_step", None),
        ("quit", SIGNAL_FADE),
        ("quit", SIGNAL_FADE),  # SIGHUP: like SIGTERM, a fade and a clean exit
        ("quit", SIGNAL_FADE),
    ]


def test_a_second_sigint_quits_at_once_and_interrupts_on_leaving() -> None:
    target = Recorder()
    with pytest.raises(KeyboardInterrupt), signal_controls(target):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert target.arrived(2) == [("quit", SIGNAL_FADE), ("quit", 0.0)]


def test_no_toggle_is_lost_in_a_storm() -> None:
    target = Recorder()
    with signal_controls(target):
        for _ in range(101):
            os.kill(os.getpid(), signal.SIGUSR1)
        calls = target.arrived(101)
    assert calls == [("toggle_pause", None)] * 101


LOCKED = """
import os, signal
from relaxplayer.controls.signals import signal_controls
from relaxplayer.player import Player
from tests.conftest import make_mixer
from tests.test_player import SESSION

player = Player(make_mixer(SESSION), lambda: None)
with signal_controls(player):
    with player._wake._cond:  # what Event.wait/set hold for a moment, on the main thread
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGUSR1)
    assert player._wake.wait(10.0)  # the dispatcher's commands came once the lock was free
for _ in range(200):
    player.pull(256)
assert player.reason == "quit" and player._end_out is not None
print("ok")
"""


def test_a_signal_while_the_main_thread_holds_the_players_lock_cannot_deadlock() -> None:
    """The old handler called ``Player._send`` -> ``Event.set()`` on the main thread, which may
    hold that very Event's lock (a nested handler did, in a storm): it waited for itself
    forever. Now the handler does nothing at all. In a subprocess, so a hang is bounded."""
    result = subprocess.run(
        [sys.executable, "-c", LOCKED], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_the_target_is_told_while_the_main_thread_is_busy_elsewhere() -> None:
    """A playback still preparing runs no player loop: the dispatcher thread still delivers."""
    target = Recorder()
    with signal_controls(target):
        os.kill(os.getpid(), signal.SIGTERM)
        assert target.arrived(1, timeout=10.0) == [("quit", SIGNAL_FADE)]  # main thread blocked


def test_the_previous_handlers_and_wakeup_fd_come_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    with signal_controls(Recorder()):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before
    assert signal.set_wakeup_fd(-1) == -1  # nothing left pointing at a closed socket


# --- real signals to a real `play` ------------------------------------------------------


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(
        "title: Long\nbackground: rain\nsteps:\n  - section: A\n  - pause: 20s\n"
        "  - section: B\n  - pause: 5s\n"
    )
    return path


def _players(tmp_path: Path, n: int) -> list[Lines]:
    """``n`` players started at once, each returned once it plays (its handlers are in)."""
    script = _script(tmp_path)
    players = [
        Lines(
            subprocess.Popen(
                [*CLI, "play", str(script), "--output", "null", "--plain", "--voice", "none"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        for _ in range(n)
    ]
    try:
        for lines in players:
            lines.wait_for(lambda line: line.endswith("] pause"))
    except BaseException:
        for lines in players:
            lines.close()
        raise
    return players


def _pending(pid: int, sig: int) -> bool:
    """Whether the kernel still holds ``sig`` for ``pid`` (a second one now would merge with it)."""
    bit = 1 << (sig - 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("SigPnd", "ShdPnd") and int(value, 16) & bit:
            return True
    return False


def _delivered(pid: int, sig: int) -> None:
    deadline = time.monotonic() + 10.0
    while _pending(pid, sig):
        assert time.monotonic() < deadline, "the signal was never taken"
        time.sleep(0.001)


def _all_stop(players: list[Lines], sent: float) -> None:
    """Every player says "stopped" within ``STOP_WITHIN`` s of ``sent``, then exits 0."""
    try:
        for lines in players:
            left = max(sent + STOP_WITHIN + EXIT_WITHIN - time.monotonic(), 0.0)
            try:
                got = lines.proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running after the signals: {lines.all}")
            assert got == 0, lines.proc.stderr.read() if lines.proc.stderr else ""
    finally:
        for lines in players:
            lines.close()
    for lines in players:
        assert lines.all[-1].endswith("stopped"), lines.all
        assert lines.times[-1] - sent < STOP_WITHIN, lines.all  # faded out in time


def _send(pid: int, signals: list[int]) -> None:
    """From a shell loop, as a user's script would: each ``kill`` a few tens of microseconds
    after the last, so signals land while earlier ones are being handled (that is what
    deadlocked the old handlers: with these storms 4 players in 6 hung)."""
    script = "; ".join(f"kill -s {signal.Signals(sig).name[3:]} {pid}" for sig in signals)
    subprocess.run(["bash", "-c", script], check=True, timeout=30)


def test_three_toggles_then_sigterm_with_no_gap(tmp_path: Path) -> None:
    players = _players(tmp_path, 6)
    sent = time.monotonic()
    for lines in players:
        _send(lines.proc.pid, [signal.SIGUSR1] * 3 + [signal.SIGTERM])
    _all_stop(players, sent)


def test_two_sigterms_and_two_sighups(tmp_path: Path) -> None:
    players = _players(tmp_path, 6)
    sent = time.monotonic()
    for i, lines in enumerate(players):
        stop = signal.SIGTERM if i % 2 else signal.SIGHUP
        _send(lines.proc.pid, [stop, stop])
    _all_stop(players, sent)


def test_a_hundred_mixed_signals_at_once(tmp_path: Path) -> None:
    """Toggles, skips and stops in a seeded order; one SIGINT at most (two would mean 130)."""
    rng = random.Random(13)
    players = _players(tmp_path, 4)
    sent = time.monotonic()
    for lines in players:
        mix = [rng.choice([signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGHUP])]
        mix += rng.choices([signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGHUP], k=98)
        mix.insert(rng.randrange(len(mix)), signal.SIGINT)
        _send(lines.proc.pid, mix)
    _all_stop(players, sent)


def test_a_second_sigint_exits_130_at_once(tmp_path: Path) -> None:
    (lines,) = _players(tmp_path, 1)
    os.kill(lines.proc.pid, signal.SIGINT)
    _delivered(lines.proc.pid, signal.SIGINT)
    sent = time.monotonic()
    os.kill(lines.proc.pid, signal.SIGINT)
    try:
        assert lines.proc.wait(timeout=10) == 130
        assert time.monotonic() - sent < SIGNAL_FADE  # it did not wait for the fade
    finally:
        lines.close()


def test_101_toggles_10_ms_apart_end_paused(tmp_path: Path) -> None:
    """Each toggle is sent once the kernel has handed the previous one over (else two merge)."""
    (lines,) = _players(tmp_path, 1)
    pid = lines.proc.pid
    for _ in range(101):
        os.kill(pid, signal.SIGUSR1)
        _delivered(pid, signal.SIGUSR1)
        time.sleep(0.01)
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    _all_stop([lines], sent)
    states = [x for x in lines.all if x.endswith(("paused", "resumed"))]
    assert states and states[-1].endswith("paused"), lines.all


def test_off_the_main_thread_it_refuses_and_leaves_nothing_behind() -> None:
    errors: list[BaseException] = []

    def enter() -> None:
        try:
            with signal_controls(Recorder()):
                pass
        except ValueError as exc:
            errors.append(exc)

    before = threading.active_count()
    thread = threading.Thread(target=enter)
    thread.start()
    thread.join(10)
    assert len(errors) == 1 and threading.active_count() == before
