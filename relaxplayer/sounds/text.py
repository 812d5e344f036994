"""Text as a voice should read it: sentences to pause between, numbers and symbols spelt out.

Session writers type "4-7-8", "5.5 seconds", "2m", "1m30s", "10:30", "3rd" or
"e.g."; a TTS engine reads those badly or not at all (espeak-ng says "4-7-8"
as "four minus seven minus eight"), so they are rewritten into words first.
Those rules are English; in other languages the engine reads the digits itself.
"""

from __future__ import annotations

import functools
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
    "E.g.": "For example",
    "i.e.": "that is",
    "I.e.": "That is",
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
SCALES = [(1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand")]
# never a sentence break after these, even before a capital: a title, "e.g." and the like
NO_BREAK_AFTER = frozenset(
    {"dr.", "mr.", "mrs.", "ms.", "prof.", "st.", "e.g.", "i.e.", "vs.", "approx.", "cf."}
    | {"z.b.", "d.h.", "bzw.", "ca.", "nr."}  # common in German sessions
)
STOPS = ".!?…"
MAX_WORDS = 35  # words a voice is given at once: a long breath's worth
# after a comma, semicolon, colon or dash (kept with the clause before)
_CLAUSE = re.compile(r"(?<=[,;:–—])\s+|\s+(?=[–—]\s)")
# before a conjunction: where a run-on sentence can take a breath
_CONJUNCTION = re.compile(
    r"\s+(?=(?:and|but|or|so|then|while|because|until|as|und|aber|oder|et|mais|y|pero)\s)",
    re.IGNORECASE,
)
CLOSERS = "\"'”’»)"
# a candidate break: . ! ? or … (and a closing quote) then space; group 1 starts the next word
_BREAK = re.compile(rf"(?:(?<=[{STOPS}])|(?<=[{STOPS}][{CLOSERS}]))\s+(?=[\"'“„«(¿¡]?(\w))")
_INITIALS = re.compile(r"(?:[A-Z]\.)+")  # "J." or "U.S.": not a sentence end
_PARAGRAPH = re.compile(r"\s*\n\s*\n\s*")
_THOUSANDS = re.compile(r"\b(\d{1,3}(?:,\d{3})+)\b")
_MERIDIEM = re.compile(r"\b(1[0-2]|0?[1-9])(?::([0-5]\d))?\s?([ap])\.?m\b\.?", re.IGNORECASE)
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_COMPOUND = re.compile(r"\b(\d+)\s?(h|m)\s?(\d+)\s?(m|s)\b")
_RANGE = re.compile(r"\b(\d+)-(\d+)\b(?!-)")
_DASHED = re.compile(r"\b(\d+(?:-\d+){2,})\b")
_UNIT = re.compile(r"\b(\d+(?:\.\d+)?)\s?(s|m|h|min|sec|hr)\b")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_INTEGER = re.compile(r"\b\d+\b")
_PERCENT = re.compile(r"\b(\d+)\s?%")
_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
# one pass for every abbreviation (longest first), rather than a pattern per entry per line
_ABBREVIATION = re.compile(
    r"(?<!\w)("
    + "|".join(re.escape(a) for a in sorted(ABBREVIATIONS, key=len, reverse=True))
    + r")(?!\w)"
)


def same_language(a: str, b: str) -> bool:
    """Whether two language tags share their primary language (``en`` ~ ``en_US`` ~ ``en-gb``)."""
    return a.replace("_", "-").split("-")[0].lower() == b.replace("_", "-").split("-")[0].lower()


def number_words(n: int) -> str:
    """English words for 0 up to 999 billion; anything larger is left as digits for the engine."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else f"-{ONES[n % 10]}")
    if n < 1000:
        rest = n % 100
        return f"{ONES[n // 100]} hundred" + (f" and {number_words(rest)}" if rest else "")
    if n >= 1000 * SCALES[0][0]:
        return str(n)
    size, name = next((size, name) for size, name in SCALES if n >= size)
    head, rest = divmod(n, size)
    joiner = " and " if 0 < rest < 100 else " "  # "one thousand and five", British and Piper alike
    return f"{number_words(head)} {name}" + (f"{joiner}{number_words(rest)}" if rest else "")


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
    """``10:30`` -> "ten thirty", ``7:05`` -> "seven oh five", ``9:00`` -> "nine o'clock".

    On the hour, 24-hour times read as people say them: ``22:00`` -> "twenty-two
    hundred", ``0:00`` -> "midnight" ("twenty-two o'clock" is not English).
    """
    if minutes == 0 and hours == 0:
        return "midnight"
    if minutes == 0:
        return f"{number_words(hours)} " + ("hundred" if hours > 12 else "o'clock")
    if minutes < 10:
        return f"{number_words(hours)} oh {ONES[minutes]}"
    return f"{number_words(hours)} {number_words(minutes)}"


def _meridiem_words(m: re.Match[str]) -> str:
    """``10:30 pm`` -> "ten thirty PM", ``7 a.m.`` -> "seven AM".

    Capitals, because espeak-ng (and so Piper, which phonemizes with it) spells
    "AM" and "PM" as letters but reads "am" as the verb and "a m" as "uh em".
    """
    hours, minutes = int(m.group(1)), int(m.group(2) or 0)
    clock = number_words(hours) if minutes == 0 else clock_words(hours, minutes)
    return f"{clock} {m.group(3).upper()}M"


def spoken_sentences(text: str, language: str = "en") -> list[str]:
    """The sentences of ``text``, each made speakable for a voice in ``language``.

    Splitting comes first, on the text as written, so that rewriting cannot hide
    a break ("4 more breaths." still starts with a digit, "10 min." still ends
    with its full stop). Remembered for recent texts: estimating, counting and
    speaking a line all ask for it.
    """
    return list(_spoken_sentences(text, language))


@functools.lru_cache(maxsize=4096)
def _spoken_sentences(text: str, language: str) -> tuple[str, ...]:
    pieces = (piece for sentence in sentences(text) for piece in split_long(sentence))
    spoken = (_speakable(piece, language) for piece in pieces)
    return tuple(s for s in spoken if s)


def split_long(sentence: str, limit: int = MAX_WORDS) -> list[str]:
    """``sentence`` in pieces of at most ``limit`` words, so a voice is never handed a run-on.

    Piper's memory grows with the length of what it is given (500 words took
    3.4 GB; 2,000 failed to allocate), and a listener needs the breath anyway.
    Pieces break after a comma, semicolon, colon or dash where they can, else
    before a conjunction ("and", "but", ...), else between words.
    """
    if len(sentence.split()) <= limit:
        return [sentence]
    clauses = [c for c in _CLAUSE.split(sentence) if c.strip()]
    pieces: list[str] = []
    for clause in clauses:
        if len(clause.split()) <= limit:
            pieces.append(clause)
            continue
        for part in (p for p in _CONJUNCTION.split(clause) if p.strip()):
            words = part.split()
            pieces += [" ".join(words[i : i + limit]) for i in range(0, len(words), limit)]
    return _pack(pieces, limit)


def _pack(pieces: list[str], limit: int) -> list[str]:
    """Neighbouring pieces joined again while they fit in ``limit`` words."""
    out: list[str] = []
    count = 0
    for piece in (" ".join(p.split()) for p in pieces):
        n = len(piece.split())
        if out and count + n <= limit:
            out[-1] = f"{out[-1]} {piece}"
            count += n
        else:
            out.append(piece)
            count = n
    return out


def normalize(text: str, language: str = "en") -> str:
    """``text`` as one speakable line: see ``spoken_sentences``."""
    return " ".join(spoken_sentences(text, language))


def _speakable(sentence: str, language: str) -> str:
    """One sentence as the voice should read it.

    English gets the number, unit and abbreviation rules. Other languages keep
    their digits, because Piper and espeak-ng read digits in the voice's own
    language, whereas English words would be read with a foreign accent; they
    only get the language-neutral rewrite of "4-7-8" into "4, 7, 8" (espeak-ng
    reads the dashes as "minus" or "Strich").
    """
    spoken = _DASHED.sub(lambda m: ", ".join(m.group(1).split("-")), sentence)
    if not same_language(language, "en"):
        return spoken
    spoken = _english(spoken)
    if sentence[:1].isdigit():  # "4 more breaths." -> "Four more breaths."
        spoken = spoken[:1].upper() + spoken[1:]
    if sentence[-1:] in STOPS and spoken[-1:] not in STOPS:  # "min." or "p.m." took the stop
        spoken += "."
    return spoken


def _english(text: str) -> str:
    """Abbreviations, "3-5", "2m", "1m30s", "10:30", "10 pm", "5.5", "30%" and digits as words."""
    text = _ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group(1)], text)
    if not _DIGIT.search(text):  # the rest only rewrites numbers: most lines have none
        return _SPACES.sub(" ", text).strip()
    # each rule only where its telltale character is (a long script has thousands of lines)
    if "," in text:
        text = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _MERIDIEM.sub(_meridiem_words, text)
    if ":" in text:
        text = _CLOCK.sub(lambda m: clock_words(int(m.group(1)), int(m.group(2))), text)
    text = _COMPOUND.sub(_compound_words, text)
    if "-" in text:
        text = _RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)
    text = _UNIT.sub(_unit_words, text)
    if "%" in text:
        text = _PERCENT.sub(lambda m: f"{number_words(int(m.group(1)))} percent", text)
    text = _ORDINAL.sub(lambda m: ordinal_words(int(m.group(1))), text)
    if "." in text:
        text = _DECIMAL.sub(
            lambda m: (
                f"{number_words(int(m.group(1)))} point "
                + " ".join(ONES[int(d)] for d in m.group(2))
            ),
            text,
        )
    text = _INTEGER.sub(lambda m: number_words(int(m.group(0))), text)
    return _SPACES.sub(" ", text).strip()


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
    """Split text as written into sentences, so the voice can rest briefly between them.

    A sentence ends at . ! ? or … before a capital or a digit, but not after a
    title, "e.g." or an initial ("Dr. Lee", "J. S. Bach"). A blank line ends a
    sentence even without a full stop, so paragraphs get a pause too.
    """
    paragraphs = [p for p in _PARAGRAPH.split(text.strip()) if p]
    found: list[str] = []
    for i, paragraph in enumerate(paragraphs):
        parts = _split_paragraph(paragraph)
        if i < len(paragraphs) - 1 and parts[-1].rstrip(CLOSERS)[-1:] not in STOPS:
            parts[-1] = parts[-1].rstrip(",;:-–—") + "."
        found += parts
    return found


def _split_paragraph(paragraph: str) -> list[str]:
    """Break where the next word starts with a capital or digit, in any script ("Überall")."""
    parts, start = [], 0
    for m in _BREAK.finditer(paragraph):
        before = paragraph[start : m.start()]
        if (m.group(1).isupper() or m.group(1).isdigit()) and not _ends_in_abbreviation(before):
            parts.append(before)
            start = m.end()
    parts.append(paragraph[start:])
    return [" ".join(p.split()) for p in parts]


def _ends_in_abbreviation(text: str) -> bool:
    """Whether ``text``'s last word is a title, "e.g." or initials, so its full stop is no end."""
    last = text.rsplit(None, 1)[-1].lstrip("\"'“„«(").rstrip(CLOSERS)
    return last.lower() in NO_BREAK_AFTER or _INITIALS.fullmatch(last) is not None


def word_count(text: str, language: str = "en") -> int:
    """Words as spoken (after ``normalize``): "4-7-8" counts three."""
    return len(re.findall(r"[\w']+", normalize(text, language)))
