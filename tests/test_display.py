"""What the display draws from player events: the panel on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
import re

import pytest

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


SAFETY = (
    "Move gently, and only as far as feels easy. If anything hurts, or you feel dizzy, "
    "stop and sit down."
)


def panel(stream: io.StringIO) -> list[str]:
    """The lines of the last panel drawn (after its cursor-up), control codes removed."""
    last = re.split(r"\x1b\[\d+F", stream.getvalue())[-1]
    return [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", ln) for ln in last.split("\n")][:-1]


def tick(seconds: float, length: float = 60) -> ev.Tick:
    return ev.Tick(round(seconds * RATE), round(length * RATE), False, 1.0, 0)


def test_a_long_subtitle_wraps_onto_a_second_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    stream = io.StringIO()
    display = TerminalDisplay(stream, color=False)
    display(started())
    display(step("say", SAFETY, "Arrive"))
    display(ev.CueStarted(0, "speech", SAFETY))
    display(tick(1))
    lines = panel(stream)
    assert lines[2:4] == [
        "Move gently, and only as far as feels easy. If anything hurts, or you feel",
        "dizzy, stop and sit down.",
    ]
    assert not any("…" in line for line in lines)
    assert all(len(line) < 80 for line in lines)
    display(step("say", "Release.", "Arrive", 9 * RATE))
    display(tick(9.5))
    assert panel(stream)[2:4] == ["Release.", ""]  # the panel keeps its height: no stale line


def test_skipping_to_a_pause_clears_the_old_words() -> None:
    stream = io.StringIO()
    display = TerminalDisplay(stream, color=False)
    display(started())
    display(ev.StepStarted(0, 3, "say", "Reach up. Breathe in.", "Arrive", 0, 2 * RATE))
    display(ev.StepStarted(2 * RATE, 4, "pause", "", "Arrive", 2 * RATE, 6 * RATE))
    display(tick(3))
    assert "Reach up. Breathe in." in panel(stream)  # the pause it asks for: still shown
    display(ev.StepStarted(30 * RATE, 9, "pause", "", "Neck", 30 * RATE, 15 * RATE))  # `s`
    display(tick(30))
    assert "Reach up. Breathe in." not in "\n".join(panel(stream))
    display(ev.StepStarted(31 * RATE, 10, "timer", "timer 20s", "Neck", 31 * RATE, 20 * RATE))
    display(tick(31))
    assert panel(stream)[2] == ""  # a timer without words does not bring them back


def test_a_timer_counts_down() -> None:
    stream = io.StringIO()
    display = TerminalDisplay(stream, color=False)
    display(started())
    display(ev.StepStarted(0, 1, "timer", "timer 20s", "Stretch", 0, 20 * RATE))
    display(tick(3.2))
    lines = panel(stream)
    assert lines[1] == "Stretch · timer"
    assert "timer 20s" not in lines  # no words to show: the countdown says it
    assert lines[3].startswith("timer ") and lines[3].endswith(" 0:17 left")
    display(tick(19.999))
    assert panel(stream)[3].endswith(" 0:01 left")
    display(tick(20))
    assert panel(stream)[3].endswith(" 0:00 left")


def test_the_remaining_time_does_not_flip_between_two_values() -> None:
    stream = io.StringIO()
    display = TerminalDisplay(stream, color=False)
    display(started())
    shown = []
    for seconds in [9.990, 10.002, 9.998, 10.004, 9.999, 10.5, 11.001, 10.999, 11.2]:
        display(tick(seconds))
        progress = panel(stream)[-1]
        shown.append((progress.split()[0], re.search(r" -(\d+:\d\d) ", progress)[1]))
    assert [left for _, left in shown] == ["0:51"] + ["0:50"] * 5 + ["0:49"] * 3
    assert [at for at, _ in shown] == ["0:09"] + ["0:10"] * 5 + ["0:11"] * 3
    display(tick(30, length=75))  # re-timed (longer narration) and later: it follows
    assert " -0:45 " in panel(stream)[-1]
    display(tick(5, length=75))  # a seek back
    assert panel(stream)[-1].startswith("0:05 ") and " -1:10 " in panel(stream)[-1]


def test_plain_prints_a_timers_words_once() -> None:
    stream = io.StringIO()
    display = PlainDisplay(stream)
    display(started())
    words = "Let your left ear drop towards your left shoulder."
    display(ev.StepStarted(0, 1, "timer", words, "Neck", 0, 30 * RATE))
    display(ev.CueStarted(0, "speech", words))
    display(ev.CueStarted(10 * RATE, "bell", "bell: soft"))
    assert stream.getvalue().splitlines()[1:] == [
        "[0:00] == Neck ==",
        f"[0:00] timer: {words}",
        "[0:10] bell: soft",
    ]


class Failing(io.StringIO):
    """A stream whose reader went away (`| head -1`), or a full disk."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.writes = 0

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.writes += 1
        raise self.error


@pytest.mark.parametrize(
    "error", [BrokenPipeError(32, "Broken pipe"), OSError(28, "No space"), ValueError("closed")]
)
@pytest.mark.parametrize("kind", [PlainDisplay, TerminalDisplay])
def test_a_failing_stream_makes_the_display_go_quiet(kind: type, error: Exception) -> None:
    stream = Failing(error)
    display = kind(stream)
    display(started())
    for n in range(20):
        display(tick(n))
        display(ev.Notice(n * RATE, "a notice"))
    display(ev.Finished(20 * RATE, "end"))
    assert stream.writes == 1


@pytest.mark.parametrize("kind", [PlainDisplay, TerminalDisplay])
def test_verbose_says_at_the_end_what_the_audio_libraries_printed(kind: type) -> None:
    summary = (
        "alsa-lib printed 3 lines (last: ALSA lib pcm.c:8740:(snd_pcm_recover) underrun occurred)"
    )
    stream = io.StringIO()
    display = kind(stream, verbose=True, chatter=lambda: summary)
    display(started())
    display(tick(1))
    display(ev.Finished(RATE, "end"))
    assert stream.getvalue().rstrip("\n").endswith(summary)
    quiet = io.StringIO()
    display = kind(quiet, chatter=lambda: summary)  # without -v: not a word of it
    display(started())
    display(ev.Finished(RATE, "end"))
    assert "alsa-lib" not in quiet.getvalue()
