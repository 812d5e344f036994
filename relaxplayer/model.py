"""A session as plain frozen data: what the loader produces and the timeline reads.

All durations are seconds (float) and all levels linear gains, already parsed
and validated; nothing here knows about YAML or audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BELLS = ("bowl", "chime", "soft")
AMBIENCES = ("rain", "ocean", "pink-noise", "brown-noise", "white-noise")
BREATH_CUES = ("tones", "voice", "bell", "none")
VOICE_ENGINES = ("auto", "piper", "espeak", "none")


@dataclass(frozen=True)
class Mark:
    """Where something was written: for error messages (1-based line and column)."""

    file: str
    line: int
    column: int


@dataclass(frozen=True)
class Voice:
    """The narration voice; ``engine='auto'`` prefers Piper, then espeak-ng."""

    engine: str = "auto"
    model: Path | None = None
    speed: float = 1.0
    language: str = "en"
    mark: Mark | None = field(default=None, compare=False)  # the voice: (or language:) key


@dataclass(frozen=True)
class Background:
    """Ambience under the whole session. ``sound`` is a built-in name or a file path."""

    sound: str | Path
    volume: float = 0.12  # 14 LU or more under the voice, every built-in bed (docs/listening.md)
    duck_db: float = 8.0
    fade_in: float = 5.0


@dataclass(frozen=True)
class End:
    """How a session ends. ``linger`` keeps the background going: a sleep timer."""

    fade_out: float = 10.0
    linger: float = 0.0
    fade_out_mark: Mark | None = field(
        default=None, compare=False
    )  # where it was written, if it was


@dataclass(frozen=True)
class BreathPattern:
    """Phase lengths in seconds; a zero phase is skipped."""

    inhale: float
    hold: float = 0.0
    exhale: float = 0.0
    rest: float = 0.0

    @property
    def cycle(self) -> float:
        return self.inhale + self.hold + self.exhale + self.rest


BREATH_PRESETS: dict[str, BreathPattern] = {
    "box": BreathPattern(inhale=4, hold=4, exhale=4, rest=4),
    "4-7-8": BreathPattern(inhale=4, hold=7, exhale=8),
    "coherent": BreathPattern(inhale=5.5, exhale=5.5),
    "relax": BreathPattern(inhale=4, exhale=6),
}


@dataclass(frozen=True)
class Step:
    """Base of every step: where it was written, for messages and the display."""

    mark: Mark | None = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True)
class Section(Step):
    """A heading: takes no time; names the part of the session that follows."""

    title: str


@dataclass(frozen=True)
class Say(Step):
    """Narration spoken by the session's voice."""

    text: str


@dataclass(frozen=True)
class Play(Step):
    """A recorded clip (the user's own voice, say), with optional subtitle text."""

    path: Path
    text: str = ""
    volume: float = 1.0


@dataclass(frozen=True)
class Pause(Step):
    """Silence (over the background) for a while."""

    duration: float


@dataclass(frozen=True)
class Bell(Step):
    """A bell that rings over whatever follows: takes no time itself."""

    sound: str | Path = "bowl"
    volume: float = 1.0


@dataclass(frozen=True)
class Breathe(Step):
    """A breathing drill: ``cycles`` whole cycles of ``pattern``, cued by ``cue``."""

    pattern: BreathPattern
    cycles: int
    cue: str = "tones"
    name: str = ""


@dataclass(frozen=True)
class Timer(Step):
    """A timed activity: optional spoken instruction, then ``duration`` with bells every ``every``.

    With ``sides``, the whole thing runs once per side with ``{side}`` filled in
    and a soft "switch sides" cue between.
    """

    duration: float
    say: str = ""
    sides: tuple[str, ...] = ()
    every: float = 0.0
    bell: str | Path = "soft"


@dataclass(frozen=True)
class Repeat(Step):
    """Its steps, ``count`` times over."""

    count: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Session:
    """A whole validated session script."""

    title: str
    steps: tuple[Step, ...]
    source: Path | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    language: str = "en"
    voice: Voice = Voice()
    narration_gap: float = 1.0
    background: Background | None = None
    end: End = End()
