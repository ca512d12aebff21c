#!/usr/bin/env bash
# CLI tests for `switchboard replay`: the real Jetstream corpus, dedupe on a second run, and
# bad input (malformed JSON, wrong shapes, invalid UTF-8, an oversized line) reported one line
# each without stopping the run or losing the good lines around them.
set -u
sb=$1 fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME COND...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}

corpus=$fixtures/bluesky/jetstream_corpus_v1.jsonl
"$sb" replay --db "$tmp/a.db" "$corpus" >"$tmp/out1" 2>"$tmp/err1"
check "first replay exits 0" test $? -eq 0
check "17 decisions printed" test "$(wc -l <"$tmp/out1")" -eq 17
check "summary counts 17 new posts, 1 delete, 134 skipped, 0 errors" \
  grep -q "152 events: 17 new posts, 0 already recorded, 0 edits of recorded posts, 1 deletes, 134 skipped, 0 errors" "$tmp/err1"
check "likes counted by kind" grep -q "commit:app.bsky.feed.like 105" "$tmp/err1"
check "every decision line is JSON with an action" \
  bash -c "grep -c '\"decision\":{\"action\":\"' '$tmp/out1' | grep -qx 17"

"$sb" replay --db "$tmp/a.db" "$corpus" >"$tmp/out2" 2>"$tmp/err2"
check "second replay records nothing new" test "$(wc -l <"$tmp/out2")" -eq 0
check "second replay says so" grep -q "nothing new: all 17 posts were already recorded" "$tmp/err2"

# bad input between good lines
good1=$(sed -n 110p "$corpus")   # a post create (0-based line 109)
good2=$(sed -n 26p "$corpus")    # a reply (line 25)
{
  echo "$good1"
  echo '{"did": "did:plc:x", "kind": "commit", '          # truncated JSON
  echo '[1, 2, 3]'                                         # valid JSON, wrong shape
  printf '{"did":"did:plc:abc","time_us":1,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"app.bsky.feed.post","rkey":"3k","record":{"text":"bad \xff\xfe utf8","createdAt":"2026-01-01T00:00:00Z"},"cid":"bafy"}}\n'
  head -c 1200000 /dev/zero | tr '\0' 'a'; echo            # a 1.2 MB line
  echo ''                                                  # blank line: ignored
  echo "$good2"
} >"$tmp/bad.jsonl"
"$sb" replay --db "$tmp/b.db" "$tmp/bad.jsonl" >"$tmp/out3" 2>"$tmp/err3"
check "bad input: exits 0 and keeps going" test $? -eq 0
check "bad input: both good posts decided" test "$(wc -l <"$tmp/out3")" -eq 2
check "bad input: malformed JSON reported with file:line" grep -q "bad.jsonl:2: malformed JSON" "$tmp/err3"
check "bad input: wrong shape reported" grep -q "bad.jsonl:3: schema" "$tmp/err3"
check "bad input: invalid UTF-8 reported" grep -q "bad.jsonl:4: utf8" "$tmp/err3"
check "bad input: oversized line reported" grep -q "bad.jsonl:5: line longer than 1 MiB" "$tmp/err3"
check "bad input: 4 errors in the summary" grep -q ", 4 errors" "$tmp/err3"
check "bad input: one line per error" test "$(grep -c '^replay: .*bad.jsonl:' "$tmp/err3")" -eq 4

# Mastodon: a notification envelope delivered twice, then its deletion
env=$fixtures/mastodon/derived_streaming_ws_notification_mention_event.json
{ tr -d '\n' <"$env"; echo; tr -d '\n' <"$env"; echo; echo '{"stream":["user"],"event":"delete","payload":"108914343542683797"}'; } >"$tmp/m.jsonl"
"$sb" replay --db "$tmp/c.db" "$tmp/m.jsonl" >"$tmp/out4" 2>"$tmp/err4"
check "mastodon duplicate delivery: one decision" test "$(wc -l <"$tmp/out4")" -eq 1
check "mastodon duplicate delivery: counted" grep -q "1 new posts, 1 already recorded, 0 edits of recorded posts, 1 deletes" "$tmp/err4"
check "mastodon bot author ignored" grep -q '"action":"ignore"' "$tmp/out4"

# missing file and missing policy: clear errors, non-zero exit
"$sb" replay --db "$tmp/d.db" "$tmp/nope.jsonl" >/dev/null 2>"$tmp/err5"
check "missing input file reported" grep -q "cannot open $tmp/nope.jsonl" "$tmp/err5"
"$sb" replay --policy "$tmp/nopolicy" --db "$tmp/d.db" "$corpus" >/dev/null 2>"$tmp/err6"
check "missing policy: non-zero exit" test $? -ne 0
check "missing policy: clear message" grep -q "cannot load policy" "$tmp/err6"
exit $fail
