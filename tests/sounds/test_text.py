"""Text made speakable: numbers, durations, abbreviations and sentence breaks come out as words."""

from __future__ import annotations

import pytest

from relaxplayer.sounds import text


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Breathe 4-7-8 for 2m.", "Breathe four, seven, eight for two minutes."),
        ("Box 4-4-4-4.", "Box four, four, four, four."),
        ("Rest 3-5 minutes.", "Rest three to five minutes."),
        ("About 5.5 breaths.", "About five point five breaths."),
        ("Hold 1s, then 30 s, at 40%.", "Hold one second, then thirty seconds, at forty percent."),
        (
            "Rest 1m30s, walk 1h15m.",
            "Rest one minute thirty seconds, walk one hour fifteen minutes.",
        ),
        ("At 10:30, 7:05 or 9:00.", "At ten thirty, seven oh five or nine o'clock."),
        (
            "The 1st, 2nd, 3rd, 12th and 21st.",
            "The first, second, third, twelfth and twenty-first.",
        ),
        ("Count to 1,000.", "Count to one thousand."),
        ("Slowly, e.g. like this, i.e. gently.", "Slowly, for example like this, that is gently."),
        ("Dr. Lee & Mr. Ng, approx. 10 mins.", "Doctor Lee and Mister Ng, about ten minutes."),
        ("Sides etc. then rest", "Sides and so on then rest"),
    ],
)
def test_normalize_writes_numbers_and_abbreviations_as_words(written: str, spoken: str) -> None:
    assert text.normalize(written) == spoken


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety-nine"),
        (105, "one hundred and five"),
        (1234, "one thousand two hundred and thirty-four"),
        (20_005, "twenty thousand and five"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert text.number_words(n) == words


def test_ordinals_and_clock_times() -> None:
    assert [text.ordinal_words(n) for n in (1, 5, 8, 9, 20, 100, 101)] == [
        "first",
        "fifth",
        "eighth",
        "ninth",
        "twentieth",
        "one hundredth",
        "one hundred and first",
    ]
    assert text.clock_words(6, 0) == "six o'clock"


def test_sentences_split_at_full_stops_but_not_after_abbreviations_or_initials() -> None:
    assert text.sentences("Sit tall. Let go! Ready? Yes.") == [
        "Sit tall.",
        "Let go!",
        "Ready?",
        "Yes.",
    ]
    assert text.sentences(text.normalize("Dr. Lee says rest. Then 5.5 breaths.")) == [
        "Doctor Lee says rest.",
        "Then five point five breaths.",
    ]
    assert text.sentences("Music by J. S. Bach. Now rest.") == ["Music by J. S. Bach.", "Now rest."]
    assert text.sentences("Breathe in... and out.") == ["Breathe in... and out."]


def test_a_blank_line_ends_a_sentence() -> None:
    spoken = text.normalize("Relax your shoulders\n\nNow your arms.\n\nAnd rest")
    assert text.sentences(spoken) == ["Relax your shoulders.", "Now your arms.", "And rest"]
    assert text.normalize("One line\nwraps here.") == "One line wraps here."


def test_word_count_counts_spoken_words() -> None:
    assert text.word_count("Breathe 4-7-8.") == 4
    assert text.word_count("") == 0
