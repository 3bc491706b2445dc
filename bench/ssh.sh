#!/usr/bin/env bash
# Runs the same load series over telnet and over ssh against this release build, one server
# at a time on 127.0.0.1, and prints one JSON line per run. Usage: bench/ssh.sh [SERIES...],
# a series being "clients,channels,senders,rate,seconds" (default: the headline 600,4,40,750,20).
# LOAD_ARGS adds r0c-load options to every run; PARALLEL sets --connect-parallel (default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
# The release build, where cargo puts it ($CARGO_TARGET_DIR, default ./target).
release=${CARGO_TARGET_DIR:-./target}/release

series=("$@")
if [ ${#series[@]} -eq 0 ]; then
    series=("600,4,40,750,20")
fi
cargo build --release -p r0c -p r0c-load >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

for spec in "${series[@]}"; do
    IFS=, read -r clients channels senders rate seconds <<<"$spec"
    for mode in telnet ssh; do
        data=$(mktemp -d)
        port=$(free_port)
        if [ "$mode" = telnet ]; then
            listen=(-pt "$port" -ssh 0)
        else
            listen=(-pt 0 -ssh "$port")
        fi
        "$release"/r0c --dir "$data" -i 127.0.0.1 "${listen[@]}" -pn 0 --web 0 --irc-listen 0 \
            --no-flood-limit --max-per-ip 0 --conn-rate 0 -nc 20000 >/dev/null 2>&1 &
        pid=$!
        wait_port "$port"
        "$release"/r0c-load --port "$port" "--$mode" --pid "$pid" --label "r0c-$mode" \
            --connect-parallel "${PARALLEL:-200}" \
            -n "$clients" -c "$channels" -s "$senders" -r "$rate" -t "$seconds" ${LOAD_ARGS:-} 2>&1 \
            | grep -E '^\{|clients ready' || echo "{\"label\":\"r0c-$mode\",\"failed\":true}"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$data"
    done
done
