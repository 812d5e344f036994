"""The MPD wire format, without any player in it: one tokenizer, error codes, answer lines.

Follows MPD's ``doc/protocol.rst``: a request is one line, a command name
(letters, digits and ``_``) then arguments separated by blanks; an argument
with blanks is written in double quotes, where a backslash escapes the next
character. An answer is ``key: value`` lines ending in ``OK``, or one
``ACK [code@index] {command} message`` line.
"""

from __future__ import annotations

from collections.abc import Iterable

VERSION = "0.23.0"  # the protocol version we answer to (greeting ``OK MPD 0.23.0``)
MAX_LINE = 4096  # bytes in one request line, newline included; longer lines close the connection

# Error codes from MPD's doc/protocol.rst (enum ack in src/protocol/Ack.hxx).
NOT_LIST = 1
ARG = 2
PASSWORD = 3
PERMISSION = 4
UNKNOWN = 5
NO_EXIST = 50
PLAYLIST_MAX = 51
SYSTEM = 52
PLAYLIST_LOAD = 53
UPDATE_ALREADY = 54
PLAYER_SYNC = 55
EXIST = 56


class Ack(Exception):
    """A command failed: becomes ``ACK [code@index] {command} message``."""

    def __init__(self, code: int, message: str, command: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.command = command

    def line(self, index: int = 0, command: str | None = None) -> str:
        name = self.command if command is None else command
        text = self.message.replace("\n", " ")
        return f"ACK [{self.code}@{index}] {{{name}}} {text}\n"


def _is_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def tokenize(line: str) -> list[str]:
    """``'add "a b" c'`` -> ``['add', 'a b', 'c']``; raises ``Ack`` (code ARG) for bad quoting.

    The first word is the command name and must be a word (ASCII letters,
    digits, ``_``); it is not lower-cased, as MPD does not either.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t":
            i += 1
            continue
        if not words:
            start = i
            while i < n and _is_word(line[i]):
                i += 1
            if i == start or (i < n and line[i] not in " \t"):
                raise Ack(UNKNOWN, "Malformed command name", "")
            words.append(line[start:i])
            continue
        if ch == '"':
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise Ack(ARG, "Missing closing '\"'", words[0])
                c = line[i]
                if c == "\\":
                    if i + 1 >= n:
                        raise Ack(ARG, "Missing closing '\"'", words[0])
                    out.append(line[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                out.append(c)
                i += 1
            if i < n and line[i] not in " \t":
                raise Ack(ARG, "Space expected after closing '\"'", words[0])
            words.append("".join(out))
            continue
        start = i
        while i < n and line[i] not in " \t":
            if line[i] == '"':
                raise Ack(ARG, "Invalid unquoted character", words[0])
            i += 1
        words.append(line[start:i])
    return words


def quote(value: str) -> str:
    """An argument as a client would write it (tests, clients built on this module)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pairs(items: Iterable[tuple[str, object]]) -> str:
    """``key: value`` lines; values lose their newlines (one answer line each)."""
    out = []
    for key, value in items:
        if value is None:
            continue
        text = str(value).replace("\r", " ").replace("\n", " ")
        out.append(f"{key}: {text}\n")
    return "".join(out)


def integer(command: str, text: str, low: int | None = None, high: int | None = None) -> int:
    """An integer argument, or ``ACK [2@0]`` as MPD words it."""
    try:
        value = int(text)
    except ValueError:
        raise Ack(ARG, f"Integer expected: {text}", command) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise Ack(ARG, f"Number out of range: {text}", command)
    return value


def number(command: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Ack(ARG, f"Float expected: {text}", command) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Ack(ARG, f"Float expected: {text}", command)
    return value


def boolean(command: str, text: str) -> bool:
    if text not in ("0", "1"):
        raise Ack(ARG, f"Boolean (0/1) expected: {text}", command)
    return text == "1"
