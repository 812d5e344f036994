"""A seeded mutation corpus of session scripts, and one command run over one case.

Shared by ``tests/test_fuzz.py`` (a few hundred cases in the suite) and
``benchmarks/fuzz.py`` (thousands). Every case starts from a built-in session
and applies one to three mutations: lines deleted, duplicated, swapped or
re-indented; values replaced by hostile scalars (tags, escapes, surrogates,
NULs, huge numbers, anchors, deep nesting, enormous strings); line endings
changed; the text cut short.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "sessions").glob("*.yaml"))
MAX_LINE = 1_000  # characters of one line of validate's messages
MAX_OUTPUT = 20_000  # characters a command may print for one case, beyond the script's own

HOSTILE = [
    '""',
    "!!int",
    '!!int ""',
    "!!float _",
    "!!bool maybe",
    "!!str",
    "!!null x",
    "!!seq x",
    "!!map x",
    "!!timestamp 2001-12-14",
    "!!binary aGVsbG8=",
    "!!python/name:os.system",
    "!custom 5",
    "&a hello",
    "*a",
    '"\\ud800"',
    '"a\\udfffb"',
    '"\\0"',
    '"a\\x07b"',
    '"\\x1b[31mred"',
    '"\\u0085"',
    '"\\U0010ffff"',
    "1" + "0" * 400,
    "-" + "9" * 400,
    "1e309",
    ".nan",
    "-.inf",
    "0",
    "-1",
    "0.0001s",
    "99999h",
    "1m1m1m1m",
    "300%",
    "-999 dB",
    "+13 dB",
    "[]",
    "{}",
    "[[[[[[[[[[",
    "[" * 100 + "]" * 100,
    "{a: {b: {c: {d: {e: {f: 1}}}}}}",
    "~",
    "null",
    "yes",
    "~nosuchuser/x.wav",
    "/dev/zero",
    "/",
    "../../../../etc/passwd",
    "a" * 5000 + ".wav",
    "x" * 20_000,
    "x" * 20_001,
    "'unclosed",
    '"unclosed',
    "? complex",
    "|\n  block text",
    "- item",
    ": colon",
    "#comment",
    "é" * 300,
    "\t",
]
KEYS = [
    "say",
    "pause",
    "title",
    "section",
    "breathe",
    "cycles",
    "timer",
    "every",
    "repeat",
    "steps",
    "bell",
    "play",
    "voice",
    "language",
    "fade_out",
    "linger",
    "volume",
    "x" * 300,
]


@dataclass(frozen=True)
class Case:
    """One mutated script: its number, what was done to it, its text."""

    number: int
    mutations: tuple[str, ...]
    text: str


def corpus(count: int, seed: int) -> Iterator[Case]:
    """``count`` cases, the same ones for the same ``seed``."""
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8") for p in SOURCES]
    for number in range(count):
        text = rng.choice(texts)
        done = []
        for _ in range(rng.randint(1, 3)):
            name, mutate = rng.choice(MUTATIONS)
            text = mutate(rng, text)
            done.append(name)
        yield Case(number, tuple(done), text)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _delete(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _duplicate(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _swap(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _indent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    shift = rng.choice([-4, -2, -1, 1, 2, 4])
    lines[i] = " " * shift + lines[i] if shift > 0 else lines[i][-shift:]
    return "\n".join(lines)


def _value(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if ": " in line]
    if not candidates:
        return text
    i = rng.choice(candidates)
    head = lines[i].split(": ", 1)[0]
    lines[i] = f"{head}: {rng.choice(HOSTILE)}"
    return "\n".join(lines)


def _key(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    indent = len(lines[i]) - len(lines[i].lstrip(" "))
    lines.insert(i, f"{' ' * indent}{rng.choice(KEYS)}: {rng.choice(HOSTILE)}")
    return "\n".join(lines)


def _endings(rng: random.Random, text: str) -> str:
    return text.replace("\n", rng.choice(["\r", "\r\n", "\n\n", "\u2028"]))


def _cut(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _character(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    char = rng.choice(["\0", "\x07", "\t", "\ufeff", "\x85", '"', "'", "[", "{", ":", "&", "*"])
    return text[:i] + char + text[i:]


def _repeat_bomb(rng: random.Random, text: str) -> str:
    depth = rng.randint(2, 6)
    body = "".join(f"{'  ' * d}- repeat: 1000\n{'  ' * d}  steps:\n" for d in range(depth))
    return text + "\n" + body.replace("- ", "  - ", 0) + "  " * depth + "- pause: 1h\n"


def _deep(rng: random.Random, text: str) -> str:
    n = rng.choice([10, 63, 64, 65, 500, 5000])
    return text + f"\nextra: {'[' * n}{']' * n}\n"


def _many(rng: random.Random, text: str) -> str:
    n = rng.choice([60, 300, 1500])
    return text + "".join(f"  - pause: -{i}\n" for i in range(n))


MUTATIONS: list[tuple[str, Callable[[random.Random, str], str]]] = [
    ("delete", _delete),
    ("duplicate", _duplicate),
    ("swap", _swap),
    ("indent", _indent),
    ("indent", _indent),
    ("value", _value),
    ("value", _value),
    ("value", _value),
    ("key", _key),
    ("endings", _endings),
    ("cut", _cut),
    ("character", _character),
    ("repeat-bomb", _repeat_bomb),
    ("deep", _deep),
    ("many", _many),
]


@dataclass(frozen=True)
class Outcome:
    """What one command did with one case; ``problem`` is empty when it behaved."""

    command: str
    exit_code: int
    output_size: int
    problem: str


def run_case(
    case: Case, folder: Path, commands: tuple[str, ...] = ("validate", "show")
) -> list[Outcome]:
    """Run each command on the case in-process; a traceback, an exit code other than 0
    or 2, or more than ``MAX_OUTPUT`` characters of output is a problem."""
    from relaxplayer.cli import main

    path = folder / f"case{case.number}.yaml"
    path.write_text(case.text, encoding="utf-8", errors="surrogatepass")
    outcomes = []
    for command in commands:
        result = CliRunner().invoke(main, [command, str(path)])
        problem = ""
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problem = f"{type(result.exception).__name__}: {result.exception}"
        elif result.exit_code not in (0, 2):
            problem = f"exit code {result.exit_code}"
        elif len(result.output) > MAX_OUTPUT + len(case.text):  # show echoes the texts
            problem = f"{len(result.output):,} characters of output"
        elif "Traceback" in result.output:
            problem = "a traceback in the output"
        elif command == "validate" and _longest_line(result.output) > MAX_LINE:
            problem = f"a line of {_longest_line(result.output):,} characters"
        outcomes.append(Outcome(command, result.exit_code, len(result.output), problem))
    return outcomes


def _longest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)
