#!/usr/bin/env bash
# Runs irctest, the IRC servers' conformance suite (../shared/irctest, or IRCTEST_DIR), against
# r0c's IRC listener through the controller in tests/irctest/r0c.py, and prints the summary.
# Fails if a test fails that tests/irctest/expected_failures.txt does not list (with its
# reason); a listed test that passes is reported, so the list can shrink.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
irctest=${IRCTEST_DIR:-$root/../shared/irctest}
if [ ! -d "$irctest/irctest" ]; then
    echo "irctest: no irctest checkout at $irctest (set IRCTEST_DIR)" >&2
    exit 1
fi
venv=${IRCTEST_VENV:-$root/target/irctest-venv}
if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$irctest/requirements.txt" pytest-xdist
fi
if [ -z "${R0C_BIN:-}" ]; then
    cargo build --quiet --bin r0c
    export R0C_BIN=$root/target/debug/r0c
fi
report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
keep=${IRCTEST_KEEP:-}
# Implementation-specific tests of other servers and the deprecated and strict ones are left
# out, as irctest's README does for every server but ergo.
(
    cd "$irctest"
    PYTHONPATH="$root/tests/irctest${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/pytest" \
        --controller r0c -p no:cacheprovider -q -n "${IRCTEST_JOBS:-2}" \
        -k "${IRCTEST_FILTER:-not Ergo and not Sable and not deprecated and not strict}" \
        --junitxml "$report/junit.xml" irctest/server_tests >"$report/pytest.log" 2>&1 || true
)
tail -n 3 "$report/pytest.log"
[ -n "$keep" ] && cp "$report/pytest.log" "$report/junit.xml" "$keep/"
"$venv/bin/python" "$root/tests/irctest/summary.py" "$report/junit.xml" "$root/tests/irctest/expected_failures.txt"
