#!/usr/bin/env bash
# CLI tests for `switchboard policy try|test|check`: real fixtures in, one JSON decision out;
# failing tests and broken policies give a clear report and a non-zero exit.
set -u
sb=$1 fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}

"$sb" policy try policies --post "$fixtures/mastodon/status.json" >"$tmp/o1" 2>"$tmp/e1"
check "try status.json exits 0" test $? -eq 0
check "try prints one JSON line" test "$(wc -l <"$tmp/o1")" -eq 1
check "influential author (322930 followers) goes to vip" grep -q '"action":"escalate".*"queue":"vip","priority":"high"' "$tmp/o1"
check "decision carries the policy version and latency" grep -q '"policy_version":"[0-9a-f]\{16\}","latency_us":' "$tmp/o1"
check "HTML decoded into text" grep -q '\\"I lost my inheritance' "$tmp/o1"

"$sb" policy try policies --post "$fixtures/mastodon/derived_streaming_ws_notification_mention_event.json" >"$tmp/o2"
check "streaming envelope: bot author ignored" grep -q '"action":"ignore","reply":null.*"reasons":\["author is a bot"\]' "$tmp/o2"

"$sb" policy try policies --post - <"$fixtures/bluesky/jetstream_commit_create_post_reply.json" >"$tmp/o3"
check "stdin jetstream reply decided" grep -q '"in_reply_to":"at://did:plc:i5y2f3gtpjxs3qg6fwgb6jb4/app.bsky.feed.post/3mpt7u2vlgs2c"' "$tmp/o3"

"$sb" policy try policies --post "$fixtures/bluesky/jetstream_commit_create_like.json" >"$tmp/o4" 2>"$tmp/e4"
check "a like is not a post: nothing to decide" grep -q '"event":"skip","kind":"commit:app.bsky.feed.like","decision":null' "$tmp/o4"

printf '{"platform": "mastodon", "id": ' >"$tmp/bad.json"
"$sb" policy try policies --post "$tmp/bad.json" >/dev/null 2>"$tmp/e5"
check "malformed post: non-zero exit" test $? -ne 0
check "malformed post: clear message" grep -q "malformed JSON at line 1" "$tmp/e5"

# a policy that crashes: the post is escalated with the error, never dropped
mkdir -p "$tmp/crash"
printf 'return function(post, ctx)\n  local x = nil\n  return x.field\nend\n' >"$tmp/crash/main.lua"
"$sb" policy try "$tmp/crash" --post samples/post.json >"$tmp/o6" 2>"$tmp/e6"
check "crashing policy: escalated to policy-errors" grep -q '"action":"escalate".*"queue":"policy-errors"' "$tmp/o6"
check "crashing policy: error with file and line" grep -q '"error":{"code":"policy_error","message":"main.lua:3: attempt to index a nil value (local '"'"'x'"'"')","file":"main.lua","line":3' "$tmp/o6"

# failing tests: per-test report and non-zero exit
mkdir -p "$tmp/failing"
printf 'return function(post, ctx) return ignore { reason = "always" } end\n' >"$tmp/failing/main.lua"
cat >"$tmp/failing/main_test.lua" <<'LUA'
test("ignores", function() expect_eq(decide(post { text = "x" }).action, "ignore") end)
test("acknowledges", function() expect_eq(decide(post { text = "x" }).action, "acknowledge") end)
LUA
"$sb" policy test "$tmp/failing" >"$tmp/o7" 2>"$tmp/e7"
check "failing test: non-zero exit" test $? -ne 0
check "failing test: passing test reported ok" grep -q "ok    ignores" "$tmp/o7"
check "failing test: failure names test, file, line and values" \
  bash -c "grep -q 'FAIL  acknowledges' '$tmp/o7' && grep -q 'main_test.lua:2: expected \"acknowledge\", got \"ignore\"' '$tmp/o7'"
check "failing test: summary" grep -q "1 passed, 1 failed" "$tmp/o7"

# syntax error: check fails with file:line
mkdir -p "$tmp/syntax"
printf 'return function(post, ctx)\n  return ignore { reason = "x" \nend\n' >"$tmp/syntax/main.lua"
"$sb" policy check "$tmp/syntax" >"$tmp/o8" 2>"$tmp/e8"
check "syntax error: non-zero exit" test $? -ne 0
check "syntax error: file and line" grep -q "main.lua:3:" "$tmp/o8"

# no tests at all is a failure, not a silent pass
mkdir -p "$tmp/notests"
printf 'return function(post, ctx) return ignore {} end\n' >"$tmp/notests/main.lua"
"$sb" policy test "$tmp/notests" >/dev/null 2>"$tmp/e9"
check "no tests: non-zero exit with a reason" bash -c "! '$sb' policy test '$tmp/notests' >/dev/null 2>&1 && grep -q 'no tests found' '$tmp/e9'"
exit $fail
