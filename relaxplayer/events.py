"""What the player tells its listeners (display, history, remotes), as plain data.

Events carry positions in frames of the *heard* audio (what the output has
actually played), so a listener never runs ahead of the sound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Event:
    """Base: ``position`` is the heard position in session frames."""

    position: int


@dataclass(frozen=True)
class Started(Event):
    title: str
    length: int
    rate: int
    output: str


@dataclass(frozen=True)
class StepStarted(Event):
    index: int
    kind: str
    label: str
    section: str
    start: int
    length: int


@dataclass(frozen=True)
class CueStarted(Event):
    """A cue with words (narration, a breathing prompt) begins to be heard."""

    kind: str
    text: str


@dataclass(frozen=True)
class Tick(Event):
    """Regular position report (at most 10 a second)."""

    length: int
    paused: bool
    volume: float
    underruns: int
    phase: str = ""  # breathing phase being heard (inhale, hold, exhale, rest), if any
    phase_elapsed: float = 0.0  # seconds into that phase
    phase_length: float = 0.0  # seconds


@dataclass(frozen=True)
class Paused(Event):
    pass


@dataclass(frozen=True)
class Resumed(Event):
    pass


@dataclass(frozen=True)
class VolumeChanged(Event):
    volume: float


@dataclass(frozen=True)
class Notice(Event):
    """Something worth a line: a device retry, a skipped voice."""

    message: str


@dataclass(frozen=True)
class Finished(Event):
    """Playback ended: ``reason`` is ``end``, ``quit`` or ``error``."""

    reason: str


class Listener(Protocol):
    def __call__(self, event: Event) -> None: ...
