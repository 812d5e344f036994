"""What the display draws from player events: the panel on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from relaxplayer import events as ev
from relaxplayer.display import BAR_WIDTH, PlainDisplay, TerminalDisplay

RATE = 1000


def started() -> ev.Started:
    return ev.Started(0, "Evening", 60 * RATE, RATE, "null")


def step(kind: str, label: str, section: str, at: int = 0) -> ev.StepStarted:
    return ev.StepStarted(at, 1, kind, label, section, at, 10 * RATE)


def test_the_breathing_guide_grows_on_inhale_holds_and_shrinks_on_exhale() -> None:
    stream = io.StringIO()
    display = TerminalDisplay(stream, color=False)
    display(started())
    display(step("say", "Let your shoulders drop.", "Arrive"))
    display(step("breathe", "breathe 4-7-8 × 4", "Arrive", 5 * RATE))
    bars = []
    for phase, elapsed, length in [("inhale", 1.0, 4.0), ("hold", 3.0, 7.0), ("exhale", 6.0, 8.0)]:
        display(ev.Tick(6 * RATE, 60 * RATE, False, 0.8, 0, phase, elapsed, length))
        panel = stream.getvalue().rsplit("\x1b[5F", 1)[-1].replace("\x1b[2K", "")
        line = next(ln for ln in panel.split("\n") if "█" in ln or "░" in ln)
        bars.append((line.split()[0:2], line.count("█"), line.split()[-1]))
    assert bars[0] == (["breathe", "in"], round(BAR_WIDTH / 4), "4")  # a quarter in, 3 s + 1 left
    assert bars[1] == (["hold", "████████████████████████████"], BAR_WIDTH, "5")
    assert bars[2][1] == round(BAR_WIDTH / 4) and bars[2][2] == "3"  # shrinking: a quarter left
    assert "Let your shoulders drop." not in panel  # words of a line long gone are cleared
    assert "vol 80%" in panel and "Evening" in panel and "Arrive · breathe" in panel


def test_plain_lines_carry_the_heard_time_sections_and_cues() -> None:
    stream = io.StringIO()
    display = PlainDisplay(stream)
    display(started())
    display(step("pause", "", "Arrive", 0))
    display(ev.CueStarted(2 * RATE, "bell", "bell: soft"))
    display(step("breathe", "breathe 4-7-8 × 4", "Breathe", 65 * RATE))
    display(ev.Finished(70 * RATE, "end"))
    assert stream.getvalue().splitlines() == [
        "[0:00] Evening (1:00) on null",
        "[0:00] == Arrive ==",
        "[0:00] pause",
        "[0:02] bell: soft",
        "[1:05] == Breathe ==",
        "[1:05] breathe: breathe 4-7-8 × 4",
        "[1:10] finished",
    ]
