#!/usr/bin/env bash
# Run a command as if on a small board (a Raspberry Pi class budget), for benchmarks:
#
#   scripts/small_board.sh [--shares N] [--core N|all] PERCENT MEM_MB -- COMMAND [ARGS...]
#
# PERCENT of ONE core as a CFS quota with a 10 ms period (so the command is slowed like a slow
# core, in short stalls, not paused for long stretches), and MEM_MB of memory (page cache
# included), through cgroup v1 (/sys/fs/cgroup/cpu and /sys/fs/cgroup/memory; needs root).
# The command and everything it starts (the narration worker, aplay) share the budget.
# The cgroups are made inside the ones this shell is already in, and removed afterwards.
#
# --shares N sets the cpu cgroup's cpu.shares (default 1024, the kernel's). On a loaded machine
# (other jobs on the same cores) a group at 1024 weighs no more than one busy process, so it can
# be starved below its quota, and the command stalls in ways a real board never would. A high
# weight (the benchmark uses 10240) lets the group run whenever it wants to, while the quota still
# caps it at PERCENT of one core: the budget stays the board's, only host contention goes.
#
# --core N pins the command to CPU N (default: the last one; "all" leaves it free). A quota
# spread over several CPUs is not one slow core: the group's runtime is handed out per CPU, so
# a low-priority process busy on one CPU uses up the quota and everything the group runs on the
# others is throttled until the next period, however high their priority. On one CPU, as on
# one slow core, a waking player preempts a SCHED_IDLE worker at once.
#
# After the command ends it prints one line on stderr:
#   small board: cpu 25% of core 1 mem 512 MB shares 10240: peak 143 MB, throttled 1234 of 25000 periods
#   (3.1 s), exit 0
# Exit status: the command's; 3 when the cgroups cannot be made here (not root, cgroup v2 only,
# a read-only /sys): say so and skip, nothing was run.
set -u
SHARES=1024
CORE=$(($(nproc --all) - 1))
while [ "${1:-}" = "--shares" ] || [ "${1:-}" = "--core" ]; do
  case "$1" in
    --shares) SHARES=${2:-} ;;
    --core) CORE=${2:-} ;;
  esac
  shift 2
done
if [ $# -lt 3 ] || ! [ "$SHARES" -ge 2 ] 2>/dev/null ||
  { [ "$CORE" != all ] && ! [ "$CORE" -ge 0 ] 2>/dev/null; }; then
  echo "usage: $0 [--shares N] [--core N|all] PERCENT MEM_MB -- COMMAND [ARGS...]" >&2
  exit 2
fi
PIN=()
[ "$CORE" != all ] && PIN=(taskset -c "$CORE")
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
  ! echo "$SHARES" >"$CPU/cpu.shares" 2>/dev/null ||
  ! echo $((MEM * 1024 * 1024)) >"$MEMCG/memory.limit_in_bytes" 2>/dev/null; then
  cleanup
  echo "small board: cgroups (v1 cpu and memory) cannot be written here; skipped" >&2
  exit 3
fi
trap cleanup EXIT

# The child joins both cgroups first, then becomes the command (same pid).
bash -c 'echo $$ >"$1/tasks" && echo $$ >"$2/tasks" && shift 2 && exec "$@"' _ "$CPU" "$MEMCG" \
  "${PIN[@]}" "$@"
rc=$?
peak=$(($(cat "$MEMCG/memory.max_usage_in_bytes") / 1048576))
throttled=$(awk '/^nr_throttled/ {t = $2} /^nr_periods/ {p = $2} /^throttled_time/ {s = $2}
  END {printf "%d of %d periods (%.1f s)", t, p, s / 1e9}' "$CPU/cpu.stat")
echo "small board: cpu ${PCT}% of core ${CORE} mem ${MEM} MB shares ${SHARES}: peak ${peak} MB," \
  "throttled ${throttled}, exit $rc" >&2
# Wait for stragglers (a worker ending) so the cgroups can be removed.
for _ in $(seq 50); do
  [ -z "$(cat "$CPU/tasks" "$MEMCG/tasks" 2>/dev/null)" ] && break
  sleep 0.1
done
exit $rc
