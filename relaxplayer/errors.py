"""The one family of expected failures.

Anything the user can cause (a bad script, a missing file, no sound card) is a
``RelaxError``; ``cli.py`` turns it into a message and an exit code. Any other
exception reaching the user is a bug.
"""

from __future__ import annotations


class RelaxError(Exception):
    """Base of every expected failure; ``str()`` is the message shown to the user."""

    exit_code = 1


class SessionError(RelaxError):
    """A session script is wrong: carries every problem found, compiler style."""

    exit_code = 2

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = len(self.problems) if total is None else total  # shown or not
        super().__init__("\n".join(self.problems))


class AssetError(RelaxError):
    """A sound file, voice or clip cannot be found, decoded or synthesized."""


class OutputError(RelaxError):
    """The audio output cannot be opened or failed while playing."""


class ConfigError(RelaxError):
    """Bad command-line arguments or configuration."""

    exit_code = 2
