"""Control without a terminal: a service manager, a cron job or a button script sends signals.

SIGTERM and SIGINT fade out within 2 s and exit 0 (a second SIGINT quits at
once); SIGUSR1 toggles pause; SIGUSR2 skips to the next step.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from relaxplayer.commands import SIGNAL_FADE
from relaxplayer.player import Player


@contextmanager
def signal_controls(player: Player) -> Iterator[None]:
    """Install the handlers for the duration of playback, then restore the previous ones."""
    interrupts = 0

    def on_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                raise KeyboardInterrupt
        player.quit(fade=SIGNAL_FADE)

    handlers = {
        signal.SIGTERM: on_stop,
        signal.SIGINT: on_stop,
        signal.SIGUSR1: lambda s, f: player.toggle_pause(),
        signal.SIGUSR2: lambda s, f: player.next_step(),
    }
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
