"""Audio outputs behind one small protocol (``outputs.base.Output``), and how to pick one.

``auto`` tries portaudio, then alsa, then simpleaudio (only on Python < 3.12,
where it works): each is *opened for real*, playing a few milliseconds of
silence, and the first that plays is returned; its ``name`` says which was
chosen. Being installed proves nothing: with no sound card every backend is
installed and none plays. When none works, the ``OutputError`` says why each
failed and what to install.

``check_spec`` rejects a bad ``--output`` / ``--device`` pair before anything
is opened, as a ``ConfigError`` (exit 2) naming the choices.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from relaxplayer.errors import ConfigError, OutputError
from relaxplayer.outputs.base import CHATTER, PROBE_CHATTER, Output

NAMES = ("auto", "portaudio", "alsa", "simpleaudio", "pipe", "pipe:PATH", "file:PATH", "null")
DEVICELESS = ("pipe", "file", "null")  # outputs with nothing for --device to choose
INSTALL = (
    "install PortAudio (sudo apt install libportaudio2) or ALSA's player "
    "(sudo apt install alsa-utils), check that a sound card is connected, "
    "or use --output file:session.wav, --output pipe or --output null"
)

__all__ = [
    "NAMES",
    "Output",
    "OutputInfo",
    "available_outputs",
    "chatter_summary",
    "check_spec",
    "open_output",
]


@dataclass
class OutputInfo:
    """One line of `relaxplayer outputs`: does this output play here, why (not), on which devices."""

    name: str
    ok: bool
    detail: str
    devices: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_spec(spec: str, device: str | None) -> None:
    """Raise ``ConfigError`` (exit 2) for an ``--output`` / ``--device`` pair that cannot work.

    Cheap and opens nothing, so the command line can call it before loading a
    session; ``open_output`` calls it too.
    """
    kind, sep, arg = spec.partition(":")
    known = (kind in ("auto", "portaudio", "alsa", "simpleaudio", "null") and not sep) or (
        kind == "pipe" or (kind == "file" and bool(arg))
    )
    if not known:
        raise ConfigError(f"unknown output {spec!r}; choose one of: {', '.join(NAMES)}")
    if device is not None and kind in DEVICELESS:
        raise ConfigError(
            f"--device {device!r} does not apply to --output {spec}, which has no devices; "
            "drop --device, or use it with --output portaudio or alsa (see `relaxplayer outputs`)"
        )
    if device is not None and kind == "simpleaudio":
        raise ConfigError(
            "--output simpleaudio always plays on ALSA's default device; drop --device, "
            f"or use --output alsa --device {device}"
        )
    if kind == "pipe" and not arg and sys.stdout.isatty():
        raise ConfigError(
            "--output pipe writes raw audio to stdout, which is a terminal; pipe it into a "
            "player (relaxplayer play --output pipe | aplay -t raw -f cd) or use --output pipe:PATH"
        )


def available_outputs(rate: int = 44100, channels: int = 2) -> list[OutputInfo]:
    """Every output with whether it plays here, and the devices that open.

    "ok" means a few milliseconds of silence were played for real through it
    (about 0.1-0.5 s for the whole list; each device is opened in turn).
    """
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    pa_why = portaudio.probe(rate, channels, None)
    alsa_cmd = alsa.player_command(rate, channels, None)
    alsa_why = alsa.probe(rate, channels, None)
    sa_why = simpleaudio.probe(rate, channels)
    return [
        OutputInfo(
            "portaudio",
            pa_why is None,
            pa_why or "sounddevice callback stream, gapless (preferred)",
            portaudio.devices(rate, channels),
        ),
        OutputInfo(
            "alsa",
            alsa_why is None,
            alsa_why or f"raw PCM piped to {Path(alsa_cmd[0] if alsa_cmd else 'aplay').name}",
            alsa.devices(rate, channels),
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


def chatter_summary(probing: bool = False) -> str | None:
    """What alsa-lib / PortAudio printed on fd 2 (kept off the terminal), for ``-v``.

    By default while outputs were open; with ``probing``, while devices were
    probed and listed. None when they printed nothing.
    """
    return (PROBE_CHATTER if probing else CHATTER).summary()


def open_output(spec: str, rate: int, channels: int, device: str | None = None) -> Output:
    """Make the output named by ``spec`` (not started yet).

    Raises ``ConfigError`` for a bad spec (see ``check_spec``), ``OutputError``
    when it cannot work here.
    """
    check_spec(spec, device)
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
        from relaxplayer.outputs.simpleaudio import SimpleAudioOutput, unusable

        if why := unusable():
            raise OutputError(why)
        return SimpleAudioOutput(rate, channels)
    if kind == "pipe":
        from relaxplayer.outputs.pipe import PipeOutput

        return PipeOutput(Path(arg) if arg else None, rate, channels)
    if kind == "file":
        from relaxplayer.outputs.file import FileOutput

        return FileOutput(Path(arg), rate, channels)
    from relaxplayer.outputs.null import NullOutput

    return NullOutput(rate, channels)


def _auto(rate: int, channels: int, device: str | None) -> Output:
    """The first of portaudio, alsa, simpleaudio that plays a little silence on the device."""
    from relaxplayer.outputs import alsa, portaudio, simpleaudio

    why: list[str] = []
    if (pa_why := portaudio.probe(rate, channels, device)) is None:
        return open_output("portaudio", rate, channels, device)
    why.append(f"portaudio: {pa_why}")
    if (alsa_why := alsa.probe(rate, channels, device)) is None:
        return open_output("alsa", rate, channels, device)
    why.append(f"alsa: {alsa_why}")
    if sys.version_info < (3, 12):
        sa_why = simpleaudio.probe(rate, channels) if device is None else "it has no --device"
        if sa_why is None:
            return open_output("simpleaudio", rate, channels)
        why.append(f"simpleaudio: {sa_why}")
    raise OutputError(f"no audio output works here ({'; '.join(why)}). To fix: {INSTALL}")
