#!/usr/bin/env bash
# Runs the Bluesky emulator test suites (behaviour + @atproto/api fidelity).
# Exits non-zero if any test fails. Usage: tests/emulators/bluesky/run-tests.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -d "$here/../node_modules/ws" ] || [ ! -d "$here/../node_modules/@atproto/api" ]; then
  echo "missing node_modules: run 'npm ci' in tests/emulators first" >&2
  exit 2
fi
cd "$here"
exec node --test --test-concurrency=1 "$here/emulator.test.mjs" "$here/fidelity.test.mjs"
