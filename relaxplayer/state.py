"""Small pieces of user state (where playback stopped), written so a crash cannot corrupt them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import platformdirs


def state_dir() -> Path:
    """``$RELAXPLAYER_STATE`` or the platform's user state folder."""
    return Path(os.environ.get("RELAXPLAYER_STATE") or platformdirs.user_state_dir("relaxplayer"))


def write_json_atomic(path: Path, data: object) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
