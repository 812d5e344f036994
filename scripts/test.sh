#!/usr/bin/env bash
# Run the whole test suite, with a virtual sound card for the real ALSA playback tests.
#   scripts/test.sh [pytest args]
# Environment: PYTHON and VENV as for scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
# The virtual sound card (PulseAudio null sink behind ALSA) and sox, for the playback tests;
# mpc (a real MPD client), headless Chromium with its driver, snapserver and snapclient
# (two rooms over Snapcast) and zbar-tools (reads the pairing QR code), for the remotes' tests.
EXTRA_APT="pulseaudio pulseaudio-utils libasound2-plugins sox mpc chromium chromium-driver snapserver snapclient zbar-tools" EXTRAS="voice,test" \
  bash scripts/install.sh --no-play
"$VENV/bin/ruff" check relaxplayer tests benchmarks
exec "$VENV/bin/python" -m pytest "$@"
