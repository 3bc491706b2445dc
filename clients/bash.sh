#!/usr/bin/env bash
# r0c client in pure bash: connects to the raw ("netcat") port with bash's /dev/tcp,
# prints what the server sends, and sends each key as it is pressed (Enter as LF).
# usage: bash.sh [HOST] [PORT]        defaults: 127.0.0.1 1531
# Leave with CTRL-C, or type /quit.
set -u
host=${1:-127.0.0.1}
port=${2:-1531}
if ! exec 3<>"/dev/tcp/$host/$port"; then
    echo "cannot connect to $host port $port" >&2
    exit 1
fi
cat <&3 &
reader=$!
trap 'kill "$reader" 2>/dev/null; exec 3>&-; exit 0' INT TERM
# read -n1 hands over one key at a time; an empty key is Enter.
while IFS= read -rn1 key; do
    [ -z "$key" ] && key=$'\n'
    printf %s "$key" >&3 2>/dev/null || break
done
kill "$reader" 2>/dev/null
