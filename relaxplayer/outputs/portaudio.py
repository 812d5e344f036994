"""``portaudio``: a sounddevice callback stream. The preferred output.

PortAudio calls the callback when the device needs audio, so the device clock
paces playback exactly and blocks follow each other without gaps. The callback
never raises: on error it fills silence, records the exception and stops the
stream, as sounddevice's ``Stream`` documentation asks.

The audio clock: each callback tells when its first frame will reach the DAC
(``outputBufferDacTime``, on the stream's clock). ``frames_played`` is the
frame count at that callback plus the stream time elapsed since that DAC
time, so it advances smoothly between callbacks and already counts the
device's latency.

Only this module imports sounddevice (which loads libportaudio2).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import BLOCK, CHATTER, Pull, capture_stderr, quiet_stderr

PROBE_SECONDS = 1.0  # a device that opens asks for its first block well within this
LATENCY = "low"  # PortAudio's low latency; with 1536-frame blocks about 2 blocks (72 ms)
INSTALL = (
    "install PortAudio (sudo apt install libportaudio2) and sounddevice (pip install sounddevice)"
)


def _sd() -> Any:
    """sounddevice, imported lazily: loading PortAudio probes every ALSA device."""
    with quiet_stderr():
        import sounddevice

    return sounddevice


def devices(rate: int = 44100, channels: int = 2) -> list[str]:
    """Names of the output devices PortAudio sees that really open for ``rate`` / ``channels``."""
    try:
        sd = _sd()
        with quiet_stderr():
            found = sd.query_devices()
    except (OSError, ImportError):
        return []
    return [
        d["name"]
        for d in found
        if d["max_output_channels"] >= channels
        and probe(rate, channels, str(d["index"]), name=d["name"]) is None
    ]


def rescan() -> None:
    """Forget PortAudio's device list and enumerate again (a device was plugged in, or the
    ALSA configuration changed). Only when no stream is open: it would be closed."""
    if "sounddevice" not in sys.modules:
        return
    sd = sys.modules["sounddevice"]
    with quiet_stderr():
        sd._terminate()  # documented by sounddevice as the way to re-scan devices
        sd._initialize()


def probe(rate: int, channels: int, device: str | None, name: str | None = None) -> str | None:
    """Why PortAudio cannot play ``rate`` / ``channels`` on ``device``, or None when it can.

    The device is opened for real: a stream is started and must ask for its
    first block of (silent) audio within ``PROBE_SECONDS``, then it is aborted.
    Checking the settings alone says yes to devices that then fail to open.
    """
    shown = name or device or "the default device"
    try:
        sd = _sd()
    except (OSError, ImportError) as exc:
        return f"PortAudio is not available ({exc}); {INSTALL}"
    with quiet_stderr():
        if not sd.query_devices():
            return "PortAudio finds no output device (no sound card?)"
    asked = threading.Event()

    def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        outdata.fill(0)
        asked.set()

    try:
        with quiet_stderr():
            sd.check_output_settings(
                device=_device(device), channels=channels, dtype="float32", samplerate=rate
            )
            stream = sd.OutputStream(
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=256,
                device=_device(device),
                callback=callback,
            )
            try:
                stream.start()
                if not asked.wait(PROBE_SECONDS):
                    return f"PortAudio opened {shown} but it never asked for audio"
            finally:
                with contextlib.suppress(Exception):
                    stream.abort()
                stream.close()
    except Exception as exc:  # PortAudioError, ValueError: no such device
        return f"PortAudio cannot play on {shown}: {exc}"
    return None


def _device(device: str | None) -> int | str | None:
    """A device index given as digits, else a (sub)string of its name, as sounddevice takes."""
    return int(device) if device is not None and device.isdigit() else device


class PortAudioOutput:
    name = "portaudio"

    def __init__(
        self, rate: int, channels: int, device: str | None = None, block: int = BLOCK
    ) -> None:
        self.rate = rate
        self.channels = channels
        self.device = device
        self.block = block
        self.error: Exception | None = None
        self.underruns = 0
        self._pulled = 0
        self._dac = (0, 0.0, 0.0)  # (frames pulled before the last callback, its DAC time, now)
        self._stopping = False
        self._done = threading.Event()
        try:
            self._sd = _sd()
        except (OSError, ImportError) as exc:
            raise OutputError(f"PortAudio is not available ({exc}); {INSTALL}") from None
        self._stream: Any = None
        self._chatter = contextlib.ExitStack()  # fd 2 captured from start to stop
        self.chatter = CHATTER

    def chatter_summary(self) -> str | None:
        """What PortAudio and alsa-lib printed while this output was open, for ``-v``."""
        return self.chatter.summary()

    def start(self, pull: Pull) -> None:
        self._chatter.enter_context(capture_stderr(self.chatter))
        try:
            with quiet_stderr():
                self._stream = self._sd.OutputStream(
                    samplerate=self.rate,
                    channels=self.channels,
                    dtype="float32",
                    blocksize=self.block,
                    latency=LATENCY,
                    device=_device(self.device),
                    callback=self._callback(pull),
                    finished_callback=self._finished,
                )
                self._stream.start()
        except Exception as exc:  # PortAudioError, ValueError for a bad device
            self._chatter.close()
            raise OutputError(
                f"cannot open PortAudio output {self.device or 'default'}: {exc}; "
                "see `relaxplayer outputs` for the devices that open, choose one with "
                "--device, or try --output alsa"
            ) from None
        self.name = f"portaudio ({self._device_name()})"

    def _callback(self, pull: Pull) -> Any:
        def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if status.output_underflow:
                self.underruns += 1
            try:
                outdata[:] = pull(frames)
            except Exception as exc:  # never raise into PortAudio: silence, record, stop
                outdata.fill(0)
                self.error = exc
                raise self._sd.CallbackStop from None
            self._dac = (self._pulled, time_info.outputBufferDacTime, time_info.currentTime)
            self._pulled += frames

        return callback

    def _finished(self) -> None:
        """The stream ended: normal after ``stop``, a device failure otherwise."""
        if not self._stopping and self.error is None:
            self.error = OutputError("the PortAudio stream stopped by itself (device lost?)")
        self._done.set()

    def _device_name(self) -> str:
        try:
            return str(self._sd.query_devices(self._stream.device)["name"])
        except Exception:
            return "default"

    def latency_frames(self) -> int:
        _, dac, now = self._dac
        if dac > now > 0:
            return int((dac - now) * self.rate)
        return int(self._stream.latency * self.rate) if self._stream is not None else 0

    def frames_played(self) -> int:
        pulled_before, dac, _ = self._dac
        stream = self._stream
        if stream is None or dac <= 0:  # no timing from this host API: count the latency
            return max(self._pulled - self.latency_frames(), 0)
        try:
            now = stream.time
        except Exception:
            return max(self._pulled - self.latency_frames(), 0)
        heard = pulled_before + int((now - dac) * self.rate)
        return min(max(heard, 0), self._pulled)

    def stop(self, drain: bool = True) -> None:
        if self._stream is None:
            return
        self._stopping = True
        try:
            if drain and self.error is None:
                self._stream.stop()  # returns when pending buffers have been played
            else:
                self._stream.abort()
            self._stream.close()
        except Exception:  # closing a stream whose device vanished
            pass
        finally:
            self._chatter.close()
