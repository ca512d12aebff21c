#!/usr/bin/env bash
# Runs the Mastodon emulator test suites: behaviour over real sockets (emulator.test.mjs) and
# fidelity against masto v7 and the shared fixtures (fidelity.test.mjs).
# Exits non-zero if any test fails or hangs. Usage: tests/emulators/mastodon/run-tests.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for dep in ws masto; do
  if [ ! -d "$here/../node_modules/$dep" ]; then
    echo "missing node_modules/$dep: run 'npm ci' in tests/emulators first" >&2
    exit 2
  fi
done
cd "$here"
# A hung test fails after 20 s instead of blocking the run.
exec node --test --test-timeout=20000 "$here/emulator.test.mjs" "$here/fidelity.test.mjs"
