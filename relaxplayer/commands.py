"""The one small command interface every control drives: keys, signals, a button, the remotes.

The player implements it, and so does a playback that is still being
prepared (a quit then cancels the preparation) and, later, the service. A
control only ever calls these methods; none reaches further in. Every method
only records the request (it may be called from any thread, but never from a
signal handler: see ``controls/signals.py``) and returns at once.
"""

from __future__ import annotations

from typing import Protocol

QUIT_FADE = 0.5  # seconds: 'q', a button's long press
SIGNAL_FADE = 1.5  # seconds: SIGTERM / SIGINT / SIGHUP, inside the documented 2 s


class Commands(Protocol):
    def toggle_pause(self) -> None:
        """Decided where the transport state lives (the player's audio thread), never from a
        possibly lagging copy: a burst of toggles is applied one by one (101 end paused)."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def next_step(self) -> None: ...

    def restart_step(self) -> None: ...

    def next_section(self) -> None: ...

    def change_volume(self, delta: float) -> None:
        """``delta`` in linear gain (0.1 is one step of the + key)."""
        ...

    def quit(self, fade: float = QUIT_FADE) -> None:
        """Fade out over ``fade`` seconds, then stop; ``0`` stops at once (a second Ctrl-C).

        A later quit may shorten a fade under way, never lengthen it; no pause,
        resume or seek cancels a quit.
        """
        ...
