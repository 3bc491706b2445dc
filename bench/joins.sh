#!/usr/bin/env bash
# Issue 23's target 4: no stall from big joins. Seeds a database with a channel of MESSAGES
# messages (examples/seed_channel.rs), then runs the same chat load against this release build
# twice, one server at a time, each on a fresh copy of the seeded database: alone, and while
# JOINERS more clients all join the big channel at once, JOIN_AFTER seconds into the sending.
# Prints the chatting clients' latency for both runs, the rise, and how long the joins took.
#
# Usage: bench/joins.sh [CLIENTS [RATE [SECONDS [JOINERS [MESSAGES]]]]]
#   defaults: 600 clients in one channel, 20 senders, 175 msg/s for 20 s; 100 joiners;
#   1,000,000 messages. RUNS (default 1) repeats the pair; R0C_BIN picks the server binary;
#   BUILD=0 skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release build, where cargo puts it ($CARGO_TARGET_DIR, default ./target).
release=${CARGO_TARGET_DIR:-./target}/release

clients=${1:-600}
rate=${2:-175}
seconds=${3:-20}
joiners=${4:-100}
messages=${5:-1000000}
runs=${RUNS:-1}
join_after=${JOIN_AFTER:-8}
server_bin=${R0C_BIN:-$release/r0c}

# BUILD=0 runs the binaries already built (e.g. an older build's, with R0C_BIN).
[ "${BUILD:-1}" = 0 ] || { cargo build --release -p r0c -p r0c-load && cargo build --release -p r0c --example seed_channel; } >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/seeded"
"$release"/examples/seed_channel "$work/seeded/r0c.db" big "$messages"

results="$work/results"
for run in $(seq "$runs"); do
    for with in 0 "$joiners"; do
        rm -rf "$work/data" && cp -r "$work/seeded" "$work/data"
        telnet=$(free_port)
        "$server_bin" --dir "$work/data" -i 127.0.0.1 -pt "$telnet" -pn 0 --web 0 -ssh 0 \
            --irc-listen 0 --no-flood-limit --max-per-ip 0 --conn-rate 0 -nc 20000 \
            >"$work/server.log" 2>&1 &
        server=$!
        wait_port "$telnet"
        "$release"/r0c-load --port "$telnet" --telnet --pid "$server" \
            --label "joiners=$with" -n "$clients" -c 1 -s 20 -r "$rate" -t "$seconds" \
            --joiners "$with" --join-channel big --join-after "$join_after" 2>"$work/load.err" \
            | grep '^{' >>"$results" || echo "{\"label\":\"joiners=$with\",\"failed\":true}" >>"$results"
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=
    done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for alone, joins in zip(rows[0::2], rows[1::2]):
    if alone.get("failed") or joins.get("failed"):
        print("a run failed:", alone, joins)
        continue
    print(f"{alone['clients']} clients, 1 channel, {alone['rate']} msg/s for {alone['seconds']} s; "
          f"{joins.get('joiners')} joiners of a channel of seeded history")
    print(f"  {'':24} {'alone':>10} {'with joins':>12}")
    for key, name in [("delivered_pct", "delivered %"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                      ("max_ms", "max ms"), ("server_cpu_s", "server cpu s"),
                      ("server_peak_rss_kib", "server peak rss KiB")]:
        print(f"  {name:24} {str(alone.get(key)):>10} {str(joins.get(key)):>12}")
    print(f"  p99 rise: {joins['p99_ms'] - alone['p99_ms']:.2f} ms; joins done "
          f"{joins.get('joins_done')} of {joins.get('joiners')}, p50 {joins.get('join_p50_ms')} ms, "
          f"max {joins.get('join_max_ms')} ms")
PY
