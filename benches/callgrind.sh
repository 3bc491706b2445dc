#!/usr/bin/env bash
# Counts the instructions of one iteration of each benchmark in benches/micro.rs with callgrind.
#
# Each benchmark runs twice under callgrind, with SMALL and then LARGE iterations in one sample,
# counting only inside the `timed_*` functions of benches/micro.rs (--toggle-collect), so input
# building, divan's own loop and start-up are not counted. The instructions per iteration are
# (Ir of the LARGE run - Ir of the SMALL run) / (LARGE - SMALL); the subtraction removes what is
# counted only once (the check call before each benchmark, first-use costs).
#
# Usage: benches/callgrind.sh [BENCHMARK...]   (names as below; all of them by default)
# Needs valgrind (apt-get install valgrind). SMALL and LARGE can be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

small=${SMALL:-100}
large=${LARGE:-1100}
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
    benches=(
        render::style_message::80x24
        render::style_message::200x60
        render::screen_push::80x24
        render::screen_push::200x60
        render::vt_new_message::80x24
        render::vt_new_message::200x60
        telnet::codec
        telnet::raw_filter
        charset_encode::encode_frame::Utf8
        charset_encode::encode_frame::Cp437
        charset_encode::encode_frame::ShiftJis
        charset_encode::encode_frame::Latin1
        charset_encode::encode_frame::Ascii
        keys::decode
    )
fi

# The profiling profile (the release build with symbols and line tables): callgrind's
# --toggle-collect finds the timed_* functions by their symbol names, which the release
# profile strips.
binary=$(cargo bench --profile profiling --bench micro --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*/micro-[^"]*"' | tail -n 1 | cut -d '"' -f 4)
if [ -z "$binary" ]; then
    echo "could not find the micro benchmark binary" >&2
    exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Under valgrind divan names benchmarks with the crate name in front (micro::keys::decode),
# so each name is matched as a regular expression anchored at its end only.
count() {
    local name=$1 iterations=$2 file
    file="$out/$(echo "$name" | tr -c 'A-Za-z0-9\n' _).$iterations"
    valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect='micro::timed_*' \
        "$binary" --bench "$name\$" --sample-count 1 --sample-size "$iterations" \
        >/dev/null 2>&1
    sed -n 's/^summary: //p' "$file"
}

echo "| benchmark | instructions per iteration |"
echo "| --- | ---: |"
for name in "${benches[@]}"; do
    low=$(count "$name" "$small")
    high=$(count "$name" "$large")
    echo "| $name | $(((high - low) / (large - small))) |"
done
