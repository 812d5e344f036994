"""The pairing token that both remotes ask for when they listen beyond loopback.

Generated on first use, printed once by ``serve``, kept in a file only its
owner can read (mode 0600). The config folder comes first; where it is
read-only (the systemd unit's ``/etc/relaxplayer``), the state folder.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from relaxplayer.errors import ConfigError

FILE_NAME = "remote-token"
_made_here: set[Path] = set()  # tokens this process made: each remote may still show it once


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: no token needed there."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _candidates() -> list[Path]:
    from relaxplayer.service.config import config_dir
    from relaxplayer.state import state_dir

    return [config_dir() / FILE_NAME, state_dir() / FILE_NAME]


def load_or_create(folders: list[Path] | None = None) -> tuple[str, Path, bool]:
    """``(token, where, created)``: the stored token, or a new one written with mode 0600."""
    paths = [f / FILE_NAME for f in folders] if folders is not None else _candidates()
    for path in paths:
        try:
            token = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if len(token) >= 16:
            return token, path, False
    token = secrets.token_urlsafe(24)
    problems = []
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(token + "\n")
            os.chmod(path, 0o600)
            _made_here.add(path)
            return token, path, True
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
    raise ConfigError("cannot store the remote pairing token: " + "; ".join(problems))


def made_here(path: Path) -> bool:
    """True if this process made the token at ``path``: when the MPD server made it, the
    phone page still shows its pairing address once."""
    return path in _made_here


def matches(given: str | None, token: str | None) -> bool:
    """Constant-time comparison; no token configured means nothing matches."""
    if not given or not token:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii"))
