#!/usr/bin/env bash
# A virtual sound card for tests on machines without one (CI, containers):
#
#   program --ALSA "default"--> file plugin (appends every played sample to $AUDIO_CAPTURE)
#                                  --> pulse plugin --> PulseAudio null sink (paced in real time)
#   ALSA "fastnull": the same capture over the null device, with no clock (instant, sample-exact)
#
# Usage: eval "$(scripts/test-audio.sh DIR)"   prints the environment to export; idempotent
#          (run it again: it reuses the running PulseAudio)
#        scripts/test-audio.sh --status DIR    exit 0 if DIR's card (its PulseAudio) is running
#        scripts/test-audio.sh --stop DIR      stop DIR's PulseAudio and keep-alive pacat
# Needs: pulseaudio pulseaudio-utils libasound2-plugins alsa-utils (scripts/test.sh installs them).
set -euo pipefail
MODE=start
case "${1:-}" in --stop|--status) MODE=${1#--}; shift ;; esac
D=$(realpath -m "${1:-/tmp/relaxplayer-vsnd}")

pulse_pid() {  # the pid of DIR's PulseAudio, if it is running
  local pid
  pid=$(cat "$D/run/pulse/pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && [ "$(ps -o comm= -p "$pid")" = pulseaudio ] && echo "$pid"
}
keepalive_pid() {  # the pid of DIR's keep-alive pacat, if it is running
  local pid
  pid=$(cat "$D/keepalive.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && [ "$(ps -o comm= -p "$pid")" = pacat ] && echo "$pid"
}
if [ "$MODE" = status ]; then
  pulse_pid >/dev/null
  exit
fi
if [ "$MODE" = stop ]; then
  pids="$(keepalive_pid || true) $(pulse_pid || true)"
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=""
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$D/keepalive.pid"
  exit 0
fi
mkdir -p "$D/run"
chmod 700 "$D/run"
export XDG_RUNTIME_DIR="$D/run"

# ALSA's top-level config, minus /etc/alsa/conf.d (PulseAudio's hook there would take over
# pcm.!default), reading our own file in place of ~/.asoundrc.
sed -e '/"\/var\/lib\/alsa\/conf.d"/d' -e '/"\/usr\/etc\/alsa\/conf.d"/d' -e '/"\/etc\/alsa\/conf.d"/d' \
    -e "s#\"~/.asoundrc\"#\"$D/asound.conf\"#" /usr/share/alsa/alsa.conf > "$D/alsa.conf"
cat > "$D/asound.conf" <<CONF
pcm.vsink { type pulse  device "relaxplayer_test" }
ctl.!default { type pulse }
pcm.!default { type file  slave.pcm "vsink"  file "|cat >> $D/capture.raw"  format "raw" }
pcm.fastnull { type file  slave.pcm "null"  file "|cat >> $D/capture.raw"  format "raw" }
CONF

if ! pactl info >/dev/null 2>&1; then
  pulseaudio --daemonize=yes -n --exit-idle-time=-1 --disallow-exit --disable-shm=yes \
    --load="module-null-sink sink_name=relaxplayer_test rate=44100 channels=2" \
    --load="module-native-protocol-unix" --log-target=file:"$D/pulse.log" --log-level=error
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
pactl info >/dev/null
# A daemon already running here (a previous run) may lack our sink: add it, once.
if ! pactl list short sinks | grep -q relaxplayer_test; then
  pactl load-module module-null-sink sink_name=relaxplayer_test rate=44100 channels=2 >/dev/null
fi
# Keep one low-latency stream (silence) on the sink. With no client asking for low latency
# the null sink sleeps up to 2 s between renders, so a new stream stalls for up to 2 s
# before it starts and a drain waits as long; a real card's clock never sleeps like that.
if ! keepalive_pid >/dev/null; then
  setsid pacat --playback --raw --device=relaxplayer_test --latency-msec=20 /dev/zero \
    </dev/null >/dev/null 2>&1 &
  echo $! > "$D/keepalive.pid"
  for _ in $(seq 50); do [ -n "$(pactl list short sink-inputs)" ] && break; sleep 0.05; done
  sleep 2.1  # the sink takes up the short latency at its next wake-up, at most 2 s away
fi
echo "export XDG_RUNTIME_DIR='$D/run' ALSA_CONFIG_PATH='$D/alsa.conf' AUDIO_CAPTURE='$D/capture.raw'"
