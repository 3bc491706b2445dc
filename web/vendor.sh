#!/usr/bin/env bash
# Copies the pinned xterm.js files from node_modules into vendor/, which is committed, so that
# `cargo build` embeds them and never needs npm. Run after changing package.json:
#   npm ci && ./vendor.sh
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p vendor
cp node_modules/@xterm/xterm/lib/xterm.js vendor/xterm.js
cp node_modules/@xterm/xterm/css/xterm.css vendor/xterm.css
cp node_modules/@xterm/addon-fit/lib/addon-fit.js vendor/addon-fit.js
cp node_modules/@xterm/xterm/LICENSE vendor/LICENSE.xterm
# The fit addon ships in the same repository under the same MIT licence.
cp node_modules/@xterm/addon-fit/LICENSE vendor/LICENSE.addon-fit 2>/dev/null \
    || cp node_modules/@xterm/xterm/LICENSE vendor/LICENSE.addon-fit
