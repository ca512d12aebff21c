#!/usr/bin/env bash
# `switchboard run -c FILE --check`: configuration errors are clear and name the field; secrets
# come from the environment and never appear in the output; docker/switchboard.lua is valid.
set -u
sb=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect NAME RC PATTERN CONFIG...
  local name=$1 rc=$2 pat=$3; shift 3
  printf '%s\n' "$@" >"$tmp/c.lua"
  out=$("$sb" run -c "$tmp/c.lua" --check 2>&1); got=$?
  if [ "$got" -eq "$rc" ] && grep -q -- "$pat" <<<"$out"; then echo "ok   $name"
  else echo "FAIL $name (rc $got): $out"; fail=1; fi
}
expect "missing secret is an error" 2 "environment variable SB_T_NOPE is not set" \
  'return { accounts = { { platform = "mastodon", name = "a", base_url = "http://x", token = env "SB_T_NOPE" } } }'
expect "unknown platform" 2 "unknown platform 'myspace'" \
  'return { accounts = { { platform = "myspace", name = "a" } } }'
expect "mastodon needs base_url and token" 2 "mastodon needs base_url and token" \
  'return { accounts = { { platform = "mastodon", name = "a" } } }'
expect "bluesky needs its fields" 2 "bluesky needs pds_url, jetstream_url, identifier and password" \
  'return { accounts = { { platform = "bluesky", name = "b", pds_url = "http://x" } } }'
expect "wrong type" 2 "'dry_run' must be true or false" 'return { dry_run = "yes", accounts = {} }'
expect "syntax error" 2 "unexpected symbol near <eof>" 'return {'
expect "no file access from the config" 2 "attempt to call a nil value" 'return dofile("/etc/passwd")'
SB_T_TOKEN=s3cret-token expect "valid config, secret not shown" 0 "account acme: mastodon http://127.0.0.1:9" \
  'return { accounts = { { platform = "mastodon", name = "acme", base_url = "http://127.0.0.1:9/", token = env "SB_T_TOKEN" } } }'
if grep -q "s3cret" <<<"$out"; then echo "FAIL the secret was printed"; fail=1; fi
expect "queue duration" 2 "queues.support: 'first_response' must be seconds or a duration" \
  'return { queues = { support = { first_response = "soon" } }, accounts = {} }'
expect "business hours" 2 "queues.support:.*hours" \
  'return { queues = { support = { hours = "mon-fri 17:00-09:00" } }, accounts = {} }'
expect "queue name" 2 "a queue name is 1-63 of lower-case letters" \
  'return { queues = { ["Big Queue"] = {} }, accounts = {} }'
expect "console origin" 2 "'origin' must be the console's URL" \
  'return { console = { origin = "example.com" }, accounts = {} }'
expect "console listen" 2 "'listen' must be HOST:PORT" \
  'return { console = { listen = "8080" }, accounts = {} }'
expect "queues and console summarized" 0 "queue support: first response 900s, next response 3600s, business hours" \
  'return { console = {}, queues = { support = { first_response = "15m", next_response = "1h", hours = "mon-fri 09:00-17:00 +01:00" } }, accounts = {} }'
grep -q "console on 127.0.0.1:8080 (origin http://127.0.0.1:8080)" <<<"$out" && echo "ok   console defaults" || { echo "FAIL console defaults: $out"; fail=1; }
out=$(MASTODON_BASE_URL= BLUESKY_IDENTIFIER= "$sb" run -c docker/switchboard.lua --check 2>&1)
if [ $? -eq 0 ]; then echo "ok   docker/switchboard.lua is valid"; else echo "FAIL docker config: $out"; fail=1; fi
out=$(MASTODON_BASE_URL=https://m.example MASTODON_TOKEN=t "$sb" run -c docker/switchboard.lua --check 2>&1)
if grep -q "account mastodon: mastodon https://m.example" <<<"$out"; then echo "ok   docker config takes accounts from the environment"
else echo "FAIL docker env: $out"; fail=1; fi
exit $fail
