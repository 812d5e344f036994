"""Draws player events on a stream: a calm status panel on a terminal, plain lines otherwise.

Everything shown comes from events, whose positions are frames actually heard,
so the words on screen change when the words are heard, not before.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from relaxplayer import events as ev
from relaxplayer.units import format_time

BAR_WIDTH = 28
PHASE_WORDS = {"inhale": "breathe in", "hold": "hold", "exhale": "breathe out", "rest": "rest"}


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class PlainDisplay:
    """One line per step, cue and state change, stamped with the heard time (logs, services, pipes)."""

    def __init__(self, stream: TextIO, verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        self.rate = 1
        self._underruns = 0
        self._current_section = ""

    def __call__(self, event: ev.Event) -> None:
        lines = [self._section(event), self._line(event)]
        stamp = f"[{format_time(event.position / self.rate)}]"
        text = "".join(f"{stamp} {line}\n" for line in lines if line)
        if text:
            self.stream.write(text)
            self.stream.flush()

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
        if isinstance(event, ev.StepStarted) and event.kind not in ("say", "play"):
            return f"{event.kind}: {event.label}" if event.label else event.kind
        if isinstance(event, ev.CueStarted):
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
    """A few lines redrawn in place: title, section, subtitle, breathing guide, progress."""

    LINES = 5

    def __init__(self, stream: TextIO, verbose: bool = False, color: bool | None = None) -> None:
        self.stream = stream
        self.verbose = verbose
        self.color = use_color(stream) if color is None else color
        self.rate = 1
        self.title = ""
        self.section = ""
        self.step = ""
        self.subtitle = ""
        self.output = ""
        self._drawn = False
        self._last: ev.Tick | None = None

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Started):
            self.rate, self.title, self.output = event.rate, event.title, event.output
            self.stream.write("\x1b[?25l")  # hide the cursor while we own the panel
        elif isinstance(event, ev.StepStarted):
            self.section, self.step = event.section, event.kind
            if event.kind in ("say", "play", "timer"):
                self.subtitle = event.label
            elif event.kind == "breathe":  # the guide below says what to do; old words would not
                self.subtitle = ""
        elif isinstance(event, ev.CueStarted) and event.kind in ("speech", "clip"):
            self.subtitle = event.text
        elif isinstance(event, ev.Tick):
            self._last = event
            self._draw(event)
        elif isinstance(event, ev.Notice):
            self._message(event.message)
        elif isinstance(event, ev.Finished):
            if self._last is not None:
                self._draw(self._last)
            self.stream.write("\x1b[?25h\n")
            self.stream.flush()

    def _style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _draw(self, tick: ev.Tick) -> None:
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        lines = [
            self._style(self.title, "1"),
            self._style(" · ".join(p for p in (self.section, self.step) if p), "2"),
            self.subtitle,
            self._breath_line(tick),
            self._progress_line(tick, width),
        ]
        up = f"\x1b[{self.LINES}F" if self._drawn else ""
        body = "".join(f"\x1b[2K{_clip(line, width)}\n" for line in lines)
        self.stream.write(up + body)
        self.stream.flush()
        self._drawn = True

    def _breath_line(self, tick: ev.Tick) -> str:
        if not tick.phase or tick.phase_length <= 0:
            return ""
        frac = min(tick.phase_elapsed / tick.phase_length, 1.0)
        fill = {"inhale": frac, "hold": 1.0, "exhale": 1.0 - frac, "rest": 0.0}[tick.phase]
        bar = "█" * round(fill * BAR_WIDTH) + "░" * (BAR_WIDTH - round(fill * BAR_WIDTH))
        count = int(tick.phase_length - tick.phase_elapsed) + 1
        return f"{PHASE_WORDS[tick.phase]:<12} {self._style(bar, '36')} {count}"

    def _progress_line(self, tick: ev.Tick, width: int) -> str:
        elapsed, total = tick.position / self.rate, tick.length / self.rate
        state = "  [paused]" if tick.paused else ""
        extra = f"  underruns {tick.underruns}" if self.verbose and tick.underruns else ""
        tail = f" -{format_time(max(total - elapsed, 0))}  vol {tick.volume:.0%}{state}{extra}"
        head = f"{format_time(elapsed)} "
        bar_width = max(width - len(head) - len(tail) - 2, 10)
        done = round(bar_width * (elapsed / total if total else 1.0))
        return head + "━" * done + "─" * (bar_width - done) + tail

    def _message(self, text: str) -> None:
        up = f"\x1b[{self.LINES}F" if self._drawn else ""
        self.stream.write(f"{up}\x1b[2K{text}\n")
        self._drawn = False
        if self._last is not None:
            self._draw(self._last)


def _clip(line: str, width: int) -> str:
    """Cut plain text to the terminal width (styled lines are short enough already)."""
    return line if "\x1b" in line or len(line) <= width else line[: width - 1] + "…"


def make_display(
    stream: TextIO, plain: bool = False, verbose: bool = False
) -> PlainDisplay | TerminalDisplay:
    """The panel on a terminal, plain lines for pipes, logs and ``--plain``."""
    if plain or not stream.isatty():
        return PlainDisplay(stream, verbose)
    return TerminalDisplay(stream, verbose)
