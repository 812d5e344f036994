#!/usr/bin/env bash
# Run a command as if on a small board (a Raspberry Pi class budget), for benchmarks:
#
#   scripts/small_board.sh PERCENT MEM_MB -- COMMAND [ARGS...]
#
# PERCENT of ONE core as a CFS quota with a 10 ms period (so the command is slowed like a slow
# core, in short stalls, not paused for long stretches), and MEM_MB of memory (page cache
# included), through cgroup v1 (/sys/fs/cgroup/cpu and /sys/fs/cgroup/memory; needs root).
# The command and everything it starts (the narration worker, aplay) share the budget.
# The cgroups are made inside the ones this shell is already in, and removed afterwards.
#
# After the command ends it prints one line on stderr:
#   small board: cpu 25% mem 512 MB: peak 143 MB, throttled 1234 times, exit 0
# Exit status: the command's; 3 when the cgroups cannot be made here (not root, cgroup v2 only,
# a read-only /sys): say so and skip, nothing was run.
set -u
if [ $# -lt 3 ]; then
  echo "usage: $0 PERCENT MEM_MB -- COMMAND [ARGS...]" >&2
  exit 2
fi
PCT=$1
MEM=$2
shift 2
[ "${1:-}" = "--" ] && shift

own() {  # this shell's cgroup in hierarchy $1 (cpu or memory), e.g. /user.slice
  awk -F: -v h="$1" '{ n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == h) print $3 }' /proc/self/cgroup | head -1
}
NAME=relaxplayer-small-board-$$
CPU=/sys/fs/cgroup/cpu$(own cpu)/$NAME
MEMCG=/sys/fs/cgroup/memory$(own memory)/$NAME
CPU=${CPU//\/\//\/}
MEMCG=${MEMCG//\/\//\/}

cleanup() {
  rmdir "$CPU" "$MEMCG" 2>/dev/null
  return 0
}
if ! mkdir -p "$CPU" "$MEMCG" 2>/dev/null ||
  ! echo 10000 >"$CPU/cpu.cfs_period_us" 2>/dev/null ||
  ! echo $((PCT * 100)) >"$CPU/cpu.cfs_quota_us" 2>/dev/null ||
  ! echo $((MEM * 1024 * 1024)) >"$MEMCG/memory.limit_in_bytes" 2>/dev/null; then
  cleanup
  echo "small board: cgroups (v1 cpu and memory) cannot be written here; skipped" >&2
  exit 3
fi
trap cleanup EXIT

# The child joins both cgroups first, then becomes the command (same pid).
bash -c 'echo $$ >"$1/tasks" && echo $$ >"$2/tasks" && shift 2 && exec "$@"' _ "$CPU" "$MEMCG" "$@"
rc=$?
peak=$(($(cat "$MEMCG/memory.max_usage_in_bytes") / 1048576))
throttled=$(awk '/nr_throttled/ {print $2}' "$CPU/cpu.stat")
echo "small board: cpu ${PCT}% mem ${MEM} MB: peak ${peak} MB, throttled ${throttled} times, exit $rc" >&2
# Wait for stragglers (a worker ending) so the cgroups can be removed.
for _ in $(seq 50); do
  [ -z "$(cat "$CPU/tasks" "$MEMCG/tasks" 2>/dev/null)" ] && break
  sleep 0.1
done
exit $rc
