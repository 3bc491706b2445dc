#!/usr/bin/env bash
# Installs what the tests need (Debian packages for the real clients) and runs every check:
# formatting, clippy with warnings as errors, and all tests.
set -euo pipefail
cd "$(dirname "$0")"

# Real programs the integration tests drive (TLS clients too, and an IRC server for the
# bridge, and NATS with JetStream for cluster mode): command -> Debian package. ngircd and
# nats-server live in /usr/sbin. man renders the manual page and systemd-analyze verifies the
# unit (tests/it/operations.rs).
export PATH="$PATH:/usr/sbin"
# The browser tests use Debian's chromium (never a downloaded one) and Node.js with npm.
declare -A packages=([telnet]=telnet [socat]=socat [nc]=netcat-openbsd [tmux]=tmux
    [openssl]=openssl [ncat]=ncat [telnet-ssl]=telnet-ssl [ngircd]=ngircd
    [chromium]=chromium [node]=nodejs [npm]=npm [python3]=python3
    [ssh]=openssh-client [sic]=sic [ii]=ii [irssi]=irssi [weechat-headless]=weechat-headless
    [man]=man-db [systemd-analyze]=systemd [nats-server]=nats-server)
missing=()
for command in "${!packages[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${packages[$command]}")
done
# Debian's python3 makes virtualenvs only with python3-venv.
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# /tz reads the system's time zone database (jiff finds it in /usr/share/zoneinfo).
[ -e /usr/share/zoneinfo/Europe/Berlin ] || missing+=(tzdata)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# r0c 1.6.1 from PyPI, in the virtualenv bench/compare.sh uses too: the migration tests run
# it, and r0c's own stress testers (../shared/r0c-testers, run by tests/r0c_testers) import
# it. The tests make it themselves when it is missing; doing it here keeps pip's time out of
# theirs.
venv=bench/.venv
if ! "$venv/bin/python" -c "import r0c.__version__ as v; assert v.S_VERSION == '1.6.1'" >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q r0c==1.6.1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-targets
# The three-NATS-server failover proof (tests/it/cluster.rs), alone on a machine the main run
# no longer saturates: a NATS cluster formed under that load once warmed up too slowly.
cargo test --test it -- --ignored --exact \
    cluster::chat_goes_on_when_one_of_three_nats_servers_dies_mid_flood

# Two suites against the debug binary the tests just built, side by side: the web terminal in
# a real browser (npm ci installs exactly what web/package-lock.json pins; playwright-core
# drives the browser), and irctest, the IRC servers' conformance suite, against the IRC
# listener (tests/irctest.sh: its own virtualenv, and a list of the failures it expects).
(cd web && npm ci --no-audit --no-fund --loglevel=error && node --test tests/web.test.mjs) &
web=$!
R0C_BIN="$PWD/target/debug/r0c" IRCTEST_JOBS=1 ./tests/irctest.sh &
irctest=$!
status=0
wait "$web" || status=1
wait "$irctest" || status=1
exit "$status"

