"""config.yaml through the real YAML loader and the real session library: exact messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaxplayer.errors import ConfigError, SessionError
from relaxplayer.service.config import (
    DAYS,
    Button,
    Config,
    ConfigFileError,
    Schedule,
    load_config,
    parse_address,
    parse_config,
)

GOOD = """\
output: alsa
device: hw:1
volume: 60%
default_session: bedtime-body-scan
history: false
sleep_fade: 90s
button: {pin: 17, hold: 3}
schedules:
  - {at: 22:30, session: bedtime-body-scan, days: [mon, tue, wed, thu, fri], volume: 40%, sleep: 45m}
  - {at: "7:05", session: default, days: weekends}
listen: 0.0.0.0:8737
mpd: on
"""


def test_a_full_config() -> None:
    config = parse_config(GOOD, "config.yaml")
    assert config == Config(
        output="alsa",
        device="hw:1",
        volume=0.6,
        default_session="bedtime-body-scan",
        history=False,
        sleep_fade=90.0,
        button=Button(pin=17, hold=3.0),
        schedules=(
            Schedule("22:30", "bedtime-body-scan", DAYS[:5], 0.4, 2700.0, 9),
            Schedule("07:05", "default", ("sat", "sun"), None, None, 10),
        ),
        listen="0.0.0.0:8737",
        mpd="127.0.0.1:6600",
        source=Path("config.yaml"),
    )


def test_no_file_means_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAXPLAYER_CONFIG", str(tmp_path))
    config = load_config()
    assert config == Config() and config.sleep_fade == 60.0 and config.button is None
    (tmp_path / "config.yaml").write_text("sleep_fade: 2m\n")
    assert load_config().sleep_fade == 120.0
    with pytest.raises(ConfigFileError, match="no such file"):
        load_config(tmp_path / "missing.yaml")


def test_an_empty_file_is_the_defaults() -> None:
    assert parse_config("# nothing yet\n", "c.yaml") == Config(source=Path("c.yaml"))


def errors(text: str) -> str:
    with pytest.raises(ConfigFileError) as info:
        parse_config(text, "config.yaml")
    assert isinstance(info.value, SessionError) and isinstance(info.value, ConfigError)
    assert info.value.exit_code == 2
    return str(info.value)


def test_every_problem_at_once_with_positions_and_suggestions() -> None:
    text = """\
output: alsaa
volum: 40%
schedules:
  - {at: "25:00", session: bedtime-body-scn, days: [mon, tuse]}
listen: 0.0.0.0:99999
"""
    assert errors(text) == (
        "config.yaml:1:9: error: output: unknown output 'alsaa'; did you mean 'alsa'?\n"
        "    output: alsaa\n"
        "            ^~~~~\n"
        "config.yaml:2:1: error: unknown key 'volum'; did you mean 'volume'?\n"
        "    volum: 40%\n"
        "    ^~~~~\n"
        'config.yaml:4:10: error: schedules[0].at: expected a time of day like "22:30" (24-hour), '
        "got '25:00'\n"
        '      - {at: "25:00", session: bedtime-body-scn, days: [mon, tuse]}\n'
        "             ^~~~~~~\n"
        "config.yaml:4:28: error: schedules[0].session: no session named 'bedtime-body-scn'; "
        "did you mean bedtime-body-scan? (`relaxplayer list` shows them all)\n"
        '      - {at: "25:00", session: bedtime-body-scn, days: [mon, tuse]}\n'
        "                               ^~~~~~~~~~~~~~~~\n"
        "config.yaml:4:58: error: schedules[0].days[1]: unknown day 'tuse'; did you mean 'tue'?\n"
        '      - {at: "25:00", session: bedtime-body-scn, days: [mon, tuse]}\n'
        "                                                             ^~~~\n"
        "config.yaml:5:9: error: listen: port '99999' must be a number from 1 to 65535; "
        "write it like 127.0.0.1:8737 or 0.0.0.0:8737\n"
        "    listen: 0.0.0.0:99999\n"
        "            ^~~~~~~~~~~~~"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schedules:\n  - {session: default}\n", "schedules[0]: missing 'at'; add  at: \"22:30\""),
        ("button: {hold: 2}\n", "button: missing 'pin'; add the BCM number, like  pin: 17"),
        ("button: {pin: 40}\n", "button.pin: must be from 0 to 27, got 40"),
        ("button: {pin: 17, hodl: 2}\n", "button: unknown key 'hodl'; did you mean 'hold'?"),
        ("button: {pin: 17, hold: 0.1}\n", "button.hold: must be from 0.2 to 30.0, got 0.1"),
        ("volume: 150%\n", "volume: at most 100% (0 dB); the box never amplifies"),
        ("history: maybe\n", "history: expected true or false, got 'maybe'"),
        ("sleep_fade: soon\n", "sleep_fade: cannot read 'soon' as a duration"),
        ("mpd: '::1:6600'\n", "mpd: write an IPv6 address in brackets, like [::1]:6600"),
        ("listen: 8737\n", "listen: '8737' is not host:port"),
        ("default_session: nope\n", "default_session: no session named 'nope'"),
        ("schedules: {at: 1}\n", "schedules: expected a list of entries"),
        ("schedules:\n  - {at: '22:30', session: default, days: []}\n", "expected a list of days"),
        ("output: 'file:'\n", "output: file needs a path"),
        ("- just a list\n", "expected a mapping of keys (output, device"),
        (
            "volume: !!python/object:os.system x\n",
            "the tag !!python/object:os.system is not supported",
        ),
        ("a: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_values(text: str, message: str) -> None:
    assert message in errors(text)


def test_good_values() -> None:
    config = parse_config(
        "output: pipe:/run/snapfifo\nbutton: {pin: GPIO27, bounce: null, pull_up: no}\n"
        "mpd: '[::1]:6600'\nschedules: []\n",
        "c.yaml",
    )
    assert config.output == "pipe:/run/snapfifo" and config.mpd == "[::1]:6600"
    assert config.button == Button(pin="GPIO27", hold=2.0, pull_up=False, bounce=None)


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8737") == ("127.0.0.1", 8737)
    assert parse_address("[::]:6600") == ("::", 6600)
    assert parse_address("bedside.local:80") == ("bedside.local", 80)
    assert parse_address("300.1.1.1:80") == "'300.1.1.1' is not an IPv4 address"
    assert parse_address("host:0") == "port '0' must be a number from 1 to 65535"


def test_every_key_is_documented() -> None:
    from relaxplayer.service.config import BUTTON_KEYS, SCHEDULE_KEYS, TOP_KEYS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()
    missing = [k for k in (*TOP_KEYS, *BUTTON_KEYS, *SCHEDULE_KEYS) if f"| `{k}` |" not in doc]
    assert missing == []
