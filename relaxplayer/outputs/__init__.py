"""Audio outputs behind one small protocol (``outputs.base.Output``), and how to pick one.

``auto`` tries portaudio, then alsa, then simpleaudio (only on Python < 3.12,
where it works), and says which it chose through the output's ``name``.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import Output

NAMES = ("auto", "portaudio", "alsa", "simpleaudio", "pipe", "file:PATH", "null")
NONE_WORKS = (
    "no audio output works here. Install PortAudio (sudo apt install libportaudio2) or "
    "ALSA's player (sudo apt install alsa-utils), check that a sound card is connected, "
    "or use --output file:session.wav, --output pipe or --output null"
)


@dataclass
class OutputInfo:
    name: str
    ok: bool
    detail: str
    devices: list[str] = field(default_factory=list)


def available_outputs() -> list[OutputInfo]:
    """Every output with whether it can work here, and the devices it would offer."""
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    pa_devices = portaudio.devices()
    alsa_cmd = alsa.player_command(44100, 2, None)
    sa_ok = simpleaudio.usable()
    return [
        OutputInfo(
            "portaudio",
            bool(pa_devices),
            "sounddevice callback stream (preferred)"
            if pa_devices
            else "no PortAudio output device (sudo apt install libportaudio2)",
            pa_devices,
        ),
        OutputInfo(
            "alsa",
            alsa_cmd is not None,
            f"pipe to {Path(alsa_cmd[0]).name}"
            if alsa_cmd
            else "needs aplay (sudo apt install alsa-utils)",
            _alsa_devices() if alsa_cmd else [],
        ),
        OutputInfo(
            "simpleaudio",
            sa_ok,
            "chunked, with short gaps (Python < 3.12 only)"
            if sa_ok
            else "unavailable (needs Python < 3.12 and the simpleaudio package)",
        ),
        OutputInfo(
            "pipe", True, "raw S16_LE PCM to stdout, or pipe:PATH for a FIFO (e.g. Snapcast)"
        ),
        OutputInfo("file:PATH", True, "WAV file, written as fast as it is mixed"),
        OutputInfo("null", True, "silent, paced in real time"),
    ]


def _alsa_devices() -> list[str]:
    aplay = shutil.which("aplay")
    if aplay is None:
        return []
    import subprocess

    try:
        listing = subprocess.run([aplay, "-L"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in listing.splitlines() if line and not line.startswith(" ")]


def open_output(spec: str, rate: int, channels: int, device: str | None = None) -> Output:
    """Make the output named by ``spec`` (not started yet), or raise ``OutputError`` saying why."""
    kind, _, arg = spec.partition(":")
    if kind == "auto":
        return _auto(rate, channels, device)
    if kind == "portaudio":
        from relaxplayer.outputs.portaudio import PortAudioOutput

        return PortAudioOutput(rate, channels, device)
    if kind == "alsa":
        from relaxplayer.outputs.alsa import AlsaOutput

        return AlsaOutput(rate, channels, device)
    if kind == "simpleaudio":
        from relaxplayer.outputs.simpleaudio import SimpleAudioOutput

        return SimpleAudioOutput(rate, channels)
    if kind == "pipe":
        from relaxplayer.outputs.pipe import PipeOutput

        return PipeOutput(Path(arg) if arg else None, rate, channels)
    if kind == "file" and arg:
        from relaxplayer.outputs.file import FileOutput

        return FileOutput(Path(arg), rate, channels)
    if kind == "null":
        from relaxplayer.outputs.null import NullOutput

        return NullOutput(rate, channels)
    raise OutputError(f"unknown output {spec!r}; choose one of: {', '.join(NAMES)}")


def _auto(rate: int, channels: int, device: str | None) -> Output:
    """The first output that can open a device here."""
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    if portaudio.devices():
        try:
            return open_output("portaudio", rate, channels, device)
        except OutputError:
            pass
    if alsa.player_command(rate, channels, device) is not None:
        return open_output("alsa", rate, channels, device)
    if sys.version_info < (3, 12) and simpleaudio.usable():
        return open_output("simpleaudio", rate, channels)
    raise OutputError(NONE_WORKS)
