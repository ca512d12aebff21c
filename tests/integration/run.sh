#!/usr/bin/env bash
# Runs one integration test file with node's test runner; SB_BIN is the switchboard binary.
set -u
export SB_BIN=$1
exec node --test --test-reporter=spec "$2"
