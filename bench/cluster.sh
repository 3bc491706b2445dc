#!/usr/bin/env bash
# The cluster benchmark of issue 22 (a benchmark, not a test): one nats-server with JetStream
# (temporary directory, 127.0.0.1, a free port) and three r0c nodes on it, r0c-load's clients
# spread over the three, then the same load on ONE r0c node without a cluster, for comparison.
# Prints, per run: delivered %, latency p50/p99 across nodes (sender on one node, reader on
# another) and on one node, each node's CPU per delivery to its readers, and nats-server's CPU.
#
# Usage: bench/cluster.sh [CLIENTS_PER_NODE [CHANNELS [RATE [SECONDS [SENDERS]]]]]
#   defaults: 3000 clients per node (9,000 in all), 10 channels, 1000 msg/s, 20 s, 100 senders.
# RUNS=n repeats each configuration (default 2: the machine is shared and noisy; CPU time is
# the steadier figure). NODES=n sets the cluster's size (default 3). SINGLE=0 leaves out the
# one-node run. PROFILE=profiling uses that build (symbols for perf) instead of release;
# BUILD=0 runs the binaries already built.
# PERF=1 records `perf record -g` of node 0 while the first cluster run sends, into $PERF_OUT
# (default /tmp/r0c-perf-node0.data; `perf report -i` it, with PROFILE=profiling for symbols).
set -euo pipefail
cd "$(dirname "$0")/.."

per_node=${1:-3000}
channels=${2:-10}
rate=${3:-1000}
seconds=${4:-20}
senders=${5:-100}
nodes=${NODES:-3}
runs=${RUNS:-2}
profile=${PROFILE:-release}
export PATH=$PATH:/usr/sbin

if [ "${BUILD:-1}" = 0 ]; then
    : # BUILD=0: the binaries in target/$profile as they are.
elif [ "$profile" = release ]; then
    cargo build --release -p r0c -p r0c-load >/dev/null
else
    cargo build --profile "$profile" -p r0c -p r0c-load >/dev/null
fi
bin=./target/$profile
ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# Waits until a node's log says its publisher is ready (or 30 s).
wait_log() { for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# Everything this script started, stopped by process id on exit.
pids=()
work=$(mktemp -d)
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

start_node() { # dir telnet raw irc [cluster flags...]
    local dir=$1 telnet=$2 raw=$3 irc=$4
    shift 4
    mkdir -p "$dir"
    RUST_LOG=warn,r0c::cluster=info "$bin/r0c" --dir "$dir" -i 127.0.0.1 -pt "$telnet" -pn "$raw" --web 0 -ssh 0 \
        --irc-listen "$irc" --no-flood-limit --max-per-ip 0 --conn-rate 0 -nc 20000 "$@" \
        >"$dir.log" 2>&1 &
    started=$!
}

results=$work/results
for run in $(seq "$runs"); do
    # The cluster: a fresh nats-server and fresh nodes each run.
    nats_dir=$work/nats$run
    mkdir -p "$nats_dir"
    nats_port=$(free_port)
    nats-server -js -sd "$nats_dir" -a 127.0.0.1 -p "$nats_port" >"$nats_dir.log" 2>&1 &
    nats_pid=$!
    pids+=("$nats_pid")
    wait_port "$nats_port"
    ports=()
    node_pids=()
    for node in $(seq 0 $((nodes - 1))); do
        telnet=$(free_port)
        start_node "$work/run$run-n$node" "$telnet" "$(free_port)" "$(free_port)" \
            --cluster "nats://127.0.0.1:$nats_port" --node "n$node"
        pids+=("$started")
        node_pids+=("$started")
        ports+=("$telnet")
    done
    for node in $(seq 0 $((nodes - 1))); do
        wait_port "${ports[$node]}"
        wait_log "$work/run$run-n$node.log" "applying the event stream" ||
            echo "node $node: no sign of the cluster in its log" >&2
    done
    sleep 2
    ports_arg=$(IFS=,; echo "${ports[*]}")
    pids_arg=$(IFS=,; echo "${node_pids[*]}")
    if [ "${PERF:-0}" = 1 ] && [ "$run" = 1 ]; then
        # Node 0 while the messages flow: from when every client is ready, for the sending time.
        (
            for _ in $(seq 6000); do
                grep -q 'clients ready' "$work/load-cluster$run.err" 2>/dev/null && break
                sleep 0.1
            done
            exec perf record -g -o "${PERF_OUT:-/tmp/r0c-perf-node0.data}" -p "${node_pids[0]}" -- sleep $((seconds + 2))
        ) >/dev/null 2>&1 &
        pids+=("$!")
    fi
    "$bin/r0c-load" --port "$ports_arg" --telnet --pid "$pids_arg" --nats-pid "$nats_pid" \
        --label "cluster-$nodes" --connect-parallel 300 --drain-seconds 20 \
        -n $((per_node * nodes)) -c "$channels" -s "$senders" -r "$rate" -t "$seconds" \
        2>"$work/load-cluster$run.err" | tee "$work/load-cluster$run.out" | grep '^{' >>"$results" ||
        echo "{\"label\":\"cluster-$nodes\",\"failed\":true}" >>"$results"
    grep -v '^{' "$work/load-cluster$run.out" | sed 's/^/  /' >&2 || true
    for pid in "${node_pids[@]}" "$nats_pid"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${node_pids[@]}" "$nats_pid"; do wait "$pid" 2>/dev/null || true; done
    grep -h -i 'panic\|error' "$work"/run"$run"-n*.log | head -5 >&2 || true

    [ "${SINGLE:-1}" = 1 ] || continue
    # The same load, every client on one node, no cluster.
    telnet=$(free_port)
    start_node "$work/run$run-single" "$telnet" "$(free_port)" "$(free_port)"
    single=$started
    pids+=("$single")
    wait_port "$telnet"
    "$bin/r0c-load" --port "$telnet" --telnet --pid "$single" --label single \
        --connect-parallel 300 --drain-seconds 20 \
        -n $((per_node * nodes)) -c "$channels" -s "$senders" -r "$rate" -t "$seconds" \
        2>"$work/load-single$run.err" | tee "$work/load-single$run.out" | grep '^{' >>"$results" ||
        echo '{"label":"single","failed":true}' >>"$results"
    grep -v '^{' "$work/load-single$run.out" | sed 's/^/  /' >&2 || true
    kill "$single" 2>/dev/null || true
    wait "$single" 2>/dev/null || true
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def f(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"
print(f"\n{'run':14} {'ready':>11} {'deliv %':>8} {'p50 ms':>8} {'p99 ms':>8} {'x-node p50':>10} {'x-node p99':>10}"
      f" {'cpu us/deliv per node':>24} {'all r0c us':>10} {'nats cpu s':>10} {'nats us':>8}")
for row in rows:
    if row.get("failed"):
        print(f"{row['label']:14} failed"); continue
    per_node = row.get("node_cpu_us_per_delivery") or [row.get("server_cpu_us_per_delivery")]
    print(f"{row['label']:14} {str(row['ready']) + '/' + str(row['clients']):>11} {f(row['delivered_pct']):>8}"
          f" {f(row['p50_ms'], 1):>8} {f(row['p99_ms'], 1):>8}"
          f" {f(row.get('cross_p50_ms'), 1):>10} {f(row.get('cross_p99_ms'), 1):>10}"
          f" {' '.join(f(v) for v in per_node):>24} {f(row.get('server_cpu_us_per_delivery')):>10}"
          f" {f(row.get('nats_cpu_s')):>10} {f(row.get('nats_cpu_us_per_delivery')):>8}")
PY
