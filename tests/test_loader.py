"""The real YAML loader on good and broken scripts, with exact messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relaxplayer.errors import SessionError
from relaxplayer.loader import MAX_FILE_BYTES, load_session, parse_session
from relaxplayer.model import Background, Breathe, BreathPattern, End, Repeat, Say, Timer

DATA = Path(__file__).parent / "data"
BROKEN = sorted((DATA / "broken").glob("*.yaml"))


def test_full_example_loads_every_key() -> None:
    s = load_session(DATA / "good" / "full.yaml")
    assert s.title == "Back relief at the desk"
    assert s.tags == ("self-massage", "back")
    assert s.voice.engine == "piper" and s.voice.speed == 0.9
    assert s.narration_gap == 1.0
    assert s.background == Background(sound="ocean", volume=0.3, duck_db=8.0, fade_in=10.0)
    assert s.end == End(fade_out=20.0, linger=900.0)
    breathe = [st for st in s.steps if isinstance(st, Breathe)]
    assert breathe[0].pattern == BreathPattern(4, 7, 8) and breathe[0].cycles == 4
    # for: 2m with a 13 s cycle fits 9 whole cycles
    assert breathe[1].pattern == BreathPattern(4, 2, 6, 1) and breathe[1].cycles == 9
    timer = next(st for st in s.steps if isinstance(st, Timer))
    assert timer.sides == ("left", "right") and timer.every == 30.0 and timer.duration == 90.0
    repeat = next(st for st in s.steps if isinstance(st, Repeat))
    assert repeat.count == 2 and isinstance(repeat.steps[0], Say)


def test_marks_point_at_the_step() -> None:
    s = load_session(DATA / "good" / "full.yaml")
    assert s.steps[1].mark is not None
    assert (s.steps[1].mark.line, s.steps[1].mark.column) == (16, 5)


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_scripts_give_exact_messages(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text()
    with pytest.raises(SessionError) as info:
        load_session(path)
    text = str(info.value).replace(str(path), "{file}").replace(str(path.parent), "{dir}")
    assert text + "\n" == expected


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SessionError) as info:
        load_session(DATA / "broken" / "many.yaml")
    assert len(info.value.problems) == 10
    lines = [int(p.split(":")[1]) for p in info.value.problems]
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 90.0), ("1m30s", 90.0), ("1.5m", 90.0), ("250ms", 0.25), ("1h", 3600.0)],
)
def test_durations(value: str, seconds: float) -> None:
    text = f"title: t\nsteps:\n  - pause: {value}\n"
    assert parse_session(text, "t.yaml", Path(".")).steps[0].duration == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "cannot read 'ten' as a duration"),
        ("[1, 2]", "expected a duration, got a list"),
        (".nan", "duration nan is not a finite number"),
        (".inf", "duration inf is too long: it is not a finite number"),
        ("1e309", "duration '1e309' is too long: it is not a finite number"),
    ],
)
def test_bad_durations(value: str, message: str) -> None:
    text = f"title: t\nsteps:\n  - pause: {value}\n"
    with pytest.raises(SessionError) as info:
        parse_session(text, "t.yaml", Path("."))
    assert info.value.problems[0].startswith(f"t.yaml:3:12: error: steps[0].pause: {message}")


def test_folder_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="is a folder, not a session file"):
        load_session(tmp_path)
    with pytest.raises(SessionError, match="no such file"):
        load_session(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(SessionError, match="the file is empty"):
        load_session(tmp_path / "empty.yaml")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(SessionError, match="expected a mapping of keys"):
        parse_session("- say: hi\n", "t.yaml", Path("."))


def test_python_tags_are_never_constructed() -> None:
    text = "title: t\nsteps:\n  - pause: !!python/name:os.system 5\n"
    with pytest.raises(SessionError) as info:
        parse_session(text, "t.yaml", Path("."))
    assert info.value.problems == [
        "t.yaml:3:12: error: steps[0].pause: the tag !!python/name:os.system is not supported; "
        "remove it (only !!str, !!int, !!float, !!bool and !!null are understood)\n"
        "      - pause: !!python/name:os.system 5\n"
        "               ^~~~~~~~~~~~~~~~~~~~~~~~~"
    ]


def test_paths_are_relative_to_the_script(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    clip = tmp_path / "clips" / "hello.wav"
    clip.write_bytes(b"RIFF")
    text = "title: t\nsteps:\n  - play: clips/hello.wav\n    text: Hello\n"
    seen = []
    s = parse_session(text, str(tmp_path / "s.yaml"), tmp_path, probe=seen.append)
    assert s.steps[0].path == clip.resolve()
    assert seen == [clip.resolve()]


def test_probe_failures_are_reported_with_their_position(tmp_path: Path) -> None:
    from relaxplayer.errors import AssetError

    (tmp_path / "bad.wav").write_bytes(b"not audio")

    def probe(path: Path) -> None:
        raise AssetError(f"cannot decode {path.name}")

    text = "title: t\nsteps:\n  - play: bad.wav\n"
    with pytest.raises(SessionError) as info:
        parse_session(text, "s.yaml", tmp_path, probe=probe)
    assert str(info.value).startswith("s.yaml:3:11: error: steps[0].play: cannot decode bad.wav")


def test_probe_runs_even_when_other_things_are_wrong(tmp_path: Path) -> None:
    from relaxplayer.errors import AssetError

    (tmp_path / "bad.wav").write_bytes(b"not audio")

    def probe(path: Path) -> None:
        raise AssetError(f"cannot decode {path.name}")

    text = "title: t\nsteps:\n  - pause: -1\n  - play: bad.wav\n"
    with pytest.raises(SessionError) as info:
        parse_session(text, "s.yaml", tmp_path, probe=probe)
    heads = [p.splitlines()[0] for p in info.value.problems]
    assert heads == [
        "s.yaml:3:12: error: steps[0].pause: duration -1 is negative; it must be longer than zero",
        "s.yaml:4:11: error: steps[1].play: cannot decode bad.wav",
    ]


def test_a_nul_character_is_reported_by_line_and_column() -> None:
    with pytest.raises(SessionError) as info:
        parse_session("title: t\nsteps:\n  - say: a\0b\n", "t.yaml", Path("."))
    assert info.value.problems == [
        "t.yaml:3:11: error: invalid YAML: the character U+0000 is not allowed in a YAML file; "
        "remove it\n      - say: a\ufffdb\n              ^"
    ]


def test_undecodable_bytes_are_reported_by_character_column(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes("title: t\nsteps:\n  - say: Café ".encode() + b"\xff\n")
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert str(info.value) == (
        f"{path}:3:15: error: not UTF-8 text (byte 0xff); save the file as UTF-8\n"
        "      - say: Café \ufffd\n"
        "                  ^"
    )


def test_devices_and_pipes_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(SessionError) as info:
            load_session(path)
        assert str(info.value) == (
            f"{path}: error: is not a regular file (a device or a pipe); name a .yaml file"
        )


def test_oversized_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert str(info.value) == (
        f"{path}: error: file is over 1000000 bytes; a session script is smaller"
    )


def test_unreadable_file_names_are_session_errors(tmp_path: Path) -> None:
    with pytest.raises(SessionError) as info:
        load_session(tmp_path / ("a" * 300 + ".yaml"))
    assert str(info.value).endswith(".yaml: error: cannot read: File name too long")
    with pytest.raises(SessionError) as info:
        load_session("a\0b.yaml")
    assert str(info.value) == "'a\\x00b.yaml': error: a file name cannot contain a NUL character"


def test_the_cue_cap_counts_repeats_cycles_and_bells() -> None:
    text = (
        "title: t\nsteps:\n  - repeat: 1000\n    steps:\n"
        "      - breathe: {inhale: 0.5, exhale: 0.5}\n        cycles: 24\n      - bell: soft\n"
        "  - timer: 2h\n    every: 1s\n"
    )
    with pytest.raises(SessionError) as info:
        parse_session(text, "t.yaml", Path("."))
    assert [p.splitlines()[0] for p in info.value.problems] == [
        "t.yaml:8:5: error: steps[1]: the session has 106,202 cues by the end of this step "
        "(steps, breaths and bells, with repeats expanded); the limit is 100,000: "
        "use fewer repeats or cycles"
    ]
    s = parse_session(text.replace("2h", "1m"), "t.yaml", Path("."))
    assert isinstance(s.steps[0], Repeat) and s.steps[1].every == 1.0
