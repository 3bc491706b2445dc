#!/bin/sh
# Times /search's query among a million stored messages (a benchmark, not a test): builds the
# example in release, fills a database in a temporary directory on the first run (kept in
# $SEARCH_BENCH_DIR, default /tmp/r0c-search-bench, so later runs only search), and prints the
# median and slowest of 20 runs per query.
set -eu
dir=${SEARCH_BENCH_DIR:-/tmp/r0c-search-bench}
mkdir -p "$dir"
cd "$(dirname "$0")/.."
cargo run --release --example search_bench -- "$dir/r0c.db" "${1:-1000000}"
