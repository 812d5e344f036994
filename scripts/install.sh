#!/usr/bin/env bash
# Install relaxplayer on Debian / Raspberry Pi OS into ./.venv, then play the default session.
#   scripts/install.sh            install and play
#   scripts/install.sh --no-play  install only
# Environment: PYTHON (interpreter to build the venv from, default python3), VENV (default .venv),
# EXTRA_APT (more Debian packages to make sure of, e.g. for the tests), EXTRAS (pip extras, default voice).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# System packages: PortAudio (sounddevice), ALSA tools and headers (aplay; simpleaudio builds
# against libasound2-dev), espeak-ng (fallback voice), ffmpeg (m4a/aac clips via pydub),
# libebur128-1 (BS.1770 loudness of narration and clips, through ctypes).
PKGS="python3-venv python3-dev gcc libportaudio2 libsndfile1 libasound2-dev alsa-utils espeak-ng ffmpeg libebur128-1 ${EXTRA_APT:-}"
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PKGS
    break
  fi
done

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The filter hides setuptools' notice that an editable install uses an import hook (8 lines on
# every install, nothing to act on); its other warnings still show.
PYTHONWARNINGS="ignore:Editable installation:UserWarning" \
  "$VENV/bin/python" -m pip install -q -e ".[${EXTRAS:-voice}]"
# Byte-compile now (an editable install does not): every launch then skips ~50 ms of compiling,
# even where PYTHONDONTWRITEBYTECODE is set or the checkout is read-only at bedtime.
"$VENV/bin/python" -m compileall -q relaxplayer >/dev/null
echo "installed: $VENV/bin/relaxplayer ($("$VENV/bin/relaxplayer" --version))"

if [ "${1:-}" != "--no-play" ]; then
  exec "$VENV/bin/relaxplayer" play
fi
