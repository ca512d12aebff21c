#!/usr/bin/env bash
# `switchboard agent`: agents are added with a password from stdin (never echoed or stored in
# clear), names and roles are checked, queues must exist in the config, and list/set/passwd work.
set -u
sb=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; fail=1; }
db="$tmp/a.db"
cat >"$tmp/c.lua" <<LUA
return { store = "$db", queues = { support = {}, billing = { first_response = "1h" } }, accounts = {} }
LUA
out=$(printf 's3cret-password\n' | "$sb" agent add alice --role agent --queues support,billing -c "$tmp/c.lua" 2>&1)
[ $? -eq 0 ] && grep -q "agent alice added" <<<"$out" && ok "add from stdin" || bad "add" "$out"
grep -q "s3cret" <<<"$out" && bad "password echoed" "$out"
out=$(printf 's3cret-password\n' | "$sb" agent add alice -c "$tmp/c.lua" 2>&1)
[ $? -ne 0 ] && grep -q "exists" <<<"$out" && ok "duplicate refused" || bad "dup" "$out"
out=$(printf 's3cret-password\n' | "$sb" agent add bob --role boss -c "$tmp/c.lua" 2>&1)
[ $? -eq 2 ] && grep -q "role is agent, supervisor or admin" <<<"$out" && ok "bad role" || bad "role" "$out"
out=$(printf 's3cret-password\n' | "$sb" agent add bob --queues legal -c "$tmp/c.lua" 2>&1)
[ $? -eq 2 ] && grep -q "no queue named 'legal'" <<<"$out" && ok "unknown queue" || bad "queue" "$out"
out=$(printf 'short\n' | "$sb" agent add bob -c "$tmp/c.lua" 2>&1)
[ $? -ne 0 ] && grep -q "8 to 1024" <<<"$out" && ok "short password refused" || bad "short" "$out"
out=$(printf 'x\n' | "$sb" agent add 'bad name!' -c "$tmp/c.lua" 2>&1)
[ $? -eq 2 ] && ok "bad name refused" || bad "name" "$out"
out=$(printf 'another-password\n' | "$sb" agent add sam --role supervisor --db "$db" 2>&1)
[ $? -eq 0 ] && ok "add with --db" || bad "add --db" "$out"
out=$("$sb" agent set alice --disable --db "$db" 2>&1)
[ $? -eq 0 ] && ok "disable" || bad "disable" "$out"
out=$("$sb" agent list --db "$db" 2>&1)
if grep -q "alice .*agent .*disabled .*support,billing" <<<"$out" && grep -q "sam .*supervisor .*active .*(every queue)" <<<"$out"; then
  ok "list"; else bad "list" "$out"; fi
out=$(printf 'new-password-1\n' | "$sb" agent passwd alice --db "$db" 2>&1)
[ $? -eq 0 ] && ok "passwd" || bad "passwd" "$out"
out=$(printf 'new-password-1\n' | "$sb" agent passwd nobody --db "$db" 2>&1)
[ $? -ne 0 ] && grep -q "no agent named 'nobody'" <<<"$out" && ok "passwd unknown" || bad "passwd unknown" "$out"
if command -v sqlite3 >/dev/null; then
  h=$(sqlite3 "$db" "SELECT pw_hash FROM agents WHERE name = 'alice'")
  [[ $h == \$argon2id\$* ]] && ok "stored as argon2id" || bad "hash" "$h"
fi
if grep -qa "s3cret-password\|new-password-1" "$db" "$db-wal" 2>/dev/null; then bad "clear password in the database" ""; fi
exit $fail
