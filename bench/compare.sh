#!/usr/bin/env bash
# Runs the same load series against r0c 1.6.1 (Python, from PyPI, in a virtual environment)
# and against this release build, one server at a time on 127.0.0.1, and prints the results
# side by side. Usage: bench/compare.sh [SERIES...], a series being "clients,channels,senders,rate,seconds".
# LOAD_ARGS adds r0c-load options to every run, e.g. LOAD_ARGS="--bare" or "--rule screen".
# R0C_BEFORE=path/to/an/older/r0c adds a third column: that binary under the same load, for a
# before/after comparison of a change in the same sitting (build the older commit elsewhere).
# IRC=1 adds two columns, this build again with every client an IRC client on its IRC listener
# (r0c-irc) and with half of them (r0c-mixed), for the server's CPU per delivery of each kind.
# SSH=1 adds a column: this build again with every client an ssh client on its ssh listener.
# PROFILE=profiling runs the profiling build (release code with symbols, for perf) instead.
# ORIGINAL=0 leaves r0c 1.6.1 out (its backlog of 1 makes 600 clients take minutes to connect).
set -euo pipefail
cd "$(dirname "$0")/.."

series=("$@")
if [ ${#series[@]} -eq 0 ]; then
    series=("600,4,40,750,20" "600,1,20,175,20" "20,1,1,1,30")
fi

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q r0c==1.6.1
fi
profile=${PROFILE:-release}
cargo build --profile "$profile" -p r0c -p r0c-load >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

results=$(mktemp)
for spec in "${series[@]}"; do
    IFS=, read -r clients channels senders rate seconds <<<"$spec"
    servers=()
    [ "${ORIGINAL:-1}" = 1 ] && servers+=(r0c-1.6.1)
    [ -n "${R0C_BEFORE:-}" ] && servers+=(r0c-before)
    servers+=(r0c-rust)
    [ "${IRC:-0}" = 1 ] && servers+=(r0c-irc r0c-mixed)
    [ "${SSH:-0}" = 1 ] && servers+=(r0c-ssh)
    for server in "${servers[@]}"; do
        data=$(mktemp -d)
        telnet=$(free_port); raw=$(free_port); irc=$(free_port); ssh=$(free_port)
        if [ "$server" = r0c-1.6.1 ]; then
            (cd "$data" && exec "$OLDPWD/$venv/bin/python" -m r0c -i 127.0.0.1 -pt "$telnet" -pn "$raw" >/dev/null 2>&1) &
        else
            binary=./target/$profile/r0c
            [ "$server" = r0c-before ] && binary=$R0C_BEFORE
            "$binary" --dir "$data" -i 127.0.0.1 -pt "$telnet" -pn "$raw" --web 0 -ssh "$ssh" \
                --irc-listen "$irc" --no-flood-limit --max-per-ip 0 --conn-rate 0 -nc 20000 \
                >/dev/null 2>&1 &
        fi
        pid=$!
        wait_port "$telnet"
        # r0c 1.6.1 accepts with a backlog of 1: connect to it a few at a time.
        parallel=200
        [ "$server" = r0c-1.6.1 ] && parallel=4
        # Which clients connect where: telnet only, IRC only, or half and half.
        case "$server" in
            r0c-irc) clients_at=(--port "$irc" --irc "$clients") ;;
            r0c-mixed) clients_at=(--port "$telnet" --telnet --irc-port "$irc" --irc $((clients / 2))) ;;
            r0c-ssh) clients_at=(--port "$ssh" --ssh) ;;
            *) clients_at=(--port "$telnet" --telnet) ;;
        esac
        "./target/$profile/r0c-load" "${clients_at[@]}" --pid "$pid" --label "$server" \
            --connect-parallel "$parallel" \
            -n "$clients" -c "$channels" -s "$senders" -r "$rate" -t "$seconds" ${LOAD_ARGS:-} 2>/dev/null \
            | grep '^{' >>"$results" || echo "{\"label\":\"$server\",\"failed\":true}" >>"$results"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -rf "$data"
    done
done

python3 - "$results" "${servers[@]}" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
shown = {"r0c-1.6.1": "r0c 1.6.1", "r0c-before": "before", "r0c-rust": "r0c (rust)",
         "r0c-irc": "rust, IRC", "r0c-mixed": "rust, mixed", "r0c-ssh": "rust, ssh"}
names = [shown[server] for server in sys.argv[2:]]
per = len(names)
keys = [("delivered_pct", "delivered %"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
        ("max_ms", "max ms"), ("bytes_per_delivery", "bytes/delivery"),
        ("server_cpu_s", "server cpu s"), ("server_cpu_us_per_delivery", "server cpu us/delivery"),
        ("server_peak_rss_kib", "server peak rss KiB"), ("generator_cpu_s", "generator cpu s")]
if "r0c-mixed" in sys.argv[2:]:
    keys += [("terminal_p99_ms", "telnet clients p99 ms"), ("irc_p99_ms", "IRC clients p99 ms"),
             ("terminal_bytes_per_delivery", "telnet bytes/delivery"),
             ("irc_bytes_per_delivery", "IRC bytes/delivery")]
for start in range(0, len(rows) - per + 1, per):
    group = rows[start:start + per]
    if any(row.get("failed") for row in group):
        print("a run failed:", *group); continue
    new = group[-1]
    ready = ", ".join(f"{name} {row['ready']}" for name, row in zip(names, group))
    print(f"\n{new['clients']} clients, {new['channels']} channels, {new['rate']} msg/s for {new['seconds']} s "
          f"(ready: {ready})")
    print(f"  {'':22}" + "".join(f" {name:>12}" for name in names))
    for key, name in keys:
        print(f"  {name:22}" + "".join(f" {str(row.get(key)):>12}" for row in group))
PY
rm -f "$results"
