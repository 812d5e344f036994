"""``portaudio``: a sounddevice callback stream. The preferred output.

PortAudio's callback is called by the device when it needs audio, so the
device clock paces playback exactly; the callback never raises (on error it
fills silence, records the exception and stops the stream, as sounddevice's
``Stream`` documentation asks).
"""

from __future__ import annotations

import threading

import numpy as np

from relaxplayer.errors import OutputError
from relaxplayer.outputs.base import BLOCK, Pull, quiet_stderr


def _sd():  # imported lazily: loading PortAudio probes every ALSA device
    with quiet_stderr():
        import sounddevice

    return sounddevice


def devices() -> list[str]:
    """Names of the output devices PortAudio sees."""
    try:
        sd = _sd()
        with quiet_stderr():
            found = sd.query_devices()
    except (OSError, ImportError):
        return []
    return [d["name"] for d in found if d["max_output_channels"] > 0]


class PortAudioOutput:
    name = "portaudio"

    def __init__(
        self, rate: int, channels: int, device: str | None = None, block: int = BLOCK
    ) -> None:
        self.rate = rate
        self.channels = channels
        self.device = device
        self.block = block
        self.error: BaseException | None = None
        self.underruns = 0
        self._pulled = 0
        self._done = threading.Event()
        try:
            sd = _sd()
        except (OSError, ImportError) as exc:
            raise OutputError(
                f"PortAudio is not available ({exc}); install it: sudo apt install libportaudio2"
            ) from None
        self._sd = sd
        self._stream = None

    def start(self, pull: Pull) -> None:
        def callback(outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
            if getattr(status, "output_underflow", False):
                self.underruns += 1
            try:
                outdata[:] = pull(frames)
                self._pulled += frames
            except BaseException as exc:  # never raise into PortAudio
                outdata.fill(0)
                self.error = exc
                raise self._sd.CallbackStop from None

        try:
            with quiet_stderr():
                self._stream = self._sd.OutputStream(
                    samplerate=self.rate,
                    channels=self.channels,
                    dtype="float32",
                    blocksize=self.block,
                    device=self.device,
                    callback=callback,
                    finished_callback=self._done.set,
                )
                self._stream.start()
        except Exception as exc:  # PortAudioError, ValueError for a bad device
            raise OutputError(
                f"cannot open PortAudio output {self.device or 'default'}: {exc}"
            ) from None
        self.name = f"portaudio ({self._device_name()})"

    def _device_name(self) -> str:
        try:
            return str(self._sd.query_devices(self._stream.device)["name"])
        except Exception:
            return "default"

    def latency_frames(self) -> int:
        return int(self._stream.latency * self.rate) if self._stream is not None else 0

    def frames_played(self) -> int:
        return max(self._pulled - self.latency_frames(), 0)

    def stop(self, drain: bool = True) -> None:
        if self._stream is None:
            return
        try:
            if drain:
                self._stream.stop()  # waits until pending buffers have been played
            else:
                self._stream.abort()
            self._stream.close()
        except Exception:  # closing a stream whose device vanished
            pass
