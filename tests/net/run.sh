#!/usr/bin/env bash
# Runs a net-layer test binary against tests/net/peer.js on an ephemeral loopback port.
set -u
bin=$1
dir=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
node "$dir/peer.js" >"$out" &
peer=$!
trap 'kill $peer 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q port "$out" && break; sleep 0.1; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { echo "peer did not start"; exit 1; }
"$bin" "$port"
