"""Draws player events on a stream: a calm status panel on a terminal, plain lines otherwise.

Everything shown comes from events, whose positions are frames actually heard,
so the words on screen change when the words are heard, not before.

A display never breaks playback: when its stream fails (closed stdout,
``| head -1``, a full disk) it goes quiet for good instead of raising on
every event.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import textwrap
from collections.abc import Callable
from typing import TextIO

from relaxplayer import events as ev
from relaxplayer.units import format_time

BAR_WIDTH = 28
PHASE_WORDS = {"inhale": "breathe in", "hold": "hold", "exhale": "breathe out", "rest": "rest"}
WORDY_STEPS = ("say", "play", "timer")  # steps whose label is words to show as the subtitle
SUBTITLE_LINES = 3  # a subtitle wraps onto up to this many lines; only beyond is it cut
GENERIC_TIMER = re.compile(r"timer [0-9][0-9a-z.]*( \(.*\))?")  # the label of a timer with no words

# What the audio libraries printed meanwhile, one line or None (outputs.chatter_summary): for -v
ChatterSummary = Callable[[], str | None]


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def remaining_seconds(frames_left: int, rate: int) -> int:
    """Whole seconds still to hear, rounded up: 0:01 shows until the very last frame."""
    return max(math.ceil(frames_left / rate - 1e-9), 0)


class _Steady:
    """Whole seconds that move only one way, so two close readings cannot flip the display.

    The heard position wobbles by a few milliseconds between reports and the
    length changes when narration is re-timed: a countdown (``direction`` -1)
    may go up, and a count (+1) down, only by more than a second (a seek, a
    longer timeline), never by jitter.
    """

    def __init__(self, direction: int) -> None:
        self.direction = direction
        self.shown: int | None = None

    def __call__(self, seconds: int) -> int:
        back = (self.shown - seconds) * self.direction if self.shown is not None else 2
        if back <= 0 or back > 1:
            self.shown = seconds
        assert self.shown is not None
        return self.shown

    def reset(self) -> None:
        self.shown = None


class _Quiet:
    """Writes that stop, silently, at the stream's first failure."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # BrokenPipeError, ENOSPC, "I/O operation on closed file"
            self.broken = True


class PlainDisplay:
    """One line per step, cue and state change, stamped with the heard time (logs, services, pipes)."""

    def __init__(
        self, stream: TextIO, verbose: bool = False, chatter: ChatterSummary | None = None
    ) -> None:
        self.stream = stream
        self.verbose = verbose
        self.chatter = chatter
        self.rate = 1
        self._out = _Quiet(stream)
        self._underruns = 0
        self._current_section = ""
        self._step_words = ""  # a timer's words, printed with the step: not again with its cue

    def __call__(self, event: ev.Event) -> None:
        if self._out.broken:
            return
        lines = [self._section(event), self._line(event)]
        if isinstance(event, ev.Finished):
            lines.append(self._chatter_line())
        stamp = f"[{format_time(event.position / self.rate)}]"
        text = "".join(f"{stamp} {line}\n" for line in lines if line)
        if text:
            self._out.write(text)

    def _chatter_line(self) -> str:
        return (self.chatter() or "") if self.verbose and self.chatter else ""

    def _section(self, event: ev.Event) -> str:
        """A heading line when the section being heard changes (sections take no time)."""
        if not isinstance(event, ev.StepStarted) or event.section == self._current_section:
            return ""
        self._current_section = event.section
        return f"== {event.section} ==" if event.section else ""

    def _line(self, event: ev.Event) -> str:
        if isinstance(event, ev.Started):
            self.rate = event.rate
            return f"{event.title} ({format_time(event.length / event.rate)}) on {event.output}"
        if isinstance(event, ev.StepStarted):
            self._step_words = event.label if event.kind == "timer" else ""
            if event.kind in ("say", "play"):
                return ""
            return f"{event.kind}: {event.label}" if event.label else event.kind
        if isinstance(event, ev.CueStarted):
            if event.text == self._step_words:
                self._step_words = ""
                return ""
            return event.text
        if isinstance(event, ev.Paused):
            return "paused"
        if isinstance(event, ev.Resumed):
            return "resumed"
        if isinstance(event, ev.VolumeChanged):
            return f"volume {event.volume:.0%}"
        if isinstance(event, ev.Notice):
            return event.message
        if isinstance(event, ev.Finished):
            return {"end": "finished", "quit": "stopped"}.get(event.reason, event.reason)
        if isinstance(event, ev.Tick) and self.verbose and event.underruns > self._underruns:
            self._underruns = event.underruns
            return f"underruns: {event.underruns}"
        return ""


class TerminalDisplay:
    """A few lines redrawn in place: title, section, subtitle, breathing guide or timer, progress.

    The subtitle wraps onto as many lines as it needs (up to ``SUBTITLE_LINES``);
    the panel keeps the tallest height it has drawn, so it never leaves a stale
    line behind when a shorter subtitle follows.
    """

    def __init__(
        self,
        stream: TextIO,
        verbose: bool = False,
        color: bool | None = None,
        chatter: ChatterSummary | None = None,
    ) -> None:
        self.stream = stream
        self.verbose = verbose
        self.color = use_color(stream) if color is None else color
        self.chatter = chatter
        self.rate = 1
        self.title = ""
        self.section = ""
        self.step = ""
        self.subtitle = ""
        self.output = ""
        self._out = _Quiet(stream)
        self._step: ev.StepStarted | None = None
        self._words_step = -1  # index of the step whose words the subtitle shows
        self._height = 0  # lines drawn last time (0: nothing to go back over)
        self._subtitle_lines = 1
        self._last: ev.Tick | None = None
        self._left = _Steady(-1)
        self._elapsed = _Steady(+1)
        self._timer_left = _Steady(-1)

    def __call__(self, event: ev.Event) -> None:
        if self._out.broken:
            return
        if isinstance(event, ev.Started):
            self.rate, self.title, self.output = event.rate, event.title, event.output
            self._out.write("\x1b[?25l")  # hide the cursor while we own the panel
        elif isinstance(event, ev.StepStarted):
            self.section, self.step, self._step = event.section, event.kind, event
            self._timer_left.reset()
            self._words_for(event)
        elif isinstance(event, ev.CueStarted) and event.kind in ("speech", "clip"):
            self.subtitle = event.text
            self._words_step = self._step.index if self._step is not None else -1
        elif isinstance(event, ev.Tick):
            self._last = event
            self._draw(event)
        elif isinstance(event, ev.Notice):
            self._message(event.message)
        elif isinstance(event, ev.Finished):
            if self._last is not None:
                self._draw(self._last)
            self._out.write("\x1b[?25h\n")
            if self.verbose and self.chatter and (summary := self.chatter()):
                self._out.write(summary + "\n")

    def _words_for(self, step: ev.StepStarted) -> None:
        """The subtitle for a step that begins: its own words, else its instruction, else none.

        A step without words (a pause, a plain timer) keeps the words of the step
        right before it, which say what to do in it ("Hold, and keep breathing.");
        reached any other way (skipping ahead, back, to another section) it clears
        them, and so does breathing, whose guide says what to do.
        """
        if step.kind in WORDY_STEPS and not GENERIC_TIMER.fullmatch(step.label):
            self.subtitle, self._words_step = step.label, step.index
        elif step.kind == "breathe" or self._words_step != step.index - 1:
            self.subtitle, self._words_step = "", -1

    def _style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _draw(self, tick: ev.Tick) -> None:
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        subtitle = _wrap(self.subtitle, width, SUBTITLE_LINES)
        self._subtitle_lines = max(self._subtitle_lines, len(subtitle))
        subtitle += [""] * (self._subtitle_lines - len(subtitle))
        lines = [
            self._style(_clip(self.title, width), "1"),
            self._style(" · ".join(p for p in (self.section, self.step) if p), "2"),
            *subtitle,
            self._guide_line(tick),
            self._progress_line(tick, width),
        ]
        up = f"\x1b[{self._height}F" if self._height else ""
        self._out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self._height = len(lines)

    def _guide_line(self, tick: ev.Tick) -> str:
        """The breathing guide, or a timer's countdown, or nothing."""
        if tick.phase and tick.phase_length > 0:
            return self._breath_line(tick)
        step = self._step
        if step is None or step.kind != "timer" or step.length <= 0:
            return ""
        left_frames = step.start + step.length - tick.position
        left = self._timer_left(remaining_seconds(left_frames, self.rate))
        frac = min(max(left_frames / step.length, 0.0), 1.0)
        bar = "█" * round(frac * BAR_WIDTH) + "░" * (BAR_WIDTH - round(frac * BAR_WIDTH))
        return f"{'timer':<12} {self._style(bar, '36')} {format_time(left)} left"

    def _breath_line(self, tick: ev.Tick) -> str:
        frac = min(tick.phase_elapsed / tick.phase_length, 1.0)
        fill = {"inhale": frac, "hold": 1.0, "exhale": 1.0 - frac, "rest": 0.0}[tick.phase]
        bar = "█" * round(fill * BAR_WIDTH) + "░" * (BAR_WIDTH - round(fill * BAR_WIDTH))
        count = int(tick.phase_length - tick.phase_elapsed) + 1
        return f"{PHASE_WORDS[tick.phase]:<12} {self._style(bar, '36')} {count}"

    def _progress_line(self, tick: ev.Tick, width: int) -> str:
        left = self._left(remaining_seconds(tick.length - tick.position, self.rate))
        elapsed = self._elapsed(max(tick.position, 0) // self.rate)
        state = "  [paused]" if tick.paused else ""
        extra = f"  underruns {tick.underruns}" if self.verbose and tick.underruns else ""
        tail = f" -{format_time(left)}  vol {tick.volume:.0%}{state}{extra}"
        head = f"{format_time(elapsed)} "
        bar_width = max(width - len(head) - len(tail) - 2, 10)
        done = round(bar_width * (tick.position / tick.length if tick.length else 1.0))
        done = min(max(done, 0), bar_width)
        return head + "━" * done + "─" * (bar_width - done) + tail

    def _message(self, text: str) -> None:
        up = f"\x1b[{self._height}F" if self._height else ""
        self._out.write(f"{up}\x1b[J{text}\n")  # clear the panel, the line, then redraw below
        self._height = 0
        if self._last is not None:
            self._draw(self._last)


def _wrap(text: str, width: int, most: int) -> list[str]:
    """Words onto lines of ``width``; only a text longer than ``most`` lines is cut, with "…"."""
    if not text:
        return []
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = _clip(lines[-1] + " …", width)
    return lines


def _clip(line: str, width: int) -> str:
    """Cut plain text to the terminal width (a styled line is left whole: it is short)."""
    if "\x1b" in line or len(line) <= width:
        return line
    return line[: width - 1] + "…"


def make_display(
    stream: TextIO,
    plain: bool = False,
    verbose: bool = False,
    chatter: ChatterSummary | None = None,
) -> PlainDisplay | TerminalDisplay:
    """The panel on a terminal, plain lines for pipes, logs and ``--plain``.

    ``chatter`` (e.g. ``outputs.chatter_summary``) is asked at the end, with
    ``verbose``, for a line about what the audio libraries printed meanwhile.
    """
    if plain or not stream.isatty():
        return PlainDisplay(stream, verbose, chatter)
    return TerminalDisplay(stream, verbose, chatter=chatter)
