#!/usr/bin/env bash
# The Bluesky integration test: switchboard run against the Bluesky emulator. Non-zero on
# failure. SB_BIN (default build/switchboard) is the binary under test.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
export SB_BIN=${SB_BIN:-$repo/build/switchboard}
[ -x "$SB_BIN" ] || { echo "run-bluesky.sh: no switchboard binary at $SB_BIN (build first)" >&2; exit 2; }
[ -d "$repo/tests/emulators/node_modules/ws" ] || { echo "run-bluesky.sh: run 'npm ci' in tests/emulators first" >&2; exit 2; }
exec node --test --test-reporter=spec "$repo/tests/integration/bluesky.test.mjs"
