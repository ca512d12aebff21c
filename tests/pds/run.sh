#!/usr/bin/env bash
# run.sh — Switchboard against the reference Bluesky PDS (@atproto/dev-env). Loopback only.
#
#   tests/pds/run.sh                     # uses build/switchboard
#   SB_BIN=/path/to/switchboard tests/pds/run.sh
#   PDS_TEST_VERBOSE=1 tests/pds/run.sh  # also prints the service's and the bridge's logs
#
# Installs this directory's own node_modules on first use, from the committed package-lock.json.
# The PDS stores its data in SQLite through better-sqlite3, a native addon. With no internet but
# the npm registry, its prebuilt binary cannot be downloaded (prebuild-install fetches it from
# GitHub), so it is compiled from source by node-gyp against the local node headers:
#   npm_config_build_from_source=true  → prebuild-install skips the download and goes to node-gyp
#   npm_config_nodedir=/usr            → node-gyp uses /usr/include/node instead of downloading headers
# (npm itself warns "Unknown env config build-from-source": that variable is for prebuild-install.)
# package.json's "allowScripts" approves better-sqlite3's install script for npm versions that
# block dependency install scripts by default. The first `npm ci` takes about 2 minutes here
# (of which about 1 minute is compiling better-sqlite3 on 2 cores); the tests then take ~15 s.
# Exits non-zero when the install or any test fails.
set -euo pipefail
cd "$(dirname "$0")"

export SB_BIN="${SB_BIN:-$(cd ../.. && pwd)/build/switchboard}"
if [ ! -x "$SB_BIN" ]; then
  echo "run.sh: switchboard binary not found at $SB_BIN (build it, or set SB_BIN)" >&2
  exit 1
fi

build_env=(npm_config_build_from_source=true npm_config_nodedir=/usr)
if [ ! -d node_modules ]; then
  echo "run.sh: installing tests/pds/node_modules (npm ci, better-sqlite3 from source)…" >&2
  start=$(date +%s)
  env "${build_env[@]}" npm ci --no-audit --no-fund
  echo "run.sh: npm ci took $(( $(date +%s) - start )) s" >&2
fi
# a node_modules built for another node ABI (or with the addon missing): rebuild the addon only
if ! node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null; then
  echo "run.sh: better-sqlite3 does not load, rebuilding it from source…" >&2
  env "${build_env[@]}" npm rebuild better-sqlite3
fi

exec node --test --test-reporter=spec --test-timeout=90000 pds.test.mjs
