"""The GPIO button through gpiozero's MockFactory: real gpiozero Button, mock pins."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("gpiozero")

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from relaxplayer.controls.gpio import GpioButton, open_button

PIN = 17


class Target:
    """Records what the button asked for; ``held`` is set when a long press acted."""

    def __init__(self, idle: bool = False) -> None:
        self.idle = idle
        self.calls: list[object] = []
        self.held = threading.Event()

    def play_default(self) -> None:
        self.calls.append("play_default")
        self.idle = False

    def toggle_pause(self) -> None:
        self.calls.append("toggle_pause")

    def quit(self, fade: float = 0.5) -> None:
        self.calls.append(("quit", fade))
        self.held.set()


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    try:
        yield Device.pin_factory
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = previous


def press(factory: MockFactory) -> None:
    factory.pin(PIN).drive_low()  # pull-up: the button shorts the pin to ground


def release(factory: MockFactory) -> None:
    factory.pin(PIN).drive_high()


def test_short_press_toggles_pause(factory: MockFactory) -> None:
    target = Target()
    with GpioButton(target, PIN, hold=2.0, bounce=None):
        press(factory)
        release(factory)
        press(factory)
        release(factory)
    assert target.calls == ["toggle_pause", "toggle_pause"]


def test_short_press_when_idle_plays_the_default_session(factory: MockFactory) -> None:
    target = Target(idle=True)
    with GpioButton(target, PIN, hold=2.0, bounce=None):
        press(factory)
        release(factory)
        press(factory)
        release(factory)
    assert target.calls == ["play_default", "toggle_pause"]


def test_long_press_stops_with_a_fade_and_is_not_also_a_short_press(factory: MockFactory) -> None:
    target = Target()
    with GpioButton(target, PIN, hold=0.05, bounce=None, fade=3.0) as button:
        press(factory)
        assert target.held.wait(5.0), "the hold never fired"
        release(factory)
        assert target.calls == [("quit", 3.0)] and button.presses == 0 and button.holds == 1
        press(factory)  # the next press is short again
        release(factory)
    assert target.calls == [("quit", 3.0), "toggle_pause"]


def test_long_press_when_idle_does_nothing(factory: MockFactory) -> None:
    target = Target(idle=True)
    with GpioButton(target, PIN, hold=0.05, bounce=None) as button:
        press(factory)
        nap = threading.Event()  # never set: a bounded wait
        for _ in range(500):  # wait (bounded) for gpiozero's hold thread
            if button.holds:
                break
            nap.wait(0.01)
        release(factory)
    assert button.holds == 1 and target.calls == []


def test_open_button_with_the_mock_factory(factory: MockFactory) -> None:
    said: list[str] = []
    button = open_button(Target(), PIN, warn=said.append, bounce=None)
    assert button is not None and said == []
    button.close()


def test_no_gpio_here_says_so_once_and_carries_on() -> None:
    previous = Device.pin_factory
    Device.pin_factory = None  # let gpiozero look for real GPIO: there is none on a CI machine
    said: list[str] = []
    try:
        if (b := open_button(Target(), PIN, warn=said.append)) is not None:
            b.close()
            pytest.skip("this machine has real GPIO")
    finally:
        Device.pin_factory = previous
    assert len(said) == 1 and said[0].startswith("no button: this machine has no usable GPIO")


def test_without_gpiozero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    said: list[str] = []
    assert open_button(Target(), PIN, warn=said.append) is None
    assert said == [
        "no button: gpiozero is not installed (pip install 'relaxplayer[pi]'); "
        "carrying on without it"
    ]
