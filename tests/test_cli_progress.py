"""`prepare` and `render` progress bars fit the terminal, whatever its width."""

from __future__ import annotations

import io
import re

import pytest

from relaxplayer import cli


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [30, 50, 80, 120])
def test_the_progress_bar_fits_the_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    stream = Tty()
    monkeypatch.setattr(cli.sys, "stderr", stream)
    monkeypatch.setenv("COLUMNS", str(columns))
    label = "progressive-muscle-relaxation: piper en_US-joe-medium"
    with cli._progress(1000, label) as bar:
        for _ in range(10):
            bar.update(100)
    lines = [ln for ln in re.split(r"[\r\n]", stream.getvalue()) if ln.strip()]
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", ln) for ln in lines]
    assert lines, "the bar was drawn"
    assert max(len(ln) for ln in lines) < columns
    assert "100%" in lines[-1]
    if columns >= 80:
        assert lines[-1].startswith("progressive-muscle-")


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.sys, "stderr", io.StringIO())
    with cli._progress(10, "x") as bar:
        assert bar is None
