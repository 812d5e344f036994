"""The bedside box's one config file, ``config.yaml``, validated like a session script.

Errors read exactly like session errors (``file:line:col: error: where: what``
with the line and a caret, every problem at once, did-you-mean for keys): this
module reuses the loader's node helpers and formatter rather than having its
own. A config with any error never starts a half-working service, and a
schedule naming a session that does not exist fails here, at start, not at 22:30.

Uses the loader's private helpers (``_Ctx``, ``_compose``, ``_check_tags``,
``_mapping``, ``_suggest``, ``_text``, ``_duration``, ``_level``, ``_number``,
``_int``, ``_kind``): one error style needs one implementation.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import yaml

from relaxplayer import library
from relaxplayer.errors import ConfigError, RelaxError, SessionError
from relaxplayer.loader import (
    MAX_FILE_BYTES,
    _check_tags,
    _compose,
    _Ctx,
    _duration,
    _int,
    _kind,
    _level,
    _mapping,
    _number,
    _suggest,
    _text,
)
from relaxplayer.outputs import NAMES as OUTPUT_NAMES

FILE_NAME = "config.yaml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_GROUPS = {
    "daily": DAYS,
    "weekdays": DAYS[:5],
    "weekends": DAYS[5:],
}
TOP_KEYS = (
    "output",
    "device",
    "volume",
    "default_session",
    "history",
    "sleep_fade",
    "button",
    "schedules",
    "listen",
    "mpd",
)
BUTTON_KEYS = ("pin", "hold", "pull_up", "bounce")
SCHEDULE_KEYS = ("at", "session", "days", "volume", "sleep")
DEFAULT_LISTEN = "127.0.0.1:8737"
DEFAULT_MPD = "127.0.0.1:6600"
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_PIN = re.compile(r"^(GPIO\d{1,2}|BCM\d{1,2}|BOARD\d{1,2}|J8:\d{1,2}|WPI\d{1,2})$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class ConfigFileError(SessionError, ConfigError):
    """Problems in ``config.yaml``: a ``SessionError`` so it prints the same way (every problem,
    then the count; exit 2), and a ``ConfigError`` because that is what it is."""


@dataclass(frozen=True)
class Button:
    pin: int | str = 17  # BCM number (17 is header pin 11), or a gpiozero name like "GPIO17"
    hold: float = 2.0  # seconds: a press this long stops with a fade
    pull_up: bool = True  # button between the pin and ground
    bounce: float | None = 0.05  # seconds of switch bounce ignored


@dataclass(frozen=True)
class Schedule:
    at: str  # "HH:MM", local time
    session: str
    days: tuple[str, ...] = DAYS
    volume: float | None = None  # linear gain
    sleep: float | None = None  # seconds: a sleep timer started with the session
    line: int = 0  # where it is written, for messages

    @property
    def hour(self) -> int:
        return int(self.at.split(":")[0])

    @property
    def minute(self) -> int:
        return int(self.at.split(":")[1])


@dataclass(frozen=True)
class Config:
    output: str = "auto"
    device: str | None = None
    volume: float = 1.0  # linear gain
    default_session: str = "default"
    history: bool = True
    sleep_fade: float = 60.0  # seconds: the fade that ends a sleep timer
    button: Button | None = None  # None: no button configured
    schedules: tuple[Schedule, ...] = ()
    listen: str = DEFAULT_LISTEN  # web remote, host:port
    mpd: str | None = None  # MPD protocol server, host:port; None: off
    source: Path | None = None  # the file it came from


def config_dir() -> Path:
    """``$RELAXPLAYER_CONFIG`` or the platform's user config folder (sessions live below it too)."""
    return Path(os.environ.get("RELAXPLAYER_CONFIG") or platformdirs.user_config_dir("relaxplayer"))


def default_path() -> Path:
    return config_dir() / FILE_NAME


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config; no file at the default place means the defaults.

    A path given explicitly must exist.
    """
    explicit = path is not None
    path = path or default_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigFileError([f"{path}: error: no such file"]) from None
        return Config()
    except OSError as exc:
        raise ConfigFileError([f"{path}: error: cannot read: {exc.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigFileError([f"{path}: error: file is over {MAX_FILE_BYTES} bytes"])
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            [f"{path}: error: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"]
        ) from None
    return parse_config(text, str(path))


def parse_config(text: str, file: str) -> Config:
    """Validate config ``text`` (named ``file`` in messages); raises ``ConfigFileError``."""
    ctx = _Ctx(file=file, lines=text.splitlines(), base=Path(file).parent)
    try:
        root = _compose(ctx, text)
    except SessionError as exc:
        raise ConfigFileError(exc.problems) from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
        return Config(source=Path(file))
    _check_tags(ctx, root)
    config = _config(ctx, root, Path(file))
    if ctx.problems or config is None:
        raise ConfigFileError(ctx.problems)
    return config


def _config(ctx: _Ctx, root: yaml.Node, source: Path) -> Config | None:
    keys = _mapping(ctx, root, "", TOP_KEYS)
    if keys is None:
        return None
    values: dict[str, object] = {"source": source}
    if "output" in keys:
        values["output"] = _output(ctx, keys["output"][1])
    if "device" in keys:
        node = keys["device"][1]
        values["device"] = None if _is_null(node) else _text(ctx, node, "device")
    if "volume" in keys and (v := _level(ctx, keys["volume"][1], "volume")) is not None:
        if v > 1.0:
            ctx.error(keys["volume"][1], "volume", "at most 100% (0 dB); the box never amplifies")
        values["volume"] = min(v, 1.0)
    if "default_session" in keys:
        values["default_session"] = _session_name(
            ctx, keys["default_session"][1], "default_session"
        )
    if "history" in keys:
        values["history"] = _bool(ctx, keys["history"][1], "history")
    if "sleep_fade" in keys:
        values["sleep_fade"] = _duration(
            ctx, keys["sleep_fade"][1], "sleep_fade", positive=False, limit=3600
        )
    if "button" in keys:
        values["button"] = _button(ctx, keys["button"][1])
    if "schedules" in keys:
        values["schedules"] = _schedules(ctx, keys["schedules"][1])
    if "listen" in keys:
        values["listen"] = _address(ctx, keys["listen"][1], "listen")
    if "mpd" in keys:
        node = keys["mpd"][1]
        values["mpd"] = (
            None
            if _is_null(node) or _plain(node) in ("off", "false")
            else (DEFAULT_MPD if _plain(node) in ("on", "true") else _address(ctx, node, "mpd"))
        )
    if ctx.problems:
        return None
    return Config(**{k: v for k, v in values.items()})  # type: ignore[arg-type]


# --- values ---------------------------------------------------------------------------


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _plain(node: yaml.Node) -> str | None:
    """A scalar's text as written (``22:30`` stays text, where YAML 1.1 would make it 1350)."""
    return str(node.value).strip() if isinstance(node, yaml.ScalarNode) else None


def _bool(ctx: _Ctx, node: yaml.Node, where: str) -> bool | None:
    value = _plain(node)
    if value is not None and value.lower() in ("true", "yes", "on"):
        return True
    if value is not None and value.lower() in ("false", "no", "off"):
        return False
    ctx.error(node, where, f"expected true or false, got {_kind(node)}")
    return None


def _output(ctx: _Ctx, node: yaml.Node) -> str | None:
    value = _text(ctx, node, "output")
    if value is None:
        return None
    kind, sep, arg = value.partition(":")
    plain = tuple(n for n in OUTPUT_NAMES if ":" not in n)
    if (kind in ("pipe", "file") and sep and arg) or (value in plain):
        return value
    if kind == "file":
        ctx.error(node, "output", "file needs a path: write it like file:/var/tmp/out.wav")
        return None
    ctx.error(
        node,
        "output",
        f"unknown output '{value}'{_suggest(value, [*plain, 'pipe:PATH', 'file:PATH'])}",
    )
    return None


def _session_name(ctx: _Ctx, node: yaml.Node, where: str) -> str | None:
    """A session that exists now (``library.find``), so a typo fails at start."""
    name = _text(ctx, node, where)
    if name is None:
        return None
    try:
        library.find(name)
    except RelaxError as exc:
        ctx.error(node, where, str(exc))
        return None
    return name


def _button(ctx: _Ctx, node: yaml.Node) -> Button | None:
    if _is_null(node) or _plain(node) in ("off", "false"):
        return None
    keys = _mapping(ctx, node, "button", BUTTON_KEYS)
    if keys is None:
        return None
    values: dict[str, object] = {}
    if "pin" in keys:
        values["pin"] = _pin(ctx, keys["pin"][1])
    else:
        ctx.error(node, "button", "missing 'pin'; add the BCM number, like  pin: 17")
    if "hold" in keys:
        values["hold"] = _number_or_duration(ctx, keys["hold"][1], "button.hold", 0.2, 30.0)
    if "pull_up" in keys:
        values["pull_up"] = _bool(ctx, keys["pull_up"][1], "button.pull_up")
    if "bounce" in keys:
        b = keys["bounce"][1]
        values["bounce"] = (
            None if _is_null(b) else _number_or_duration(ctx, b, "button.bounce", 0.0, 1.0)
        )
    if any(v is None for k, v in values.items() if k != "bounce"):
        return None
    return Button(**values)  # type: ignore[arg-type]


def _pin(ctx: _Ctx, node: yaml.Node) -> int | str | None:
    value = _plain(node)
    if value is not None and value.isdigit():
        return _int(ctx, node, "button.pin", 0, 27)
    if value is not None and _PIN.match(value):
        return value
    ctx.error(
        node,
        "button.pin",
        f"expected a BCM pin number (0 to 27) or a name like GPIO17 or BOARD11, got {_kind(node)}",
    )
    return None


def _number_or_duration(
    ctx: _Ctx, node: yaml.Node, where: str, low: float, high: float
) -> float | None:
    """``2``, ``2.5`` or ``"2s"``/``"500ms"``: seconds, within ``[low, high]``."""
    value = _plain(node)
    if value is not None and re.fullmatch(r"\d+(\.\d+)?", value):
        return _number(ctx, node, where, low, high)
    seconds = _duration(ctx, node, where, positive=False, limit=high)
    if seconds is not None and seconds < low:
        ctx.error(node, where, f"must be at least {low:g} s")
        return None
    return seconds


def _schedules(ctx: _Ctx, node: yaml.Node) -> tuple[Schedule, ...]:
    if _is_null(node):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        ctx.error(
            node,
            "schedules",
            'expected a list of entries like  - {at: "22:30", session: bedtime-body-scan}',
        )
        return ()
    found = [_schedule(ctx, item, f"schedules[{i}]") for i, item in enumerate(node.value)]
    return tuple(s for s in found if s is not None)


def _schedule(ctx: _Ctx, node: yaml.Node, where: str) -> Schedule | None:
    keys = _mapping(ctx, node, where, SCHEDULE_KEYS)
    if keys is None:
        return None
    ok = True
    for required, example in (("at", 'at: "22:30"'), ("session", "session: bedtime-body-scan")):
        if required not in keys:
            ctx.error(node, where, f"missing '{required}'; add  {example}")
            ok = False
    at = _at(ctx, keys["at"][1], f"{where}.at") if "at" in keys else None
    session = (
        _session_name(ctx, keys["session"][1], f"{where}.session") if "session" in keys else None
    )
    days = _days(ctx, keys["days"][1], f"{where}.days") if "days" in keys else DAYS
    volume = None
    if "volume" in keys:
        volume = _level(ctx, keys["volume"][1], f"{where}.volume")
        if volume is not None and volume > 1.0:
            ctx.error(keys["volume"][1], f"{where}.volume", "at most 100% (0 dB)")
            volume = None
    sleep = None
    if "sleep" in keys:
        sleep = _duration(ctx, keys["sleep"][1], f"{where}.sleep", limit=24 * 3600)
    if not ok or at is None or session is None or days is None:
        return None
    return Schedule(at, session, days, volume, sleep, node.start_mark.line + 1)


def _at(ctx: _Ctx, node: yaml.Node, where: str) -> str | None:
    value = _plain(node)
    match = _AT.match(value) if value is not None else None
    if match is None:
        ctx.error(node, where, f'expected a time of day like "22:30" (24-hour), got {_kind(node)}')
        return None
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _days(ctx: _Ctx, node: yaml.Node, where: str) -> tuple[str, ...] | None:
    if isinstance(node, yaml.ScalarNode) and (value := _plain(node)) in DAY_GROUPS:
        return DAY_GROUPS[value]  # type: ignore[index]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        ctx.error(
            node,
            where,
            f"expected a list of days like [mon, tue, wed], or one of {', '.join(DAY_GROUPS)}",
        )
        return None
    days: list[str] = []
    for i, item in enumerate(node.value):
        value = (_plain(item) or "").lower()
        if value not in DAYS:
            ctx.error(item, f"{where}[{i}]", f"unknown day {_kind(item)}{_suggest(value, DAYS)}")
            return None
        if value in days:
            ctx.error(item, f"{where}[{i}]", f"'{value}' appears twice; keep one")
        days.append(value)
    return tuple(d for d in DAYS if d in days)


def _address(ctx: _Ctx, node: yaml.Node, where: str) -> str | None:
    """``host:port`` (``[::1]:6600`` for IPv6): checked now, not when the server binds."""
    value = _plain(node)
    problem = parse_address(value) if value is not None else "expected host:port"
    if isinstance(problem, str):
        ctx.error(node, where, f"{problem}; write it like 127.0.0.1:8737 or 0.0.0.0:8737")
        return None
    return value


def parse_address(value: str) -> tuple[str, int] | str:
    """``(host, port)`` for ``"host:port"``, or the reason it is not one."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        return f"'{value}' is not host:port"
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        return f"port '{port_text}' must be a number from 1 to 65535"
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"'{host}' is not an IPv6 address"
        return host[1:-1], int(port_text)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if ":" in host:
            return f"write an IPv6 address in brackets, like [{host}]:{port_text}"
        if host[0].isdigit() and host.replace(".", "").isdigit():
            return f"'{host}' is not an IPv4 address"
        if not _HOSTNAME.match(host):
            return f"'{host}' is not a host name"
    return host, int(port_text)
