"""Small pieces of user state (where playback stopped), written so a crash cannot corrupt them."""

from __future__ import annotations

import json
import os
import tempfile
import time
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


def save_resume_point(session: str, seconds: float) -> Path:
    """Record where playback of ``session`` broke off (seconds into it)."""
    path = state_dir() / "resume.json"
    write_json_atomic(
        path, {"session": session, "seconds": round(seconds, 3), "saved": time.time()}
    )
    return path


def load_resume_point() -> dict | None:
    """The last recorded resume point, or None when there is none or it is unreadable."""
    try:
        data = json.loads((state_dir() / "resume.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "session" in data and "seconds" in data else None
