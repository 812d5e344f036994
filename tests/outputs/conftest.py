"""The virtual sound card for the output tests: scripts/test-audio.sh, once per test session.

The top-level conftest already starts it before anything imports sounddevice
(PortAudio lists ALSA devices once, when it loads); this fixture makes the
output tests stand on their own: it runs the (idempotent) script again, sets
the environment it prints, and makes PortAudio list devices again if it was
loaded before the card existed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APT = "sudo apt install pulseaudio pulseaudio-utils libasound2-plugins alsa-utils"


@dataclass
class VirtualCard:
    """Where the ALSA ``file`` plugin appends every sample played through ``default``."""

    capture: Path

    def reset(self) -> None:
        self.capture.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def virtual_card(request: pytest.FixtureRequest) -> Iterator[VirtualCard]:
    if shutil.which("pulseaudio") is None:
        pytest.skip(f"no virtual sound card: pulseaudio is not installed ({APT})")
    if "AUDIO_CAPTURE" in os.environ:
        folder = Path(os.environ["AUDIO_CAPTURE"]).parent
    else:
        folder = Path(request.config.rootpath) / ".pytest_cache" / "vsnd"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test-audio.sh"), str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/test-audio.sh failed:\n{result.stderr}", pytrace=False)
    env = dict(
        part.split("=", 1) for part in result.stdout.strip().removeprefix("export ").split(" ")
    )
    with pytest.MonkeyPatch.context() as mp:
        changed = False
        for name, value in env.items():
            changed |= os.environ.get(name) != value.strip("'")
            mp.setenv(name, value.strip("'"))
        if changed:
            from relaxplayer.outputs import portaudio

            portaudio.rescan()
        yield VirtualCard(Path(os.environ["AUDIO_CAPTURE"]))
