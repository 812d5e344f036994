"""The narration cache's file format: a 16-bit mono WAV with a checksum chunk.

Kept apart from ``speech`` so that reading the cache (the player process)
never needs the synthesis code, and the format has one owner.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from relaxplayer import cache

# Our WAV chunk after the samples: SHA-256 of ``CHECK_SALT``, the fmt chunk and the data
# chunk, so a changed rate or channel count is caught as surely as a changed sample.
# Format 2: format 1 ("rpck") covered the samples only; such entries fail the check and are remade.
CHECK_CHUNK = b"rpc2"
CHECK_SALT = b"relaxplayer narration wav 2\0"
MIN_RATE, MAX_RATE = 1000, 384000  # Hz: a rate outside this range is damage, whatever the checksum
MAX_ENTRY_BYTES = 1 << 30  # a narration line is a few MB; more is damage, not speech


def wav_bytes(data: np.ndarray, rate: int) -> bytes:
    """Mono float32 -> a 16-bit WAV whose last chunk is the SHA-256 of its samples.

    Plain WAV players and libsndfile skip the extra chunk; ``read_wav`` uses it
    to tell a whole entry from a damaged one.
    """
    pcm = np.clip(np.rint(data * 32767.0), -32768, 32767).astype("<i2").tobytes()
    fmt = (
        (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + rate.to_bytes(4, "little")
        + (rate * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
    )
    body = (
        b"WAVE"
        + b"fmt "
        + len(fmt).to_bytes(4, "little")
        + fmt
        + b"data"
        + len(pcm).to_bytes(4, "little")
        + pcm
        + (b"\0" if len(pcm) & 1 else b"")
        + CHECK_CHUNK
        + (32).to_bytes(4, "little")
        + _checksum(fmt, pcm)
    )
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _checksum(fmt: bytes, pcm: bytes) -> bytes:
    return hashlib.sha256(CHECK_SALT + len(fmt).to_bytes(4, "little") + fmt + pcm).digest()


def _chunks(blob: bytes) -> dict[bytes, bytes] | None:
    """The chunks of a RIFF/WAVE file, or None when it is cut short or not a WAV."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        return None
    if int.from_bytes(blob[4:8], "little") + 8 != len(blob):
        return None  # cut short (or grown): the RIFF header says how long the whole file is
    chunks, offset = {}, 12
    while offset + 8 <= len(blob):
        size = int.from_bytes(blob[offset + 4 : offset + 8], "little")
        if offset + 8 + size > len(blob):
            return None
        chunks[blob[offset : offset + 4]] = blob[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)
    return chunks


def read_wav(path: Path) -> tuple[np.ndarray, int] | None:
    """``(int16 samples, rate)`` of a cache entry, or None unless it is whole and its checksum holds.

    Only a regular file is read (``cache.read_entry``: never a symlink, FIFO or device).
    """
    blob = cache.read_entry(path, limit=MAX_ENTRY_BYTES)
    chunks = _chunks(blob) if blob is not None else None
    if chunks is None or not {b"fmt ", b"data", CHECK_CHUNK} <= chunks.keys():
        return None
    fmt, data = chunks[b"fmt "], chunks[b"data"]
    if len(fmt) < 16 or not data or _checksum(fmt, data) != chunks[CHECK_CHUNK]:
        return None
    rate = int.from_bytes(fmt[4:8], "little")
    mono16 = fmt[0:4] == b"\x01\x00\x01\x00" and fmt[14:16] == b"\x10\x00"
    if not mono16 or not MIN_RATE <= rate <= MAX_RATE:
        return None
    return np.frombuffer(data, dtype="<i2"), rate


def wav_info(path: Path) -> tuple[int, int] | None:
    """``(frames, rate)`` of a whole, checksummed entry, or None (missing or damaged).

    It checks the whole file, like ``read_wav``: the timeline is laid out from
    this length, so a header whose rate was changed must not pass here and be
    caught only when the line plays (a narration line is a few hundred KB:
    hashing it costs well under a millisecond).
    """
    found = read_wav(path)
    return (found[0].shape[0], found[1]) if found is not None else None
