"""Hostile script input (issue 13): every case a clear, positioned message, never a traceback."""

from __future__ import annotations

import os
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


# --- clips: their lengths count, absurd headers are refused ------------------------------


def _wav(path: Path, rate: int, frames: int) -> Path:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * frames)
    return path


def _validate(*args: str) -> object:
    return CliRunner().invoke(main, ["validate", *args])


def test_a_clip_claiming_1_hz_is_refused_at_its_value(tmp_path: Path) -> None:
    _wav(tmp_path / "slow.wav", 1, 20_000)  # 40 KB that would play for 5.5 hours
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n  - play: slow.wav\n  - bell: slow.wav\n")
    result = _validate(str(script))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if ": error: " in line]
    damaged = (
        f"{tmp_path / 'slow.wav'}: the header says 1 Hz, but a sample rate must be between "
        "1000 and 384000 Hz; the file is damaged: export it again"
    )
    assert lines == [
        f"{script}:3:11: error: steps[0].play: {damaged}",
        f"{script}:4:11: error: steps[1].bell: {damaged}",
    ]


def test_clip_lengths_count_against_the_session_limit(tmp_path: Path) -> None:
    _wav(tmp_path / "talk.wav", 1000, 100_000)  # 100 s
    script = tmp_path / "s.yaml"
    script.write_text(
        "title: t\nsteps:\n  - pause: 1s\n  - repeat: 1000\n    steps:\n      - play: talk.wav\n"
    )
    result = _validate(str(script))
    assert result.exit_code == 2
    assert (
        f"{script}:4:5: error: steps[1]: the session lasts 27:46:41 by the end of this step"
        in result.output
    )
    script.write_text("title: t\nsteps:\n  - repeat: 3\n    steps:\n      - play: talk.wav\n")
    assert _validate(str(script)).exit_code == 0


# --- validate's warnings and voice checks ------------------------------------------------


def test_a_fade_longer_than_the_session_warns_but_passes(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nend: {fade_out: 30s}\nsteps:\n  - pause: 5s\n")
    result = _validate(str(script))
    assert result.exit_code == 0
    assert (
        f"{script}: warning: line 2: end.fade_out is 30 s, longer than the whole session (0:05)"
        in result.output
    )
    script.write_text("title: t\nsteps:\n  - pause: 5s\n")  # the default 10 s: no warning
    assert "warning: line" not in _validate(str(script)).output


def test_a_garbage_onnx_voice_is_an_error_at_the_voice_key(tmp_path: Path) -> None:
    (tmp_path / "v.onnx").write_bytes(b"<html>not a model</html>" * 100)
    (tmp_path / "v.onnx.json").write_text('{"language": {"code": "en_US"}}')
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nvoice:\n  model: v.onnx\nsteps:\n  - say: hi\n")
    result = _validate(str(script))
    assert result.exit_code == 2
    assert f"{script}:2:1: error: voice: {tmp_path / 'v.onnx'}: not an ONNX model" in result.output


def test_an_unknown_espeak_language_is_an_error_at_the_voice_key(tmp_path: Path) -> None:
    from relaxplayer.sounds.speech import espeak_binary

    if espeak_binary() is None:
        pytest.skip("espeak-ng not installed")
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nvoice: {engine: espeak, language: qq-zz}\nsteps:\n  - say: hi\n")
    result = _validate(str(script))
    assert result.exit_code == 2
    assert f"{script}:2:1: error: voice: espeak-ng has no voice for the language 'qq-zz'" in (
        result.output
    )
    script.write_text("title: t\nvoice: {engine: espeak, language: de}\nsteps:\n  - say: hi\n")
    assert _validate(str(script)).exit_code == 0


def test_onnx_header_check() -> None:
    from relaxplayer.sounds.voicecheck import onnx_problem

    assert onnx_problem(Path("/nonexistent.onnx")) is not None


# --- options and environment -------------------------------------------------------------


def test_volume_over_100_percent_is_an_error_naming_the_range(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n  - pause: 1s\n")
    result = CliRunner().invoke(main, ["play", str(script), "--volume", "150%", "-o", "null"])
    assert result.exit_code == 2
    assert "--volume 150%: the volume goes from 0% to 100%" in result.output


@pytest.mark.parametrize(("value", "frame"), [("1:00", 60), ("0:01:02", 62), ("1m", 60)])
def test_start_at_takes_the_positions_show_prints(value: str, frame: int) -> None:
    from relaxplayer.playback import start_frame as _start_frame
    from relaxplayer.timeline import build_timeline

    session = parse_session("title: t\nsteps:\n  - pause: 2m\n", "t.yaml", Path("."))
    timeline = build_timeline(session, 10, lambda sound: 0)
    assert _start_frame(timeline, value) == frame * 10


@pytest.mark.parametrize("variable", ["RELAXPLAYER_PATH", "RELAXPLAYER_CONFIG"])
def test_a_tilde_user_that_does_not_exist_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, "~nosuchuser-relaxplayer")
    for args in (["list"], ["new", "abc"]) if variable == "RELAXPLAYER_CONFIG" else (["list"],):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert f"error: {variable}='~nosuchuser-relaxplayer': cannot find the home folder" in (
            result.output
        )
    assert list(tmp_path.iterdir()) == []  # never a literal ~x/ folder


def test_one_bad_session_does_not_break_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "config" / "sessions"
    folder.mkdir(parents=True)
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("RELAXPLAYER_PATH", "")
    (folder / "bad.yaml").write_text('title: "a\\ud800"\nsteps:\n  - pause: !!int ""\n')
    (folder / "worse.yaml").write_bytes(b"\xff\xfe\x00")
    (folder / "good.yaml").write_text("title: Good one\nsteps:\n  - pause: 1s\n")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert "Good one" in result.output and "default" in result.output
    assert "[invalid: " in result.output and "bad.yaml:1:8: error: title: contains" in result.output


def test_new_gives_clear_errors_and_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "cfg"
    blocker.write_text("")
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(blocker))
    result = CliRunner().invoke(main, ["new", "abc"])
    assert result.exit_code == 2 and "a file is in the way" in result.output
    config = tmp_path / "config"
    (config / "sessions" / "abc.yaml").mkdir(parents=True)
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(config))
    for args in (["new", "abc"], ["new", "abc", "--force"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "is a folder" in result.output
    readonly = tmp_path / "ro"
    (readonly / "sessions").mkdir(parents=True)
    (readonly / "sessions").chmod(0o500)
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(readonly))
    try:
        result = CliRunner().invoke(main, ["new", "abc"])
        if os.geteuid() != 0:  # root writes anyway
            assert result.exit_code == 2 and "cannot write" in result.output
    finally:
        (readonly / "sessions").chmod(0o700)
    assert not list(tmp_path.rglob("*.part"))


def test_validate_counts_every_error_but_prints_the_first_50(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("title: t\nsteps:\n" + "- pause: -1\n" * 76_000)
    result = _validate(str(script))
    assert result.exit_code == 2
    assert result.output.count(": error: ") == 50
    assert "... and 75,950 more errors" in result.output
    assert result.output.rstrip().endswith("76000 errors")
    assert len(result.output) < 20_000


@pytest.mark.parametrize(
    ("text", "head"),
    [
        (
            "title: t\n- say: a\n",
            "t.yaml:2:1: error: invalid YAML: this line starts a list item ('- ') among keys",
        ),
        (
            "title: t\nsteps:\n\t- say: a\n",
            "t.yaml:3:1: error: invalid YAML: a tab in the indentation; YAML indents with spaces",
        ),
        (
            "title: t\nsteps:\n  - say: a: b\n",
            "t.yaml:3:11: error: invalid YAML: a ':' followed by a space inside a value",
        ),
    ],
    ids=["item-among-keys", "tab", "colon-in-value"],
)
def test_other_common_slips_in_plain_words(parser: str, text: str, head: str) -> None:
    (got,) = heads(text)
    assert got.startswith(head), got


def test_a_long_unknown_language_is_shortened_in_the_voice_message(tmp_path: Path) -> None:
    from relaxplayer.sounds.speech import espeak_binary

    if espeak_binary() is None:
        pytest.skip("espeak-ng not installed")
    script = tmp_path / "s.yaml"
    script.write_text(
        f"title: t\nvoice: {{engine: espeak, language: {'q' * 5000}}}\nsteps:\n  - say: hi\n"
    )
    result = _validate(str(script))
    assert result.exit_code == 2 and len(result.output) < 1000
