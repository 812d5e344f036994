"""What the service and remote tests share: a real playback factory, an event recorder, and
``serve`` as a real process."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from relaxplayer import events as ev
from relaxplayer import library
from relaxplayer.loader import load_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.outputs.null import NullOutput
from relaxplayer.player import Player
from relaxplayer.timeline import build_timeline

RATE = 8000
WAIT = 20.0  # seconds: generous bound for events that arrive in well under one


def make_playback(name: str, volume: float = 1.0, **options: object) -> Player:
    """The real chain: library -> loader -> timeline -> mixer -> Player -> null output."""
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


class Serve:
    """``relaxplayer serve`` over the null output, its stderr lines read by a thread so that
    ``expect`` can wait (bounded)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        command = [sys.executable, "-m", "relaxplayer", "serve", "--output", "null"]
        self.proc = subprocess.Popen(
            [*command, "--rate", str(RATE), *args],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def expect(self, start: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no line starting {start!r}; saw {self.seen}") from None
            self.seen.append(line)
            if line.startswith(start):
                return line

    def send(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(WAIT)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
