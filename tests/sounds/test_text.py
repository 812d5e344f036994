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
        ("Rest 10 min. Then breathe.", "Rest ten minutes. Then breathe."),
        ("Breathe in. 4 more breaths.", "Breathe in. Four more breaths."),
        ("Count 1,500,000 stars.", "Count one million five hundred thousand stars."),
        (
            "Bed at 22:00, up at 0:00 or 12:00.",
            "Bed at twenty-two hundred, up at midnight or twelve o'clock.",
        ),
        ("At 22:15.", "At twenty-two fifteen."),
        (
            "From 10:30 pm to 7 am, or 9:05 p.m.",
            "From ten thirty PM to seven AM, or nine oh five PM.",
        ),
        ("Sleep by 10PM. Rest.", "Sleep by ten PM. Rest."),
        ("I am 5 amazing.", "I am five amazing."),
        ("E.g. this, i.e. that.", "For example this, that is that."),
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
        (1_000_000, "one million"),
        (1_000_005, "one million and five"),
        (
            2_345_678_901,
            "two billion three hundred and forty-five million six hundred and seventy-eight thousand nine hundred and one",
        ),
        (
            999_999_999_999,
            "nine hundred and ninety-nine billion nine hundred and ninety-nine million nine hundred and ninety-nine thousand nine hundred and ninety-nine",
        ),
        (1_000_000_000_000, "1000000000000"),
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
    assert text.clock_words(13, 0) == "thirteen hundred"
    assert text.ordinal_words(1_000_000) == "one millionth"


def test_sentences_split_at_full_stops_but_not_after_abbreviations_or_initials() -> None:
    assert text.sentences("Sit tall. Let go! Ready? Yes.") == [
        "Sit tall.",
        "Let go!",
        "Ready?",
        "Yes.",
    ]
    assert text.spoken_sentences("Dr. Lee says rest. Then 5.5 breaths.") == [
        "Doctor Lee says rest.",
        "Then five point five breaths.",
    ]
    assert text.sentences("Music by J. S. Bach. Now rest.") == ["Music by J. S. Bach.", "Now rest."]
    assert text.sentences("Breathe in... and out.") == ["Breathe in... and out."]
    assert text.sentences("Ask Mr. Ng, e.g. Monday. I.e. Tuesday. Vs. Wednesday.") == [
        "Ask Mr. Ng, e.g. Monday.",
        "I.e. Tuesday.",
        "Vs. Wednesday.",
    ]
    assert text.sentences("(Prof. Kim.) Then z.B. Ruhe.") == ["(Prof. Kim.)", "Then z.B. Ruhe."]
    assert text.sentences('He said "Dr." Then "rest." Now.') == [
        'He said "Dr." Then "rest."',
        "Now.",
    ]
    assert text.sentences("Gut. Überall Ruhe. «Still.» ¿Listo?") == [
        "Gut.",
        "Überall Ruhe.",
        "«Still.»",
        "¿Listo?",
    ]


def test_a_sentence_that_starts_with_a_number_or_ends_in_an_abbreviation_is_kept() -> None:
    assert text.spoken_sentences("Breathe in. 4 more breaths. Good.") == [
        "Breathe in.",
        "Four more breaths.",
        "Good.",
    ]
    assert text.spoken_sentences("Rest 10 min. Then breathe.") == [
        "Rest ten minutes.",
        "Then breathe.",
    ]
    assert text.spoken_sentences("Stretch etc. Sleep at 10 p.m. 8 hrs. Then wake.") == [
        "Stretch and so on.",
        "Sleep at ten PM.",
        "Eight hours.",
        "Then wake.",
    ]
    assert text.spoken_sentences("See Dr. Lee. 3-5 min. Done!") == [
        "See Doctor Lee.",
        "Three to five minutes.",
        "Done!",
    ]


def test_other_languages_keep_digits_and_abbreviations_for_the_engine() -> None:
    german = "Atme 4 Sekunden ein, z.B. bei Dr. Müller um 10:30 & 3-5 min."
    assert text.normalize(german, language="de") == german
    assert text.normalize(german, language="de_DE") == german
    assert text.normalize("Atme 4-7-8.\nDann  ruhen.", language="fr") == "Atme 4, 7, 8. Dann ruhen."
    assert text.spoken_sentences("Atme ein. 4 Sekunden halten. Überall Ruhe.", "de") == [
        "Atme ein.",
        "4 Sekunden halten.",
        "Überall Ruhe.",
    ]
    assert text.normalize("Hold 4 s.", language="en-GB") == "Hold four seconds."
    assert text.word_count("Atme 1234 mal.", "de") == 3
    assert text.word_count("Atme 1234 mal.", "en") == 9


def test_a_blank_line_ends_a_sentence() -> None:
    written = "Relax your shoulders\n\nNow your arms.\n\nAnd rest"
    assert text.spoken_sentences(written) == ["Relax your shoulders.", "Now your arms.", "And rest"]
    assert text.sentences("Listen:\n \n and breathe") == ["Listen.", "and breathe"]
    assert text.sentences('"Rest."\n\nNow') == ['"Rest."', "Now"]
    assert text.normalize("One line\nwraps here.") == "One line wraps here."
    assert text.normalize("  \n\n ") == "" and text.sentences("") == []


def test_word_count_counts_spoken_words() -> None:
    assert text.word_count("Breathe 4-7-8.") == 4
    assert text.word_count("") == 0


def test_same_language_compares_primary_tags() -> None:
    assert text.same_language("en_US", "en-gb") and text.same_language("EN", "en")
    assert not text.same_language("de", "en")


def test_a_run_on_sentence_is_split_for_the_voice() -> None:
    from relaxplayer.sounds.text import MAX_WORDS, spoken_sentences

    clause = "let the shoulders drop and the jaw soften, breathe out slowly"
    text = "; ".join([clause] * 200) + "."  # about 2,000 words, one sentence
    pieces = spoken_sentences(text)
    assert max(len(p.split()) for p in pieces) <= MAX_WORDS
    assert len(pieces) > 2000 // MAX_WORDS
    assert " ".join(pieces).split() == text.split()  # nothing lost, nothing added
    assert all(p.endswith((";", ".")) for p in pieces)  # broken after the semicolons


def test_a_run_on_without_punctuation_breaks_before_conjunctions_then_words() -> None:
    from relaxplayer.sounds.text import split_long

    words = " ".join(f"w{i}" for i in range(30))
    assert split_long(f"{words} and {words}", 40) == [words, f"and {words}"]
    assert [len(p.split()) for p in split_long("word " * 100, 35)] == [35, 35, 30]
    assert split_long("short and sweet", 35) == ["short and sweet"]
