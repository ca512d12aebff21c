#!/usr/bin/env bash
# The README's first command, minus setup and build: the live demo runs for a while and shows
# every kind of decision, a duplicate delivery absorbed, and a deleted post's reply cancelled.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
DEMO_CONSOLE_PORT=0 DEMO_SECONDS=${DEMO_SECONDS:-18} node "$repo/scripts/demo.mjs" >"$out" 2>&1
rc=$?
fail=0
check() { if grep -q -- "$1" "$out"; then echo "ok   $2"; else echo "FAIL $2"; fail=1; fi; }
[ $rc -eq 0 ] && echo "ok   demo exits 0" || { echo "FAIL demo exit $rc"; fail=1; }
check "→ acknowledge" "acknowledges a complaint"
check "→ move_to_private" "moves an order problem to private"
check "→ escalate to legal (urgent)" "escalates a legal threat"
check "→ escalate to vip (high)" "escalates an influencer"
check "→ ignore — author is a bot" "ignores a bot"
check "✓ private message sent" "sends a private message"
check "delivered again: already decided" "absorbs a duplicate delivery"
check "deleted by its author: pending replies cancelled" "cancels the reply to a deleted post"
check "Agent console: http://127.0.0.1:" "prints the agent console's URL"
check "sign in as alice" "names the demo agents"
[ $fail -eq 0 ] || cat "$out"
exit $fail
