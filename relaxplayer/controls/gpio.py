"""One physical button on a GPIO pin, through gpiozero (the optional ``pi`` extra).

A short press plays or pauses (when nothing plays, the default session); a
long press (at least ``hold`` seconds) stops with a fade. The stop happens
when the hold time is reached, so the sleeper feels it work without letting
go; the release that follows is then not also a short press: ``when_held``
marks the press as held and ``when_released`` ignores a held press (the
``was_held`` pattern from gpiozero's recipes).

On a machine without GPIO (a laptop) or without gpiozero, ``open_button``
says so once through ``warn`` and returns None; the service carries on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol

from relaxplayer.commands import QUIT_FADE

INSTALL = "pip install 'relaxplayer[pi]'"


class ButtonTarget(Protocol):
    """What the button drives: the service (or anything with these methods)."""

    @property
    def idle(self) -> bool: ...

    def play_default(self) -> None: ...

    def toggle_pause(self) -> None: ...

    def quit(self, fade: float = QUIT_FADE) -> None: ...


class GpioButton:
    """Binds a gpiozero ``Button`` to a target. ``close`` releases the pin."""

    def __init__(
        self,
        target: ButtonTarget,
        pin: int | str,
        *,
        hold: float = 2.0,
        pull_up: bool = True,
        bounce: float | None = 0.05,
        fade: float = QUIT_FADE,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import Button

        self.target = target
        self.fade = fade
        self.was_held = False
        self.presses = 0  # short presses acted on (for logs and tests)
        self.holds = 0
        self._button = Button(
            pin, pull_up=pull_up, bounce_time=bounce, hold_time=hold, pin_factory=pin_factory
        )
        self._button.when_pressed = self._pressed
        self._button.when_held = self._held
        self._button.when_released = self._released

    def _pressed(self) -> None:
        self.was_held = False

    def _held(self) -> None:
        self.was_held = True
        self.holds += 1
        if not self.target.idle:
            self.target.quit(fade=self.fade)

    def _released(self) -> None:
        if self.was_held:
            self.was_held = False
            return
        self.presses += 1
        if self.target.idle:
            self.target.play_default()
        else:
            self.target.toggle_pause()

    def close(self) -> None:
        self._button.close()

    def __enter__(self) -> GpioButton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_button(
    target: ButtonTarget,
    pin: int | str,
    *,
    hold: float = 2.0,
    pull_up: bool = True,
    bounce: float | None = 0.05,
    warn: Callable[[str], None] = lambda message: None,
    pin_factory: Any = None,
) -> GpioButton | None:
    """The button, or None (said once through ``warn``) when this machine has no usable GPIO."""
    try:
        import gpiozero  # noqa: F401
        from gpiozero.exc import GPIOZeroError, GPIOZeroWarning
    except ImportError:
        warn(f"no button: gpiozero is not installed ({INSTALL}); carrying on without it")
        return None
    try:
        with warnings.catch_warnings():  # gpiozero warns about each pin library it tries
            warnings.simplefilter("ignore", GPIOZeroWarning)
            return GpioButton(
                target,
                pin,
                hold=hold,
                pull_up=pull_up,
                bounce=bounce,
                pin_factory=pin_factory,
            )
    except (GPIOZeroError, ImportError, OSError, RuntimeError) as exc:
        warn(f"no button: this machine has no usable GPIO ({exc}); carrying on without it")
        return None
