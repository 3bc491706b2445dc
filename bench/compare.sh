#!/usr/bin/env bash
# Runs the same load series against r0c 1.6.1 (Python, from PyPI, in a virtual environment)
# and against this build, one server at a time on 127.0.0.1, and prints ONE table at the end:
# a row per series and server with latency, bytes and server CPU per delivery, and the ratio
# of this build's CPU and bytes per delivery to r0c 1.6.1's in the same series.
#
# Usage: bench/compare.sh [SERIES...]. A series is
#   clients,channels,senders,rate,seconds[,servers[,r0c-load options]]
# where servers is a '+'-joined list of: orig (r0c 1.6.1), before (R0C_BEFORE), rust (this
# build, telnet clients), irc (every client an IRC client), mixed (half telnet, half IRC),
# ssh (every client an ssh client); options are extra r0c-load options (spaces allowed, e.g.
# "--bare"). Without servers the environment picks them (below).
# Without series it runs the issue 23 targets it can measure with r0c alongside:
#   target 1 and 5: 600 clients, 1 channel, 175 msg/s, telnet, IRC, mixed and ssh;
#   target 2: 20 clients at 1 msg/s with r0c-load's 18-character message and with --bare,
#             and 600 clients at 150 msg/s (bytes under load).
#
# Environment: LOAD_ARGS adds r0c-load options to every run. ORIGINAL=0 leaves r0c 1.6.1 out
# (its backlog of 1 makes 600 clients take minutes to connect). R0C_BEFORE=path/to/an/older/r0c
# adds that binary under the same load (a before/after comparison in one sitting). IRC=1 and
# SSH=1 add the IRC, mixed and ssh runs to series that name no servers. PROFILE=profiling runs
# the profiling build (release code with symbols, for perf). BUILD=0 skips the build (any
# commit relinks everything, since build.rs embeds it). Binaries are taken from
# $CARGO_TARGET_DIR (default ./target). RESULTS=file keeps the raw JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."

series=("$@")
if [ ${#series[@]} -eq 0 ]; then
    series=("600,1,20,175,20,orig+rust+irc+mixed+ssh"
        "20,1,1,1,30,orig+rust"
        "20,1,1,1,30,orig+rust,--bare"
        "600,1,20,150,20,orig+rust")
fi

venv=bench/.venv
if [ "${ORIGINAL:-1}" = 1 ] && [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q r0c==1.6.1
fi
profile=${PROFILE:-release}
if [ "${BUILD:-1}" != 0 ]; then
    cargo build --profile "$profile" -p r0c -p r0c-load >/dev/null
fi
target_dir=${CARGO_TARGET_DIR:-target}
# The profile named "dev" builds into "debug".
[ "$profile" = dev ] && profile=debug
bin=$target_dir/$profile
[ -x "$bin/r0c" ] && [ -x "$bin/r0c-load" ] || { echo "no $bin/r0c or $bin/r0c-load" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The servers a series names, or those the environment asks for.
default_servers() {
    local list=()
    [ "${ORIGINAL:-1}" = 1 ] && list+=(orig)
    [ -n "${R0C_BEFORE:-}" ] && list+=(before)
    list+=(rust)
    [ "${IRC:-0}" = 1 ] && list+=(irc mixed)
    [ "${SSH:-0}" = 1 ] && list+=(ssh)
    echo "${list[@]}"
}

results=${RESULTS:-$(mktemp)}
: >"$results"
for spec in "${series[@]}"; do
    IFS=, read -r clients channels senders rate seconds names options <<<"$spec"
    if [ -n "${names:-}" ]; then
        read -r -a servers <<<"${names//+/ }"
    else
        read -r -a servers <<<"$(default_servers)"
    fi
    for server in "${servers[@]}"; do
        [ "$server" = orig ] && [ "${ORIGINAL:-1}" != 1 ] && continue
        [ "$server" = before ] && [ -z "${R0C_BEFORE:-}" ] && continue
        data=$(mktemp -d)
        telnet=$(free_port); raw=$(free_port); irc=$(free_port); ssh=$(free_port)
        if [ "$server" = orig ]; then
            (cd "$data" && exec "$OLDPWD/$venv/bin/python" -m r0c -i 127.0.0.1 -pt "$telnet" -pn "$raw" >/dev/null 2>&1) &
        else
            binary=$bin/r0c
            [ "$server" = before ] && binary=$R0C_BEFORE
            "$binary" --dir "$data" -i 127.0.0.1 -pt "$telnet" -pn "$raw" --web 0 -ssh "$ssh" \
                --irc-listen "$irc" --no-flood-limit --max-per-ip 0 --conn-rate 0 -nc 20000 \
                >/dev/null 2>&1 &
        fi
        pid=$!
        wait_port "$telnet"
        # r0c 1.6.1 accepts with a backlog of 1: connect to it a few at a time.
        parallel=200
        [ "$server" = orig ] && parallel=4
        # Which clients connect where: telnet only, IRC only, or half and half.
        case "$server" in
            irc) clients_at=(--port "$irc" --irc "$clients") ;;
            mixed) clients_at=(--port "$telnet" --telnet --irc-port "$irc" --irc $((clients / 2))) ;;
            ssh) clients_at=(--port "$ssh" --ssh) ;;
            *) clients_at=(--port "$telnet" --telnet) ;;
        esac
        # shellcheck disable=SC2086 # the options are words on purpose
        "$bin/r0c-load" "${clients_at[@]}" --pid "$pid" --label "$server" \
            --connect-parallel "$parallel" \
            -n "$clients" -c "$channels" -s "$senders" -r "$rate" -t "$seconds" \
            ${options:-} ${LOAD_ARGS:-} 2>/dev/null \
            | grep "^{" | sed "s|^{|{\"series\":\"$clients,$channels,$senders,$rate,$seconds ${options:-}\",|" \
            >>"$results" \
            || echo "{\"series\":\"$clients,$channels,$senders,$rate,$seconds ${options:-}\",\"label\":\"$server\",\"failed\":true}" >>"$results"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -rf "$data"
    done
done

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $bin/r0c"
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
shown = {"orig": "r0c 1.6.1", "before": "before", "rust": "rust telnet", "irc": "rust IRC",
         "mixed": "rust mixed", "ssh": "rust ssh"}
originals = {row["series"]: row for row in rows if row["label"] == "orig" and not row.get("failed")}
columns = [("delivered %", "delivered_pct", 6), ("p50 ms", "p50_ms", 7), ("p99 ms", "p99_ms", 7),
           ("B/deliv", "bytes_per_delivery", 7), ("cpu s", "server_cpu_s", 6),
           ("cpu us/deliv", "server_cpu_us_per_delivery", 12), ("rss KiB", "server_peak_rss_kib", 8)]
def cell(value, width):
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        value = f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return f"{value!s:>{width}}"
head = f"{'series (clients,channels,senders,rate,s)':42} {'server':12}"
head += "".join(f" {name:>{width}}" for name, _, width in columns)
head += f" {'cpu/r0c':>8} {'B/r0c':>6}"
print(head)
for row in rows:
    line = f"{row['series']:42} {shown.get(row['label'], row['label']):12}"
    if row.get("failed"):
        print(line + " failed"); continue
    line += "".join(" " + cell(row.get(key), width) for _, key, width in columns)
    original = originals.get(row["series"])
    for key, width in (("server_cpu_us_per_delivery", 8), ("bytes_per_delivery", 6)):
        mine, theirs = row.get(key), (original or {}).get(key)
        ratio = "-"
        if row["label"] != "orig" and mine and theirs:
            # CPU as "1/N" (the issue's targets are fractions of r0c's); bytes as a fraction.
            ratio = f"1/{theirs / mine:.1f}" if key.startswith("server_cpu") else f"{mine / theirs:.2f}"
        line += f" {ratio:>{width}}"
    print(line)
    if row["label"] == "mixed":
        print(f"{'':42} {'  telnet/IRC':12} p99 {row.get('terminal_p99_ms')} / {row.get('irc_p99_ms')} ms, "
              f"B/deliv {row.get('terminal_bytes_per_delivery')} / {row.get('irc_bytes_per_delivery')}")
print("cpu/r0c and B/r0c: this build's server CPU and bytes per delivered message against r0c 1.6.1's "
      "in the same series (1/10 = a tenth of r0c's). Per delivery counts what arrived: a server "
      "that falls behind (delivered % well below 100) delivers few messages for its CPU, so its "
      "figure and the ratio then say more about falling behind than about cost.")
PY
[ -n "${RESULTS:-}" ] || rm -f "$results"
