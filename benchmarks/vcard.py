"""The virtual sound card of scripts/test-audio.sh, for the benchmarks that play through it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

CARD = Path(__file__).resolve().parent.parent / "scripts" / "test-audio.sh"


@contextlib.contextmanager
def virtual_card(folder: Path) -> Iterator[dict[str, str]]:
    """The card's environment variables while the block runs; its PulseAudio is stopped after."""
    out = subprocess.run(
        ["bash", str(CARD), str(folder)], capture_output=True, text=True, check=True
    ).stdout
    env: dict[str, str] = {}
    for part in out.strip().removeprefix("export ").split(" "):
        name, _, value = part.partition("=")
        env[name] = value.strip("'")
    try:
        yield env
    finally:
        subprocess.run(["bash", str(CARD), "--stop", str(folder)], capture_output=True, check=False)
