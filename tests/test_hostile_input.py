"""Hostile script input (issue 13): every case a clear, positioned message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from relaxplayer import loader
from relaxplayer.cli import main
from relaxplayer.errors import SessionError
from relaxplayer.loader import parse_session


def problems(text: str) -> list[str]:
    with pytest.raises(SessionError) as info:
        parse_session(text, "t.yaml", Path("."))
    return info.value.problems


def heads(text: str) -> list[str]:
    return [p.splitlines()[0] for p in problems(text)]


@pytest.fixture(params=["libyaml", "pure"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's parser and with PyYAML's own."""
    if request.param == "pure":
        monkeypatch.setattr(loader, "CParser", None)
    elif loader.CParser is None:
        pytest.skip("PyYAML without libyaml")
    return str(request.param)


# --- indentation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "head"),
    [
        (
            "title: t\nsteps:\n  - say: a\n    - say: b\n  - pause: 1\n",
            "t.yaml:4:5: error: invalid YAML: this line is indented more than the one before it "
            "(line 3); indent it by 2 spaces like that line, or end that line with ':' to start "
            "a block under it",
        ),
        (
            "title: t\n  steps:\n  - say: a\n",
            "t.yaml:2:3: error: invalid YAML: this line is indented more than the one before it "
            "(line 1); do not indent it like that line, or end that line with ':' to start a "
            "block under it",
        ),
        (
            "title: t\nsteps:\n  - breathe: box\n      cycles: 4\n",
            "t.yaml:4:7: error: invalid YAML: this line is indented more than the one before it "
            "(line 3); indent it by 4 spaces like that line, or end that line with ':' to start "
            "a block under it",
        ),
        (
            "title: t\nsteps:\n  - say: a\n - say: b\n",
            "t.yaml:4:2: error: invalid YAML: this line is indented less than the one before it "
            "(line 3); indent it by 2 spaces to continue that block, or line it up with the block "
            "it belongs to",
        ),
        (
            "title: t\nsteps:\n  - breathe: box\n   cycles: 4\n",
            "t.yaml:4:4: error: invalid YAML: this line is indented less than the one before it "
            "(line 3); indent it by 4 spaces to continue that block, or line it up with the block "
            "it belongs to",
        ),
        (
            "title: t\nbackground:\n    sound: rain\n  volume: 30%\nsteps:\n  - say: a\n",
            "t.yaml:4:3: error: invalid YAML: this line is indented less than the one before it "
            "(line 3); indent it by 4 spaces to continue that block, or line it up with the block "
            "it belongs to",
        ),
    ],
    ids=["item-deeper", "key-deeper", "key-under-item", "item-shallower", "key-shallower", "map"],
)
def test_misindented_lines_are_named_in_plain_words(parser: str, text: str, head: str) -> None:
    assert heads(text) == [head]
    assert "<block" not in head and ":1:1:" not in head


@pytest.mark.parametrize("newline", ["\r", "\r\n"], ids=["cr", "crlf"])
def test_cr_and_crlf_line_endings_give_the_same_positions(parser: str, newline: str) -> None:
    text = "title: t\nsteps:\n  - say: a\n    - say: b\n  - pause: 1\n"
    assert heads(text.replace("\n", newline)) == heads(text)
    bad = "title: t\nsteps:\n  - say: a\0b\n"
    assert problems(bad.replace("\n", newline))[0].startswith("t.yaml:3:11: error:")


def test_both_parsers_give_identical_messages_on_every_broken_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if loader.CParser is None:
        pytest.skip("PyYAML without libyaml")
    broken = sorted((Path(__file__).parent / "data" / "broken").glob("*.yaml"))
    extra = [
        "title: t\nsteps:\n  - say: a\n    - say: b\n",
        'title: t\nsteps:\n  - say: "\\ud800"\n',
        "title: t\nsteps: [" * 1 + "[" * 2000 + "\n",
        "a: b: c\n",
        "title: t\n---\ntitle: u\n",
    ]
    texts = [p.read_text(errors="replace") for p in broken] + extra
    for text in texts:
        fast = _messages(text)
        monkeypatch.setattr(loader, "CParser", None)
        slow = _messages(text)
        monkeypatch.undo()
        assert fast == slow


def _messages(text: str) -> list[str]:
    try:
        parse_session(text, "t.yaml", Path("."))
    except SessionError as exc:
        return exc.problems
    return []


# --- values that used to raise ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "head"),
    [
        ('!!int ""', "t.yaml:3:12: error: steps[0].pause: '' is not a valid !!int value"),
        ("!!int", "t.yaml:3:12: error: steps[0].pause: '' is not a valid !!int value"),
        ("!!float _", "t.yaml:3:12: error: steps[0].pause: '_' is not a valid !!float value"),
        ("1" + "0" * 399, "t.yaml:3:12: error: steps[0].pause: duration 1000000000000"),
    ],
)
def test_values_that_raised_are_positioned_errors(parser: str, value: str, head: str) -> None:
    got = heads(f"title: t\nsteps:\n  - pause: {value}\n")
    assert len(got) == 1 and got[0].startswith(head), got
    assert len(got[0]) < 300


@pytest.mark.parametrize("field", ["title", "say"])
def test_an_escaped_lone_surrogate_is_a_positioned_error(parser: str, field: str) -> None:
    text = 'title: "a\\ud800b"\nsteps:\n  - say: hi\n'
    if field == "say":
        text = 'title: t\nsteps:\n  - say: "a\\ud800b"\n'
    where = "title" if field == "title" else "steps[0].say"
    (head,) = heads(text)
    pos = "1:8" if field == "title" else "3:10"
    assert head.startswith(f"t.yaml:{pos}: error: {where}: contains the escape \\ud800")


@pytest.mark.parametrize(
    ("text", "head"),
    [
        (
            'title: t\nsteps:\n  - say: "a\\0b"\n',
            "t.yaml:3:10: error: steps[0].say: contains the control character U+0000",
        ),
        (
            'title: t\nsteps:\n  - say: "a\\x07b"\n',
            "t.yaml:3:10: error: steps[0].say: contains the control character U+0007",
        ),
        (
            'title: t\nvoice: {language: "e\\0n"}\nsteps:\n  - say: hi\n',
            "t.yaml:2:19: error: voice.language: contains the control character U+0000",
        ),
    ],
)
def test_nul_and_control_characters_are_positioned_errors(
    parser: str, text: str, head: str
) -> None:
    (got,) = heads(text)
    assert got.startswith(head)


def test_anchors_are_refused_as_the_docs_say(parser: str) -> None:
    assert heads("title: t\nsteps:\n  - say: &a hello\n") == [
        "t.yaml:3:10: error: invalid YAML: anchors and aliases (&name, *name) are not supported "
        "in session scripts; write the value out in full"
    ]


@pytest.mark.parametrize(
    ("text", "head"),
    [
        (
            "title: t\nsteps:\n  - section: !!int abc\n",
            "t.yaml:3:14: error: steps[0].section: expected text, but it is tagged !!int",
        ),
        (
            "title: t\nsteps: !!map [a]\n",
            "t.yaml:2:8: error: steps: the tag !!map does not fit a list; remove it",
        ),
        (
            "title: t\nsteps:\n  - say: !!seq hello\n",
            "t.yaml:3:10: error: steps[0].say: the tag !!seq does not fit a single value",
        ),
    ],
)
def test_wrong_tags_on_text_and_collections(parser: str, text: str, head: str) -> None:
    got = heads(text)
    assert got[0].startswith(head), got


# --- messages ----------------------------------------------------------------------------


def test_an_enormous_value_gives_a_short_message() -> None:
    text = "title: t\nsteps:\n  - pause: " + "x" * 999_000 + "\n"
    (message,) = problems(text)
    assert len(message) < 1000
    assert "xxx...xxx" in message


def test_an_enormous_unknown_key_gives_a_short_message() -> None:
    text = "title: t\n" + "k" * 500_000 + ": 1\nsteps:\n  - say: hi\n"
    (message,) = problems(text)
    assert len(message) < 1000


def test_errors_are_capped_with_a_count_of_the_rest() -> None:
    text = "title: t\nsteps:\n" + "  - pause: -1\n" * 200
    with pytest.raises(SessionError) as info:
        parse_session(text, "t.yaml", Path("."))
    assert len(info.value.problems) == 51
    assert info.value.total == 200
    assert info.value.problems[-1] == (
        "t.yaml: ... and 150 more errors (fix these first, then validate again)"
    )


def test_the_session_limit_message_shows_the_real_excess() -> None:
    text = "title: t\nsteps:\n  - timer: 12h\n  - timer: 12h\n  - pause: 0.5s\n"
    (head,) = heads(text)
    assert "lasts 24:00:00.5 by the end of this step" in head
    assert head.endswith("the limit is 24:00:00")


def test_a_symlink_loop_has_its_own_message(tmp_path: Path) -> None:
    (tmp_path / "a.wav").symlink_to(tmp_path / "b.wav")
    (tmp_path / "b.wav").symlink_to(tmp_path / "a.wav")
    with pytest.raises(SessionError) as info:
        parse_session("title: t\nsteps:\n  - play: a.wav\n", "t.yaml", tmp_path)
    head = info.value.problems[0].splitlines()[0]
    assert "loop of symbolic links" in head and "home folder" not in head


def test_a_surrogate_in_the_script_path_has_its_own_message() -> None:
    with pytest.raises(SessionError) as info:
        loader.load_session("a\ud800b.yaml")
    assert "lone surrogate" in str(info.value) and "NUL" not in str(info.value)


# --- through the commands ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'title: "a\\ud800b"\nsteps:\n  - say: hi\n',
        'title: t\nsteps:\n  - say: "a\\ud800b"\n',
        'title: t\nsteps:\n  - say: "a\\0b"\n',
        "title: t\nsteps:\n  - pause: !!int\n",
    ],
    ids=["surrogate-title", "surrogate-say", "nul-say", "empty-int"],
)
@pytest.mark.parametrize("command", ["validate", "show"])
def test_commands_give_a_positioned_error(tmp_path: Path, text: str, command: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}:" in result.output and ": error: " in result.output
