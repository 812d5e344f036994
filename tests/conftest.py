"""Shared fixtures: an isolated cache and state folder per test session, and session helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from relaxplayer.loader import parse_session
from relaxplayer.mixer import Mixer, SoundBank
from relaxplayer.timeline import build_timeline

RATE = 16000
ROOT = Path(__file__).resolve().parent.parent


SCRIPT = ROOT / "scripts" / "test-audio.sh"
STARTED = pytest.StashKey[Path]()


def card_running(folder: Path) -> bool:
    """Whether the virtual card of ``folder`` (its PulseAudio) runs now."""
    status = subprocess.run(["bash", str(SCRIPT), "--status", str(folder)], check=False)
    return status.returncode == 0


def start_card(folder: Path) -> tuple[dict[str, str], bool]:
    """Run scripts/test-audio.sh: the environment it prints, and whether it started the card
    (False: it was running already, someone else's to stop)."""
    running = card_running(folder)
    result = subprocess.run(
        ["bash", str(SCRIPT), str(folder)], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise pytest.UsageError(f"scripts/test-audio.sh failed:\n{result.stderr}")
    env = {}
    for part in result.stdout.strip().removeprefix("export ").split(" "):
        name, _, value = part.partition("=")
        env[name] = value.strip("'")
    return env, not running


def stop_card(folder: Path) -> None:
    """Stop the PulseAudio daemon and keep-alive pacat of ``folder``."""
    subprocess.run(["bash", str(SCRIPT), "--stop", str(folder)], check=False, timeout=30)


def pytest_configure(config: pytest.Config) -> None:
    """Start the virtual sound card before anything loads ALSA or PortAudio.

    It must exist before the first ``import sounddevice``, which reads the ALSA
    configuration once. Without pulseaudio the ``audio`` tests are skipped. A
    card this run started is stopped when it ends (``pytest_unconfigure``).
    """
    if shutil.which("pulseaudio") is None or "AUDIO_CAPTURE" in os.environ:
        return
    folder = Path(config.rootpath) / ".pytest_cache" / "vsnd"
    env, started = start_card(folder)
    os.environ.update(env)
    if started:
        config.stash[STARTED] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    if (folder := config.stash.get(STARTED, None)) is not None:
        stop_card(folder)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "AUDIO_CAPTURE" in os.environ:
        return
    skip = pytest.mark.skip(
        reason="no virtual sound card: install pulseaudio (scripts/test.sh does)"
    )
    for item in items:
        if "audio" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's real cache or state while testing."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RELAXPLAYER_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("RELAXPLAYER_STATE", str(tmp_path_factory.mktemp("state")))
    mp.setenv("RELAXPLAYER_CONFIG", str(tmp_path_factory.mktemp("config")))
    mp.delenv("RELAXPLAYER_PATH", raising=False)


def make_mixer(
    yaml_text: str,
    rate: int = RATE,
    channels: int = 2,
    narrator: object | None = None,
    base: Path = Path("."),
) -> Mixer:
    """Real loader -> timeline -> mixer for a script given as text."""
    session = parse_session(yaml_text, "test.yaml", base)
    bank = SoundBank(rate, narrator)
    return Mixer(build_timeline(session, rate, bank.measure), bank, channels)


def render_all(mixer: Mixer, block: int = 4096) -> np.ndarray:
    return np.concatenate(list(mixer.blocks(block)))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def db(x: float) -> float:
    return 20 * np.log10(max(x, 1e-12))
