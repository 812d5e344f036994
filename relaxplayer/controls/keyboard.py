"""Single-key transport control on a terminal.

The terminal is put in cbreak mode (keys arrive at once, Ctrl-C still raises
SIGINT) and is always restored: on exit, on an exception, and on Ctrl-C.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from typing import TextIO

from relaxplayer.commands import Commands
from relaxplayer.player import VOLUME_STEP

KEYS = {
    " ": "toggle_pause",
    "n": "next_step",
    "\x1b[C": "next_step",
    "p": "restart_step",
    "\x1b[D": "restart_step",
    "s": "next_section",
    "+": "louder",
    "=": "louder",
    "-": "quieter",
    "q": "quit",
}
# Under 80 columns, so it never wraps on a small terminal or a phone's ssh client.
HELP = "space pause · n/→ next · p/← back · s section · +/- volume · q quit"


def dispatch(player: Commands, key: str) -> bool:
    """Send the command bound to ``key``; False if the key means nothing."""
    action = KEYS.get(key)
    if action is None:
        return False
    if action == "louder":
        player.change_volume(VOLUME_STEP)
    elif action == "quieter":
        player.change_volume(-VOLUME_STEP)
    else:
        getattr(player, action)()
    return True


class Keyboard:
    """Reads keys from a terminal in a daemon thread while the player runs (a context manager)."""

    def __init__(self, player: Commands, stream: TextIO | None = None) -> None:
        self.player = player
        self.stream = stream or sys.stdin
        self._fd = self.stream.fileno()
        self._saved: list | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="keyboard", daemon=True)

    @staticmethod
    def available(stream: TextIO | None = None) -> bool:
        stream = stream or sys.stdin
        try:
            return stream.isatty()
        except (ValueError, OSError):
            return False

    def __enter__(self) -> Keyboard:
        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=0.5)
        if self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(self._fd, 16).decode("utf-8", "ignore")
            for key in _split_keys(data):
                dispatch(self.player, key)


def _split_keys(data: str) -> list[str]:
    """Separate arrow-key escape sequences from plain characters."""
    keys, i = [], 0
    while i < len(data):
        if data.startswith("\x1b[", i) and i + 2 < len(data):
            keys.append(data[i : i + 3])
            i += 3
        else:
            keys.append(data[i])
            i += 1
    return keys
