"""The virtual sound card for the output tests: scripts/test-audio.sh, once per test session.

The top-level conftest already starts it before anything imports sounddevice
(PortAudio lists ALSA devices once, when it loads); this fixture makes the
output tests stand on their own: it runs the (idempotent) script again, sets
the environment it prints, and makes PortAudio list devices again if it was
loaded before the card existed. A card it had to start, it stops at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import start_card, stop_card

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
    env, started = start_card(folder)
    try:
        with pytest.MonkeyPatch.context() as mp:
            changed = False
            for name, value in env.items():
                changed |= os.environ.get(name) != value
                mp.setenv(name, value)
            if changed:
                from relaxplayer.outputs import portaudio

                portaudio.rescan()
            yield VirtualCard(Path(os.environ["AUDIO_CAPTURE"]))
    finally:
        if started:  # not the one the top-level conftest (or the caller) runs
            stop_card(folder)
