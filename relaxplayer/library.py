"""Finding sessions by name: the built-in library, the user's folder and ``RELAXPLAYER_PATH``.

A name (``back-relief``) is looked up in the user's folders first, so a user
can shadow a built-in session with their own version; a path is used as is.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

from relaxplayer.errors import ConfigError

SUFFIXES = (".yaml", ".yml")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class Entry:
    """A session file and where it comes from (``builtin``, ``user`` or ``path``)."""

    name: str
    path: Path
    origin: str
    shadowed: Path | None = None


def builtin_dir() -> Path:
    """The shipped sessions: package data when installed, the repository's ``sessions/`` in a checkout."""
    packaged = Path(str(resources.files("relaxplayer") / "sessions"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "sessions"


def user_dir() -> Path:
    """Where ``new`` writes: ``$RELAXPLAYER_CONFIG/sessions`` or the platform's user config folder."""
    configured = os.environ.get("RELAXPLAYER_CONFIG")
    if not configured:
        return Path(platformdirs.user_config_dir("relaxplayer")) / "sessions"
    return _env_folder("RELAXPLAYER_CONFIG", configured) / "sessions"


def user_dirs() -> list[Path]:
    """The user folder, then every folder in ``RELAXPLAYER_PATH`` (os.pathsep-separated), in order."""
    extra = [
        _env_folder("RELAXPLAYER_PATH", p)
        for p in os.environ.get("RELAXPLAYER_PATH", "").split(os.pathsep)
        if p
    ]
    return [user_dir(), *extra]


def _env_folder(variable: str, value: str) -> Path:
    """A folder named in an environment variable, ``~`` expanded; a ``ConfigError`` for
    ``~nosuchuser`` (never a literal ``~x/`` folder in the working directory)."""
    try:
        path = Path(value).expanduser()
    except RuntimeError:
        raise ConfigError(
            f"{variable}={_printable(value)!r}: cannot find the home folder of "
            f"'{_printable(value.split(os.sep)[0])}'; write the folder out in full"
        ) from None
    if str(path).startswith("~"):
        raise ConfigError(
            f"{variable}={_printable(value)!r}: cannot expand '~' here; write the folder out in full"
        )
    return path


def _printable(text: str) -> str:
    """``text`` safe to print: undecodable bytes of a file name shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _scan(folder: Path) -> dict[str, Path]:
    """Sessions in one search folder; a folder that cannot be read (a bad entry in
    ``RELAXPLAYER_PATH``, no permission) holds none rather than stopping ``list``."""
    try:
        if not folder.is_dir():
            return {}
        return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in SUFFIXES and p.is_file()}
    except (OSError, ValueError):
        return {}


def list_sessions() -> list[Entry]:
    """Every session by name; a user session hides a built-in (or later folder's) one of the same name."""
    found: dict[str, Entry] = {}
    for folder in user_dirs():
        for name, path in _scan(folder).items():
            found.setdefault(name, Entry(name, path, "user"))
    for name, path in _scan(builtin_dir()).items():
        if name in found:
            found[name] = Entry(name, found[name].path, "user", shadowed=path)
        else:
            found[name] = Entry(name, path, "builtin")
    return sorted(found.values(), key=lambda e: e.name)


def find(name_or_path: str) -> Entry:
    """A session by path (anything with a slash or a .yaml suffix, or an existing file) or by name."""
    path = _user_path(name_or_path)
    if path.suffix in SUFFIXES or os.sep in name_or_path or _is_file(path, name_or_path):
        return Entry(path.stem, path, "path")
    entries = {e.name: e for e in list_sessions()}
    if name_or_path in entries:
        return entries[name_or_path]
    close = difflib.get_close_matches(name_or_path, list(entries), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"no session named '{name_or_path}'{hint} (`relaxplayer list` shows them all)"
    )


def _user_path(name_or_path: str) -> Path:
    """``~`` expanded, or a ``ConfigError`` for ``~nosuchuser`` (which pathlib raises
    as RuntimeError)."""
    try:
        return Path(name_or_path).expanduser()
    except RuntimeError:
        raise ConfigError(
            f"cannot find the home folder in '{name_or_path}'; write the path out in full"
        ) from None


def _is_file(path: Path, name_or_path: str) -> bool:
    """``Path.is_file``, with a clear ``ConfigError`` for a name no file can have."""
    try:
        return path.is_file()
    except OSError as exc:
        raise ConfigError(f"'{name_or_path}' is not a usable file name: {exc.strerror}") from None


STARTER = """\
# {title}: a relaxplayer session. Every key is described in docs/format.md;
# check it with `relaxplayer validate {name}` and hear it with `relaxplayer play {name}`.
title: {title}
description: What this session is for, in a sentence or two.
tags: [custom]

voice: {{engine: auto, speed: 0.9}}     # auto: Piper if installed, else espeak-ng
narration: {{gap: 1.5s}}                # silence after each spoken line

background:
  sound: rain                           # rain | ocean | pink-noise | brown-noise | white-noise | a file
  volume: 30%                           # or "-12 dB"
  duck: 8 dB                            # dips under the voice
  fade_in: 8s

end:
  fade_out: 15s                         # fade at the very end
  # linger: 20m                         # keep the background playing afterwards: a sleep timer

steps:
  - section: Arrive
  - say: Find a comfortable position, and let your eyes close.
  - bell: bowl                          # bowl | chime | soft | a file
  - pause: 5s

  - section: Breathe
  - say: Breathe in as the tone rises, and out as it falls.
  - breathe: relax                      # box | 4-7-8 | coherent | relax | {{inhale: 4, hold: 2, exhale: 6}}
    cycles: 6                           # or  for: 2m
    cue: tones                          # tones | voice | bell | none

  - section: Rest
  - timer: 1m                           # exactly one minute per side
    say: Rest your hand on your {{side}} shoulder, and let it soften.
    sides: [left, right]
    every: 30s                          # a soft bell every 30 seconds

  - say: When you are ready, slowly open your eyes.
  - pause: 3s
"""


def starter_text(name: str) -> str:
    """A commented starter session that validates as is."""
    title = name.replace("-", " ").capitalize()
    return STARTER.format(name=name, title=title)


def new_session(name: str, folder: Path | None = None, force: bool = False) -> Path:
    """Write a starter session ``<folder>/<name>.yaml`` atomically; refuse to overwrite unless ``force``."""
    if not NAME.match(name):
        raise ConfigError(
            f"'{name}' is not a session name: use lower-case letters, digits and dashes, "
            "like evening-stretch"
        )
    folder = folder or user_dir()
    path = folder / f"{name}.yaml"
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; move it away or choose another name")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; use --force to replace it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(
            f"cannot make the sessions folder {folder}: a file is in the way "
            "(is RELAXPLAYER_CONFIG a file? it names a folder)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot make the sessions folder {folder}: {exc.strerror}") from None
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(starter_text(name), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        where = folder if isinstance(exc, PermissionError) else path
        raise ConfigError(f"cannot write {where}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone after the replace; left behind only by a failure
    return path
