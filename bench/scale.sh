#!/usr/bin/env bash
# Issue 23's target 3: as many connections as one process may hold. Starts this release build
# on 127.0.0.1, brings in IDLE idle clients (connected, past the wizard, in channels of 100) from
# IDLE_PROCS generator processes, each from loopback addresses of its own (127.0.1N.x), measures
# the server's memory per idle client, then runs the active load (r0c-load) beside them from
# 127.0.9.x and prints the figures. Everything stops by itself; only processes started here are
# stopped, by their process id.
#
# Usage: bench/scale.sh [IDLE [ACTIVE [CHANNELS [RATE [SECONDS]]]]]
#   defaults: 18000 idle, 1000 active clients in 100 channels, all of them sending,
#   1000 msg/s in all for 20 s. IDLE_PROCS (default 4) generator processes share the idle
#   clients (each stays far under the 20,000 open files a process may have here).
#   R0C_BIN picks the server binary (default $CARGO_TARGET_DIR/release/r0c, ./target/...);
#   SERVER_ARGS adds flags; PERF_DIR=dir records perf profiles of the server (`perf record
#   -g`, 499 Hz) into dir/idle.perf (the quiet 20 s with only the idle clients) and
#   dir/active.perf (10 s of the active load); use it with the profiling build's binary;
#   BUILD=0 skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release build, where cargo puts it ($CARGO_TARGET_DIR, default ./target).
release=${CARGO_TARGET_DIR:-./target}/release

idle=${1:-18000}
active=${2:-1000}
channels=${3:-100}
rate=${4:-1000}
seconds=${5:-20}
procs=${IDLE_PROCS:-4}
server_bin=${R0C_BIN:-$release/r0c}

# BUILD=0 runs the binaries already built (e.g. an older build's, with R0C_BIN).
[ "${BUILD:-1}" = 0 ] || cargo build --release -p r0c -p r0c-load >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }

work=$(mktemp -d)
data="$work/data"
mkdir "$data"
telnet=$(free_port)
pids=()
server=
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --dir "$data" -i 127.0.0.1 -pt "$telnet" -pn 0 --web 0 -ssh 0 --irc-listen 0 \
    --no-flood-limit --max-per-ip 0 --conn-rate 0 -nc 20000 ${SERVER_ARGS:-} \
    >"$work/server.log" 2>&1 &
server=$!
wait_port "$telnet"
sleep 1
rss_base=$(rss_kib "$server")

# The idle clients: 100 to a channel, each process in channels of its own.
per_proc=$(( (idle + procs - 1) / procs ))
for p in $(seq 1 "$procs"); do
    n=$per_proc
    [ $(( p * per_proc )) -gt "$idle" ] && n=$(( idle - (p - 1) * per_proc ))
    [ "$n" -le 0 ] && continue
    "$release"/r0c-load --port "$telnet" --telnet --label "idle$p" \
        --source-net $((10 + p)) --sources 250 --channel-prefix "i${p}x" \
        -n "$n" -c $(( (n + 99) / 100 )) --connect-parallel 250 --hold 100000 \
        >"$work/idle$p.out" 2>"$work/idle$p.err" &
    pids+=($!)
done
idle_started=$(date +%s.%N)
# Wait until every idle process says its clients are in (or gave up).
for p in $(seq 1 "${#pids[@]}"); do
    for _ in $(seq 1800); do
        grep -q idle_ready "$work/idle$p.out" 2>/dev/null && break
        kill -0 "${pids[$((p - 1))]}" 2>/dev/null || break
        sleep 0.5
    done
done
idle_seconds=$(python3 -c "import time; print(f'{time.time() - $idle_started:.1f}')")
idle_ready=$(cat "$work"/idle*.out | python3 -c '
import json, sys
print(sum(json.loads(l).get("idle_ready", 0) for l in sys.stdin if l.startswith("{")))')
# Frames of the joins settle, then the memory and a quiet minute's CPU are read.
sleep 5
rss_idle=$(rss_kib "$server")
cpu_before=$(cpu_s "$server")
if [ -n "${PERF_DIR:-}" ]; then
    perf record -F 499 -g -p "$server" -o "$PERF_DIR/idle.perf" -- sleep 20 >/dev/null 2>&1
else
    sleep 20
fi
cpu_after=$(cpu_s "$server")
rss_idle_later=$(rss_kib "$server")

if [ -n "${PERF_DIR:-}" ]; then
    # The active clients connect within a few seconds; the profile is of their sending.
    (sleep $(( seconds / 2 + 2 )) && perf record -F 499 -g -p "$server" -o "$PERF_DIR/active.perf" \
        -- sleep 10 >/dev/null 2>&1) &
    pids+=($!)
fi
"$release"/r0c-load --port "$telnet" --telnet --pid "$server" --label active \
    --source-net 9 --sources 50 --connect-parallel 250 \
    -n "$active" -c "$channels" -s "$active" -r "$rate" -t "$seconds" \
    >"$work/active.out" 2>"$work/active.err" || true
open_after=$(ls "/proc/$server/fd" | wc -l)
rss_end=$(rss_kib "$server")
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait "${pids[@]}" 2>/dev/null || true
pids=()

grep -v '^{' "$work/active.out" || true
python3 - "$work/active.out" <<PY
import json, sys
active = next((json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")), {})
idle, base, with_idle, later = $idle_ready, $rss_base, $rss_idle, $rss_idle_later
per = (with_idle - base) / idle if idle else float("nan")
per_later = (later - base) / idle if idle else float("nan")
quiet_cpu = ($cpu_after - $cpu_before) / 20
print(f"idle clients in: {idle} of $idle in $idle_seconds s ($procs generator processes)")
print(f"server rss: {base} KiB at start, {with_idle} KiB with the idle clients "
      f"({per:.2f} KiB per idle client; {per_later:.2f} 20 s later), {$rss_end} KiB after the load")
print(f"server cpu with only the idle clients: {quiet_cpu * 1000:.0f} ms/s")
print(f"open files at the end: $open_after")
if active:
    print(f"active: {active['ready']} of {active['clients']} clients, {active['channels']} channels, "
          f"{active['rate']} msg/s for {active['seconds']} s: delivered {active['delivered_pct']}%, "
          f"p50 {active['p50_ms']} ms, p99 {active['p99_ms']} ms, max {active['max_ms']} ms, "
          f"server cpu {active['server_cpu_s']} s, peak rss {active['server_peak_rss_kib']} KiB")
summary = {"idle_ready": idle, "rss_base_kib": base, "rss_idle_kib": with_idle,
           "rss_per_idle_kib": round(per, 2), "rss_per_idle_later_kib": round(per_later, 2),
           "idle_cpu_ms_per_s": round(quiet_cpu * 1000), "active": active}
print(json.dumps(summary))
PY
