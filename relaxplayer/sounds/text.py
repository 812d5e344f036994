"""Text as a voice should read it: sentences to pause between, numbers and symbols spelt out.

Session writers type "4-7-8", "5.5 seconds", "2m" or "e.g."; a TTS engine
reads those badly or not at all, so they are rewritten into words first.
"""

from __future__ import annotations

import re

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ABBREVIATIONS = {
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "and so on",
    "approx.": "about",
    "min.": "minutes",
    "mins": "minutes",
    "sec.": "seconds",
    "secs": "seconds",
    "Dr.": "Doctor",
    "vs.": "versus",
}
UNITS = {
    "s": ("second", "seconds"),
    "m": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "sec": ("second", "seconds"),
}
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'“(]?[A-Z0-9])")
_DASHED = re.compile(r"\b(\d+(?:-\d+)+)\b")
_UNIT = re.compile(r"\b(\d+(?:\.\d+)?)\s?(s|m|h|min|sec)\b")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_INTEGER = re.compile(r"\b\d+\b")
_PERCENT = re.compile(r"\b(\d+)\s?%")


def number_words(n: int) -> str:
    """English words for 0..999999 (larger numbers are left as digits)."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else f"-{ONES[n % 10]}")
    if n < 1000:
        rest = n % 100
        return f"{ONES[n // 100]} hundred" + (f" and {number_words(rest)}" if rest else "")
    if n < 1_000_000:
        rest = n % 1000
        joiner = " and " if 0 < rest < 100 else " "
        return f"{number_words(n // 1000)} thousand" + (
            f"{joiner}{number_words(rest)}" if rest else ""
        )
    return str(n)


def normalize(text: str) -> str:
    """Rewrite abbreviations, "4-7-8", "2m", "5.5", "30%" and digits into words."""
    for short, long in ABBREVIATIONS.items():
        text = re.sub(rf"(?<!\w){re.escape(short)}(?!\w)", long, text)
    text = _DASHED.sub(
        lambda m: ", ".join(number_words(int(p)) for p in m.group(1).split("-")), text
    )
    text = _UNIT.sub(_unit_words, text)
    text = _PERCENT.sub(lambda m: f"{number_words(int(m.group(1)))} percent", text)
    text = _DECIMAL.sub(
        lambda m: (
            f"{number_words(int(m.group(1)))} point " + " ".join(ONES[int(d)] for d in m.group(2))
        ),
        text,
    )
    text = _INTEGER.sub(lambda m: number_words(int(m.group(0))), text)
    return re.sub(r"\s+", " ", text).strip()


def _unit_words(m: re.Match[str]) -> str:
    value, unit = m.group(1), m.group(2)
    one, many = UNITS[unit]
    return f"{value} {one if value == '1' else many}"  # digits become words in a later pass


def sentences(text: str) -> list[str]:
    """Split into sentences, so the voice can rest briefly between them."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def word_count(text: str) -> int:
    return len(re.findall(r"[\w']+", normalize(text)))
