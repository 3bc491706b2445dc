#!/usr/bin/env bash
# Installs what the tests need (Debian packages for the real clients) and runs every check:
# formatting, clippy with warnings as errors, and all tests.
set -euo pipefail
cd "$(dirname "$0")"

# Real programs the integration tests drive (TLS clients too, and an IRC server for the
# bridge): command -> Debian package. ngircd lives in /usr/sbin.
export PATH="$PATH:/usr/sbin"
# The browser tests use Debian's chromium (never a downloaded one) and Node.js with npm.
declare -A packages=([telnet]=telnet [socat]=socat [nc]=netcat-openbsd [tmux]=tmux
    [openssl]=openssl [ncat]=ncat [telnet-ssl]=telnet-ssl [ngircd]=ngircd
    [chromium]=chromium [node]=nodejs [npm]=npm)
missing=()
for command in "${!packages[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${packages[$command]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings
cargo test --all-targets

# The web terminal in a real browser, against the debug binary the tests just built. npm ci
# installs exactly what web/package-lock.json pins (playwright-core drives the browser).
(cd web && npm ci --no-audit --no-fund --loglevel=error && node --test tests/web.test.mjs)
