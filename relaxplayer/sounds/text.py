"""Text as a voice should read it: sentences to pause between, numbers and symbols spelt out.

Session writers type "4-7-8", "5.5 seconds", "2m", "1m30s", "10:30", "3rd" or
"e.g."; a TTS engine reads those badly or not at all (espeak-ng says "4-7-8"
as "four minus seven minus eight"), so they are rewritten into words first.
English rules only: other languages pass through with digits left to the engine.
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
ORDINAL_ENDINGS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
ABBREVIATIONS = {
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "and so on",
    "approx.": "about",
    "min.": "minutes",
    "mins": "minutes",
    "sec.": "seconds",
    "secs": "seconds",
    "hrs": "hours",
    "Dr.": "Doctor",
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "Prof.": "Professor",
    "vs.": "versus",
    "&": "and",
}
UNITS = {
    "s": ("second", "seconds"),
    "m": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "sec": ("second", "seconds"),
    "hr": ("hour", "hours"),
}
# a sentence ends at . ! ? or … followed by space and a capital, digit or opening quote,
# but not after a lone initial ("J. S. Bach")
_SENTENCE_END = re.compile(r"(?<![\s.][A-Z]\.)(?<=[.!?…])\s+(?=[\"'“(]?[A-Z0-9])")
_PARAGRAPH = re.compile(r"\s*\n\s*\n\s*")
_THOUSANDS = re.compile(r"\b(\d{1,3}(?:,\d{3})+)\b")
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_COMPOUND = re.compile(r"\b(\d+)\s?(h|m)\s?(\d+)\s?(m|s)\b")
_RANGE = re.compile(r"\b(\d+)-(\d+)\b(?!-)")
_DASHED = re.compile(r"\b(\d+(?:-\d+){2,})\b")
_UNIT = re.compile(r"\b(\d+(?:\.\d+)?)\s?(s|m|h|min|sec|hr)\b")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
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


def ordinal_words(n: int) -> str:
    """``3`` -> "third", ``21`` -> "twenty-first", ``100`` -> "one hundredth"."""
    words = number_words(n)
    m = re.search(r"[a-z]+$", words)
    if m is None:
        return f"{words}th"
    last = m.group(0)
    if last in ORDINAL_ENDINGS:
        new = ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        new = last[:-1] + "ieth"
    else:
        new = last + "th"
    return words[: m.start()] + new


def clock_words(hours: int, minutes: int) -> str:
    """``10:30`` -> "ten thirty", ``7:05`` -> "seven oh five", ``9:00`` -> "nine o'clock"."""
    if minutes == 0:
        return f"{number_words(hours)} o'clock"
    if minutes < 10:
        return f"{number_words(hours)} oh {ONES[minutes]}"
    return f"{number_words(hours)} {number_words(minutes)}"


def normalize(text: str) -> str:
    """Rewrite abbreviations, "4-7-8", "3-5", "2m", "1m30s", "10:30", "5.5", "30%" and digits.

    A blank line ends a sentence even without a full stop, so paragraphs get a pause.
    """
    text = _PARAGRAPH.sub(
        lambda m: " " if m.string[m.start() - 1 : m.start()] in ".!?…" else ". ", text.strip()
    )
    for short, long in ABBREVIATIONS.items():
        text = re.sub(rf"(?<!\w){re.escape(short)}(?!\w)", long, text)
    text = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _CLOCK.sub(lambda m: clock_words(int(m.group(1)), int(m.group(2))), text)
    text = _COMPOUND.sub(_compound_words, text)
    text = _DASHED.sub(
        lambda m: ", ".join(number_words(int(p)) for p in m.group(1).split("-")), text
    )
    text = _RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)
    text = _UNIT.sub(_unit_words, text)
    text = _PERCENT.sub(lambda m: f"{number_words(int(m.group(1)))} percent", text)
    text = _ORDINAL.sub(lambda m: ordinal_words(int(m.group(1))), text)
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


def _compound_words(m: re.Match[str]) -> str:
    """``1m30s`` -> "1 minute 30 seconds"; ``1h15m`` -> "1 hour 15 minutes"."""
    big, small = m.group(2), m.group(4)
    if (big, small) not in (("h", "m"), ("m", "s")):
        return m.group(0)
    return f"{_unit_words_of(m.group(1), big)} {_unit_words_of(m.group(3), small)}"


def _unit_words_of(value: str, unit: str) -> str:
    one, many = UNITS[unit]
    return f"{value} {one if value == '1' else many}"


def sentences(text: str) -> list[str]:
    """Split into sentences, so the voice can rest briefly between them."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def word_count(text: str) -> int:
    """Words as spoken (after ``normalize``): "4-7-8" counts three."""
    return len(re.findall(r"[\w']+", normalize(text)))
