"""Audio outputs behind one small protocol (``outputs.base.Output``), and how to pick one.

``auto`` tries portaudio, then alsa, then simpleaudio (only on Python < 3.12,
where it works): each is probed for the device without playing anything, and
the first that can open it is returned; its ``name`` says which was chosen.
When none works, the ``OutputError`` says why each failed and what to install.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import Output

NAMES = ("auto", "portaudio", "alsa", "simpleaudio", "pipe", "pipe:PATH", "file:PATH", "null")
INSTALL = (
    "install PortAudio (sudo apt install libportaudio2) or ALSA's player "
    "(sudo apt install alsa-utils), check that a sound card is connected, "
    "or use --output file:session.wav, --output pipe or --output null"
)

__all__ = ["NAMES", "Output", "OutputInfo", "available_outputs", "open_output"]


@dataclass
class OutputInfo:
    """One line of `relaxplayer outputs`: can this output work here, why (not), on which devices."""

    name: str
    ok: bool
    detail: str
    devices: list[str] = field(default_factory=list)


def available_outputs(rate: int = 44100, channels: int = 2) -> list[OutputInfo]:
    """Every output with whether it can work here, and the devices it would offer."""
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    pa_why = portaudio.probe(rate, channels, None)
    alsa_cmd = alsa.player_command(rate, channels, None)
    sa_why = simpleaudio.unusable()
    return [
        OutputInfo(
            "portaudio",
            pa_why is None,
            pa_why or "sounddevice callback stream, gapless (preferred)",
            portaudio.devices(),
        ),
        OutputInfo(
            "alsa",
            alsa_cmd is not None,
            f"raw PCM piped to {Path(alsa_cmd[0]).name}" if alsa_cmd else alsa.INSTALL,
            alsa.devices(),
        ),
        OutputInfo(
            "simpleaudio",
            sa_why is None,
            sa_why or f"whole buffers of {simpleaudio.CHUNK_SECONDS:g} s, with gaps between them",
        ),
        OutputInfo("pipe", True, "raw S16_LE PCM to stdout, or pipe:PATH for a FIFO (Snapcast)"),
        OutputInfo("file:PATH", True, "WAV file (16-bit), written as fast as it is mixed"),
        OutputInfo("null", True, "silent, paced in real time"),
    ]


def open_output(spec: str, rate: int, channels: int, device: str | None = None) -> Output:
    """Make the output named by ``spec`` (not started yet), or raise ``OutputError`` saying why."""
    kind, sep, arg = spec.partition(":")
    if kind == "auto" and not sep:
        return _auto(rate, channels, device)
    if kind == "portaudio" and not sep:
        from relaxplayer.outputs.portaudio import PortAudioOutput

        return PortAudioOutput(rate, channels, device)
    if kind == "alsa" and not sep:
        from relaxplayer.outputs.alsa import AlsaOutput

        return AlsaOutput(rate, channels, device)
    if kind == "simpleaudio" and not sep:
        from relaxplayer.outputs.simpleaudio import SimpleAudioOutput, unusable

        if why := unusable():
            raise OutputError(why)
        return SimpleAudioOutput(rate, channels)
    if kind == "pipe":
        from relaxplayer.outputs.pipe import PipeOutput

        return PipeOutput(Path(arg) if arg else None, rate, channels)
    if kind == "file" and arg:
        from relaxplayer.outputs.file import FileOutput

        return FileOutput(Path(arg), rate, channels)
    if kind == "null" and not sep:
        from relaxplayer.outputs.null import NullOutput

        return NullOutput(rate, channels)
    raise OutputError(f"unknown output {spec!r}; choose one of: {', '.join(NAMES)}")


def _auto(rate: int, channels: int, device: str | None) -> Output:
    """The first of portaudio, alsa, simpleaudio that can open the device here."""
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    why: list[str] = []
    if (pa_why := portaudio.probe(rate, channels, device)) is None:
        return open_output("portaudio", rate, channels, device)
    why.append(f"portaudio: {pa_why}")
    if (alsa_why := alsa.probe(rate, channels, device)) is None:
        return open_output("alsa", rate, channels, device)
    why.append(f"alsa: {alsa_why}")
    sa_why = simpleaudio.unusable() if device is None else "it cannot choose a device"
    if sa_why is None:
        return open_output("simpleaudio", rate, channels)
    if sys.version_info < (3, 12):
        why.append(f"simpleaudio: {sa_why}")
    raise OutputError(f"no audio output works here ({'; '.join(why)}). To fix: {INSTALL}")
