"""``Session`` -> ``Timeline``: every sound placed on an exact frame, with its gain envelope.

Timing rules (docs/format.md states them for users; tests pin them):

- Steps follow one another. ``say``/``play`` last as long as their clip plus the
  narration gap; ``pause``, ``timer`` and ``breathe`` last exactly their duration;
  ``section`` and ``bell`` take no time (a bell rings over what follows).
- Step boundaries are whole frames, so a session made only of pauses, timers and
  breathing lasts exactly the sum of their durations, to the frame.
- Each breathing phase's cue starts on the frame its phase starts.
- The session ends when the last step ends (a bell as the very last step may
  ring out), then the background lingers for ``end.linger``. The master fade
  covers the last ``end.fade_out`` seconds of the whole session, but it never
  lies over words: it starts no earlier than the end of the last spoken line
  or clip, and the session grows to make room for it. ``fade_out: 0s`` still
  ends on a ``END_RAMP`` ramp, never a cut.
- A two-sided timer's instruction starts ``SWITCH_PAUSE`` after the soft bell
  that marks the switch, so the bell's strike is heard on its own.

Nothing here decodes audio: the length of speech and clips comes from the
injected ``measure`` callable, so this module stays pure and fast to test.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from relaxplayer.model import (
    Bell,
    Breathe,
    Pause,
    Play,
    Repeat,
    Say,
    Section,
    Session,
    Step,
    Timer,
)
from relaxplayer.units import db_to_gain, frames

# Ducking ramps (seconds): start lowering the background just before the voice,
# let it come back slowly after, and do not bounce up between close phrases.
DUCK_ATTACK = 0.4
DUCK_RELEASE = 1.0
DUCK_BRIDGE = 2.5

END_RAMP = 0.05  # seconds: the shortest end fade (fade_out: 0s), so the sound never cuts off
BELL_CLEARANCE = 1.5  # seconds: no spoken line should start this close to a bell's strike
SWITCH_PAUSE = 2.0  # seconds from the switch-sides bell to the words for the next side

BREATH_WORDS = {"inhale": "Breathe in", "hold": "Hold", "exhale": "Breathe out"}
Envelope = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class SoundRef:
    """What to play, resolved to samples by the mixer's sound bank.

    kind: ``bell`` (name or path), ``breath`` (phase, with ``seconds`` = phase
    length), ``speech`` (text to speak), ``clip`` (a file).
    """

    kind: str
    name: str | Path
    seconds: float = 0.0


@dataclass(frozen=True)
class Cue:
    """One sound at one place. ``start`` and ``length`` are frames."""

    start: int
    length: int
    sound: SoundRef
    step: int
    gain: float = 1.0
    text: str = ""
    narration: bool = False

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Phase:
    """A breathing phase, for the display's guide. Frames."""

    start: int
    length: int
    name: str


@dataclass(frozen=True)
class StepSpan:
    """A step as the listener experiences it: where it starts and how long it is (frames)."""

    index: int
    kind: str
    start: int
    length: int
    label: str
    section: str
    phases: tuple[Phase, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class BackgroundPlan:
    """The ambience bed: its sound, level, fade-in (frames) and ducking envelope."""

    sound: str | Path
    volume: float
    fade_in: int
    duck: Envelope


@dataclass(frozen=True)
class Timeline:
    """Everything the mixer needs, and everything ``show`` and the display print."""

    title: str
    rate: int
    cues: tuple[Cue, ...]
    steps: tuple[StepSpan, ...]
    steps_end: int
    length: int
    master: Envelope
    background: BackgroundPlan | None = None

    @property
    def seconds(self) -> float:
        return self.length / self.rate

    @property
    def fade_start(self) -> int:
        """Frame where the master fade-out begins: after the last words, ``end.fade_out`` from the end."""
        return self.master[-2][0] if len(self.master) > 2 else self.length

    def step_at(self, frame: int) -> StepSpan | None:
        """The step playing at ``frame`` (the last one that started; zero-length steps excluded)."""
        current = None
        for span in self.steps:
            if span.start > frame:
                break
            if span.length > 0 or span.start == frame:
                current = span
        return current

    def same_place(self, frame: int, other: Timeline) -> int:
        """Where ``frame`` of this timeline lies in ``other``, a re-measured one of the same session.

        Same step, same offset into it: when lines before ``frame`` get their
        real lengths (synthesized after ``--start-at``), the listener stays put.
        """
        span = self.step_at(frame)
        if span is None or span.index >= len(other.steps):
            return min(frame, other.length)
        target = other.steps[span.index].start + (frame - span.start)
        return max(0, min(target, other.length))


Measure = Callable[[SoundRef], int]


@dataclass
class _Builder:
    """Walks the steps once, keeping the cursor (frames) and what it placed."""

    session: Session
    rate: int
    measure: Measure
    cursor: int = 0
    anchor: int = 0  # frame where the current run of timed steps began
    elapsed: float = 0.0  # seconds of timed steps since ``anchor``
    section: str = ""
    cues: list[Cue] = field(default_factory=list)
    steps: list[StepSpan] = field(default_factory=list)
    bells: list[Cue] = field(default_factory=list)  # from bell steps: the final ones may ring out

    def at(self, seconds: float) -> int:
        """The frame ``seconds`` after the cursor, rounded from the run's start.

        Rounding cumulative seconds (not each step) is what keeps a run of
        timed steps exactly as long as the sum of their durations.
        """
        return self.anchor + frames(self.elapsed + seconds, self.rate)

    def advance_seconds(self, seconds: float) -> None:
        self.elapsed += seconds
        self.cursor = self.anchor + frames(self.elapsed, self.rate)

    def advance_frames(self, n: int) -> None:
        self.cursor += n
        self.anchor, self.elapsed = self.cursor, 0.0

    def span(self, kind: str, start: int, length: int, label: str, phases=()) -> int:
        index = len(self.steps)
        self.steps.append(StepSpan(index, kind, start, length, label, self.section, tuple(phases)))
        return index

    def cue(self, start: int, sound: SoundRef, step: int, **kw: object) -> Cue:
        cue = Cue(start=start, length=self.measure(sound), sound=sound, step=step, **kw)  # type: ignore[arg-type]
        self.cues.append(cue)
        return cue

    def narrate(self, sound: SoundRef, text: str, kind: str, gain: float = 1.0) -> None:
        step = self.span(kind, self.cursor, 0, text)
        cue = self.cue(self.cursor, sound, step, gain=gain, text=text, narration=True)
        length = cue.length + frames(self.session.narration_gap, self.rate)
        self.steps[step] = _with_length(self.steps[step], length)
        self.advance_frames(length)


def build_timeline(session: Session, rate: int, measure: Measure) -> Timeline:
    """Place every step and cue of ``session`` at ``rate`` frames per second."""
    b = _Builder(session, rate, measure)
    for step in _flatten(session.steps):
        _place(b, step)
    steps_end = b.cursor
    content_end = max([steps_end] + [c.end for c in b.bells if c.start == steps_end])
    fade = max(frames(session.end.fade_out, rate), frames(END_RAMP, rate), 1)
    words_end = max((c.end for c in b.cues if c.narration), default=0)
    length = max(
        content_end + frames(session.end.linger, rate), words_end + fade if words_end else 0
    )
    master = _fade_out(length, fade)
    background = _background(session, b.cues, rate)
    cues = tuple(sorted(b.cues, key=lambda c: (c.start, c.step)))
    return Timeline(
        session.title, rate, cues, tuple(b.steps), steps_end, length, master, background
    )


def _flatten(steps: tuple[Step, ...]) -> list[Step]:
    """Expand ``repeat`` blocks into a flat list of steps."""
    out: list[Step] = []
    for step in steps:
        if isinstance(step, Repeat):
            inner = _flatten(step.steps)
            for _ in range(step.count):
                out.extend(inner)
        else:
            out.append(step)
    return out


def _place(b: _Builder, step: Step) -> None:
    if isinstance(step, Section):
        b.section = step.title
        b.span("section", b.cursor, 0, step.title)
    elif isinstance(step, Say):
        b.narrate(SoundRef("speech", step.text), step.text, "say")
    elif isinstance(step, Play):
        b.narrate(SoundRef("clip", step.path), step.text, "play", gain=step.volume)
    elif isinstance(step, Pause):
        b.span("pause", b.cursor, b.at(step.duration) - b.cursor, "")
        b.advance_seconds(step.duration)
    elif isinstance(step, Bell):
        label = f"bell: {_name(step.sound)}"
        index = b.span("bell", b.cursor, 0, label)
        cue = b.cue(b.cursor, SoundRef("bell", step.sound), index, gain=step.volume, text=label)
        b.bells.append(cue)
    elif isinstance(step, Breathe):
        _breathe(b, step)
    elif isinstance(step, Timer):
        _timer(b, step)


def _breathe(b: _Builder, step: Breathe) -> None:
    """Cycles of phases; phase starts come from cumulative seconds so nothing drifts."""
    start = b.cursor
    label = f"breathe {step.name or _pattern_label(step)} × {step.cycles}"
    phases: list[Phase] = []
    elapsed = 0.0
    plan = [
        (name, seconds)
        for name in ("inhale", "hold", "exhale", "rest")
        if (seconds := getattr(step.pattern, name)) > 0
    ]
    for _ in range(step.cycles):
        for name, seconds in plan:
            at = b.at(elapsed)
            elapsed += seconds
            phases.append(Phase(at, b.at(elapsed) - at, name))
    index = b.span("breathe", start, b.at(elapsed) - start, label, phases)
    for phase in phases:
        sound = _breath_sound(step.cue, phase, b.rate)
        if sound is not None:
            b.cue(
                phase.start,
                sound,
                index,
                text=BREATH_WORDS.get(phase.name, ""),
                narration=sound.kind == "speech",
            )
    b.advance_seconds(elapsed)


def _breath_sound(cue: str, phase: Phase, rate: int) -> SoundRef | None:
    if phase.name == "rest" or cue == "none":
        return None
    if cue == "tones":
        return SoundRef("breath", phase.name, phase.length / rate)
    if cue == "voice":
        return SoundRef("speech", BREATH_WORDS[phase.name])
    return SoundRef("bell", "soft") if phase.name != "hold" else None


def _timer(b: _Builder, step: Timer) -> None:
    """Once per side: a soft bell between sides, the instruction, bells every ``every``."""
    sides = step.sides or ("",)
    for n, side in enumerate(sides):
        start = b.cursor
        text = step.say.replace("{side}", side)
        label = text or f"timer {_seconds_label(step.duration)}" + (f" ({side})" if side else "")
        index = b.span("timer", start, b.at(step.duration) - start, label)
        at = start
        if n > 0:
            b.cue(at, SoundRef("bell", "soft"), index, gain=0.8)
            at += frames(SWITCH_PAUSE, b.rate)
        if text:
            b.cue(at, SoundRef("speech", text), index, text=text, narration=True)
        k = 1
        while step.every > 0 and step.every * k < step.duration - 1e-9:
            b.cue(b.at(step.every * k), SoundRef("bell", step.bell), index, gain=0.7)
            k += 1
        b.advance_seconds(step.duration)


def _background(session: Session, cues: list[Cue], rate: int) -> BackgroundPlan | None:
    bg = session.background
    if bg is None:
        return None
    fade = max(frames(bg.fade_in, rate), 1)
    duck = db_to_gain(-bg.duck_db)
    intervals = _merge(
        [(c.start - frames(DUCK_ATTACK, rate), c.end) for c in cues if c.narration],
        frames(DUCK_BRIDGE, rate),
    )
    release = frames(DUCK_RELEASE, rate)
    attack = frames(DUCK_ATTACK, rate)
    points: list[tuple[int, float]] = [(0, 1.0)]
    for lo, hi in intervals:
        lo = max(lo, points[-1][0])
        points += [(lo, 1.0), (min(lo + attack, hi), duck), (hi, duck), (hi + release, 1.0)]
    return BackgroundPlan(bg.sound, bg.volume, fade, tuple(points))


def lines_near_bells(timeline: Timeline, seconds: float = BELL_CLEARANCE) -> list[tuple[Cue, Cue]]:
    """Every (line, bell) where a spoken line or clip starts within ``seconds`` of the bell's strike.

    A bell's strike is its loudest moment: words that start under it are hard
    to hear and the bell loses its meaning as a signal. ``validate`` warns.
    """
    near = frames(seconds, timeline.rate)
    bells = [c for c in timeline.cues if c.sound.kind == "bell"]  # sorted by start, like the cues
    starts = [c.start for c in bells]
    found = []
    for line in (c for c in timeline.cues if c.narration):
        lo = bisect.bisect_right(starts, line.start - near)
        hi = bisect.bisect_left(starts, line.start + near)
        found += [(line, bell) for bell in bells[lo:hi]]
    return found


def _merge(intervals: list[tuple[int, int]], bridge: int) -> list[tuple[int, int]]:
    """Join intervals closer than ``bridge`` frames, so the bed does not pump between phrases."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo - merged[-1][1] < bridge:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _fade_out(length: int, fade: int) -> Envelope:
    return ((0, 1.0), (max(length - fade, 0), 1.0), (length, 0.0))


def _with_length(span: StepSpan, length: int) -> StepSpan:
    return StepSpan(
        span.index, span.kind, span.start, length, span.label, span.section, span.phases
    )


def _name(sound: str | Path) -> str:
    return sound.name if isinstance(sound, Path) else sound


def _pattern_label(step: Breathe) -> str:
    p = step.pattern
    parts = [
        f"{getattr(p, n):g}" for n in ("inhale", "hold", "exhale", "rest") if getattr(p, n) > 0
    ]
    return "-".join(parts)


def _seconds_label(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else f"{seconds / 60:g}m"
