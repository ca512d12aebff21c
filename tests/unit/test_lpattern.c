/* test_lpattern.c — the budgeted pattern engine (policy/lpattern.c) against stock Lua 5.4.
 *
 * The differential test runs every case through the real string library and through the
 * engine in the same lua_State and compares the printed results, including error text, so a
 * semantic drift shows up as a named mismatch. The budget tests check that pathological
 * patterns stop quickly, that ordinary work fits a small budget, and that deep recursion is an
 * error rather than a crash. */
#include <stdlib.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "policy/lpattern.h"
#include "t.h"

static struct sb_pattern_budget *g_budget; /* what get_budget hands out; NULL = unlimited */
static int g_budget_calls;

static struct sb_pattern_budget *get_budget(lua_State *L)
{
    (void)L;
    g_budget_calls++;
    return g_budget;
}

/* A state with the stock library as `string` and the engine as global `E`. */
static lua_State *new_state(sb_pattern_budget_fn fn)
{
    lua_State *L = luaL_newstate();
    int top;

    luaL_openlibs(L);
    top = lua_gettop(L);
    lua_newtable(L);
    sb_lpattern_install(L, -1, fn);
    T_INTEQ(lua_gettop(L), top + 1); /* install leaves the stack as it found it */
    lua_setglobal(L, "E");
    return L;
}

/* Run a chunk; on error copy the message (without "chunk:line: ") into err. */
static int run(lua_State *L, const char *code, char *err, size_t errsz)
{
    int rc = luaL_loadbuffer(L, code, strlen(code), "=test") || lua_pcall(L, 0, 1, 0);

    if (err && errsz)
        err[0] = '\0';
    if (rc) {
        const char *m = lua_tostring(L, -1);
        const char *colon;

        if (!m)
            m = "(non-string error)";
        /* "test:3: msg" -> "msg" */
        colon = strstr(m, ": ");
        if (colon && strncmp(m, "test:", 5) == 0)
            m = colon + 2;
        if (err)
            snprintf(err, errsz, "%s", m);
    }
    return rc;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- differential ------------------------------------------------------------------------ */

/* Loaded with (stock, engine); returns the case count and check(i) -> same, description. */
static const char *harness =
    "local S, E = ...\n"
    "local cases = {}\n"
    "local function C(...) cases[#cases + 1] = table.pack(...) end\n"
    "local function ser(v)\n"
    "  local t = type(v)\n"
    "  if t == 'string' then return S.format('%q', v) end\n"
    "  if t == 'number' then return math.type(v) .. ':' .. tostring(v) end\n"
    "  if t == 'nil' or t == 'boolean' then return tostring(v) end\n"
    "  return t\n"
    "end\n"
    "local function strip(e)\n"
    "  if type(e) ~= 'string' then return 'non-string error ' .. type(e) end\n"
    "  return (S.gsub(e, '^[^:\\n]*:%d+: ', ''))\n"
    "end\n"
    /* A non-tail call through a local so both libraries get the same name in arg errors. */
    "local function invoke(f, ...)\n"
    "  local r = table.pack(f(...))\n"
    "  return r\n"
    "end\n"
    "local function run(lib, c)\n"
    "  local f = lib[c[1]]\n"
    "  local ok, r = pcall(invoke, f, table.unpack(c, 2, c.n))\n"
    "  if not ok then return 'error: ' .. strip(r) end\n"
    "  if c[1] == 'gmatch' then\n"
    "    local it, out = r[1], {}\n"
    "    for _ = 1, 300 do\n"
    "      local g = table.pack(pcall(it))\n"
    "      if not g[1] then out[#out + 1] = 'error: ' .. strip(g[2]); break end\n"
    "      if g.n == 1 then out[#out + 1] = 'end'; break end\n"
    "      local p = {}\n"
    "      for i = 2, g.n do p[#p + 1] = ser(g[i]) end\n"
    "      out[#out + 1] = '(' .. table.concat(p, ',') .. ')'\n"
    "    end\n"
    "    return table.concat(out, ' ')\n"
    "  end\n"
    "  local p = {}\n"
    "  for i = 1, r.n do p[#p + 1] = ser(r[i]) end\n"
    "  return table.concat(p, ', ')\n"
    "end\n"
    "local function describe(c)\n"
    "  local p = {}\n"
    "  for i = 2, c.n do\n"
    "    local v = c[i]\n"
    "    if type(v) == 'string' and #v > 40 then v = v:sub(1, 40) .. '...' end\n"
    "    p[#p + 1] = ser(v)\n"
    "  end\n"
    "  return c[1] .. '(' .. table.concat(p, ', ') .. ')'\n"
    "end\n"
    /* Helpers used as replacements: they show exactly what they were passed. */
    "local function rec(...)\n"
    "  local t, p = table.pack(...), {}\n"
    "  for i = 1, t.n do p[i] = ser(t[i]) end\n"
    "  return '[' .. table.concat(p, '|') .. ']'\n"
    "end\n"
    "local all = {}\n"
    "for i = 0, 255 do all[#all + 1] = S.char(i) end\n"
    "local ALL = table.concat(all)\n"
    "\n"
    "-- find: init handling and plain search\n"
    "C('find', 'hello world', 'o')\n"
    "C('find', 'hello world', 'o', 6)\n"
    "C('find', 'hello world', 'o', -3)\n"
    "C('find', 'hello world', 'o', -100)\n"
    "C('find', 'hello world', 'o', 100)\n"
    "C('find', 'hello world', 'o', 0)\n"
    "C('find', 'hello world', 'l', math.maxinteger)\n"
    "C('find', 'hello world', 'l', math.mininteger)\n"
    "C('find', 'hello', '', 1)\n"
    "C('find', 'hello', '', 5)\n"
    "C('find', 'hello', '', 6)\n"
    "C('find', 'hello', '', 7)\n"
    "C('find', 'hello', '', -1)\n"
    "C('find', '', '')\n"
    "C('find', '', '', 1)\n"
    "C('find', '', '', 2)\n"
    "C('find', '', 'a')\n"
    "C('find', '', 'x*')\n"
    "C('find', '', '^$')\n"
    "C('find', '', '$')\n"
    "C('find', 'a.b', '.', 1, true)\n"
    "C('find', 'a+b', '+', 1, true)\n"
    "C('find', 'a+b', 'a+b', 1, true)\n"
    "C('find', 'a+b', 'a+b')\n"
    "C('find', 'abc', 'c', -1, true)\n"
    "C('find', 'abc', '', 10, true)\n"
    "C('find', 'abc', '', 4, true)\n"
    "C('find', 'abc', 'b', 0, true)\n"
    "C('find', 'a%b', '%', 1, true)\n"
    "C('find', 'x', 'x', 1, false)\n"
    "C('find', 'x', 'x.', 1, nil)\n"
    "C('find', 'aaab', 'aab', 1, true)\n"
    "C('find', 'aaab', 'aab', 3, true)\n"
    "C('find', 'aab', 'ab', 1, 1)\n"
    "C('find', 'abc', 'abcd', 1, true)\n"
    "C('find', 'a)b', 'a)')\n"
    "C('find', 'hello', 'l+')\n"
    "C('find', 'hello', 'l*')\n"
    "C('find', 'hello', 'l-')\n"
    "C('find', 'hello', 'l?')\n"
    "C('find', 'hello', 'h.-o')\n"
    "C('find', 'hello', 'x*$')\n"
    "C('find', 'hello world', '(o)(r)')\n"
    "C('find', 'hello world', '()or()')\n"
    "C('find', 12345, 3)\n"
    "C('find', 12345, '3', '2')\n"
    "C('find', 'x', 'x', 1.0)\n"
    "C('find', 'x', 'x', 2.5)\n"
    "C('find', 'x', 'x', {})\n"
    "C('find', 'x', 'x', '1x')\n"
    "C('find', 'x')\n"
    "C('find', nil, 'x')\n"
    "C('find', {}, 'x')\n"
    "-- anchors\n"
    "C('find', 'hello', '^h')\n"
    "C('find', 'hello', '^e')\n"
    "C('find', 'hello', '^e', 2)\n"
    "C('find', 'hello', 'o$')\n"
    "C('find', 'hello', 'l$')\n"
    "C('find', 'hel$lo', 'l$l')\n"
    "C('find', 'hello', '^hello$')\n"
    "C('find', 'a^b', 'a^b')\n"
    "C('find', 'a^b', '^b', 2)\n"
    "C('find', 'a^b', '^^')\n"
    "C('find', '^a', '^^')\n"
    "C('match', 'x$', '$$')\n"
    "C('match', 'x$', 'x$$')\n"
    "C('match', 'hello', '^(h)(.*)$')\n"
    "-- sets\n"
    "C('match', 'hello', '[aeiou]+')\n"
    "C('match', 'hello', '[^aeiou]+')\n"
    "C('match', 'a]b', '[]]')\n"
    "C('match', 'a]b]', '[^]]+')\n"
    "C('match', 'b]b', '[]b]+')\n"
    "C('match', 'a-b', '[a-]+')\n"
    "C('match', 'b-a', '[-a]+')\n"
    "C('match', 'abc-', '[a%-c]+')\n"
    "C('match', 'x2024-01-05', '[0-9]+')\n"
    "C('match', 'x2024-01-05', '[0-9-]+')\n"
    "C('match', 'q-z', '[a-z-]+')\n"
    "C('match', 'a^b', '[%^]')\n"
    "C('match', 'a^b', '[b^]+')\n"
    "C('match', '^x', '[^^]')\n"
    "C('match', 'x]', '[x%]]+')\n"
    "C('match', 'A1_b', '[%a_%d]+')\n"
    "C('match', 'A1_b ', '[^%s]+')\n"
    "C('match', 'ab.c', '[.]')\n"
    "C('match', 'z', '[z-a]')\n"
    "C('match', '-', '[z-a]')\n"
    "C('gsub', ALL, '[\\128-\\255]', '')\n"
    "C('gsub', ALL, '[\\0-\\31]', '.')\n"
    "C('gsub', ALL, '[^\\32-\\126]+', '?')\n"
    "C('find', 'x', '[a-')\n"
    "C('find', 'x', '[a')\n"
    "C('find', 'x', '[')\n"
    "C('find', 'x', '[]')\n"
    "C('find', 'x', '[^]')\n"
    "C('find', 'x', '[^')\n"
    "C('find', 'x', '[%')\n"
    "C('find', 'x', '[%a')\n"
    "C('find', 'x', '[%]')\n"
    "C('find', 'x', '%')\n"
    "C('find', 'x', 'x%')\n"
    "C('match', '%', '%%')\n"
    "C('match', 'a.b', '%.')\n"
    "C('match', 'x', '%x')\n"
    "C('match', '-', '%-')\n"
    "-- quantifiers\n"
    "C('match', 'aaa', 'a-b')\n"
    "C('match', 'aaab', 'a-b')\n"
    "C('match', 'aaa', '^a-$')\n"
    "C('match', '', 'a*')\n"
    "C('match', 'abc', 'a?b?c?d?')\n"
    "C('match', '*a', '*a')\n"
    "C('match', '+a', '+a')\n"
    "C('match', '-', '-')\n"
    "C('match', '?', '?')\n"
    "C('match', 'a?', 'a?')\n"
    "C('match', 'abb', '.+b')\n"
    "C('match', 'abbb', 'ab+')\n"
    "C('match', 'a', 'a+$')\n"
    "C('match', 'x+', '(x)+')\n"
    "C('match', 'xx', '(x)*')\n"
    "C('match', 'aaaa', '^(a-)(a*)$')\n"
    "C('match', 'aaaa', '^(a+)(a+)$')\n"
    "C('match', 'aaaa', '^(a?)(a?)a*$')\n"
    "C('match', '<a><b>', '<(.-)>')\n"
    "C('match', '<a><b>', '<(.*)>')\n"
    "C('match', ('ab'):rep(50) .. 'c', '(ab)*c')\n"
    "-- captures\n"
    "C('match', 'hello world', '(h)(e)(l)')\n"
    "C('match', 'hello', '()ll()')\n"
    "C('match', 'hello', '((l)(l))')\n"
    "C('match', 'key = value', '(%w+)%s*=%s*(%w+)')\n"
    "C('match', 'abc', '()')\n"
    "C('match', 'abc', '()', 4)\n"
    "C('match', 'abc', '()', 5)\n"
    "C('match', 'abc', '(a')\n"
    "C('match', 'abc', 'a)')\n"
    "C('match', 'abc', ')')\n"
    "C('match', 'abc', '((a)')\n"
    "C('find', 'abc', '(a')\n"
    "C('match', 'abc', '(()a())')\n"
    "C('match', ('a'):rep(40), ('(a)'):rep(32))\n"
    "C('match', ('a'):rep(40), ('(a)'):rep(33))\n"
    "C('find', ('a'):rep(40), ('()'):rep(32))\n"
    "-- back-references\n"
    "C('match', 'abcabc', '(abc)%1')\n"
    "C('match', 'say \"hi\" and \\'x\\'', '([\"\\'])(.-)%1')\n"
    "C('match', 'aa', '(a)%2')\n"
    "C('match', 'aa', '%1')\n"
    "C('match', 'aa', '%0')\n"
    "C('match', 'aa', '(a%1)')\n"
    "C('match', 'aa', '()%1')\n"
    "C('match', 'xyzxyzy', '(x(y)z)%1%2')\n"
    "C('match', 'abab', '(a)(b)%1%2')\n"
    "C('match', 'abab', '(a)(b)%2%1')\n"
    "C('match', 'aaaa', '(a*)%1$')\n"
    "C('match', 'aaa', '^(a*)%1$')\n"
    "C('match', 'ab', '(a)%1?')\n"
    "-- %b\n"
    "C('match', 'f(a(b)c)d', '%b()')\n"
    "C('match', '((', '%b()')\n"
    "C('match', '(()', '%b()')\n"
    "C('match', 'x)(y)', '%b()')\n"
    "C('match', 'x', '%b')\n"
    "C('match', 'x', '%bx')\n"
    "C('match', \"''a'\", \"%b''\")\n"
    "C('match', '[[x]]y]', '%b[]')\n"
    "C('match', 'no parens', '%b()')\n"
    "C('match', '(a)(b)', '(%b())(%b())')\n"
    "C('match', 'if (a and (b)) then', 'if%s*(%b())')\n"
    "C('match', '((a)', '%b()$')\n"
    "-- %f\n"
    "C('match', 'THE (quick) fox', '%f[%a]%a+')\n"
    "C('find', 'hello', '%f[%a]')\n"
    "C('find', 'hello', '%f[%A]')\n"
    "C('find', 'hello', '%f[%z]')\n"
    "C('find', 'hello', '%f[%a]', 2)\n"
    "C('find', '', '%f[%a]')\n"
    "C('find', '', '%f[^%a]')\n"
    "C('find', '', '%f[%z]')\n"
    "C('find', 'a', '%f[^%z]')\n"
    "C('match', 'hello world', '%f[%w]%w+$')\n"
    "C('match', 'x', '%f')\n"
    "C('match', 'x', '%fa')\n"
    "C('match', 'x', '%f[a')\n"
    "C('gmatch', 'the cat sat', '%f[%w]%w+')\n"
    "C('gsub', 'THE (quick) fox', '%f[%a]%a+', 'W')\n"
    "C('gsub', 'hello world', '%f[%w]', '|')\n"
    "C('gsub', 'hello world', '%f[%W]', '|')\n"
    "-- embedded zeros and high bytes\n"
    "C('find', 'a\\0b', '%z')\n"
    "C('find', 'a\\0b', '\\0')\n"
    "C('find', 'a\\0b', '[\\0]')\n"
    "C('find', 'a\\0b', 'a%zb')\n"
    "C('find', 'a\\0b', '\\0b', 1, true)\n"
    "C('find', 'a\\0b', '\\0.')\n"
    "C('match', 'a\\0b', '[^%z]+$')\n"
    "C('match', 'caf\\195\\169!', '[\\128-\\255]+')\n"
    "C('match', '\\255', '[\\200-\\255]')\n"
    "C('match', 'a\\0b', '%Z+')\n"
    "-- depth and complexity limits\n"
    "C('match', ('a'):rep(300), ('a?'):rep(198))\n"
    "C('match', ('a'):rep(300), ('a?'):rep(199))\n"
    "C('match', ('a'):rep(300), ('a?'):rep(200))\n"
    "C('match', ('a'):rep(300), ('a?'):rep(201))\n"
    "C('match', ('a'):rep(10), ('.-'):rep(250) .. 'b')\n"
    "C('match', ('a'):rep(100), ('a'):rep(100))\n"
    "-- match: init and results\n"
    "C('match', 'hello', 'h(.)')\n"
    "C('match', 'hello', 'xyz')\n"
    "C('match', 'hello', '.-', 3)\n"
    "C('match', 'hello', 'l+', -2)\n"
    "C('match', 'hello', '', 10)\n"
    "C('match', 'hello', '', 6)\n"
    "C('match', 'a,b,,c', '([^,]*)')\n"
    "C('match', 'a,b,,c', '([^,]*)', 5)\n"
    "C('match')\n"
    "-- gmatch\n"
    "C('gmatch', 'abc', 'x*')\n"
    "C('gmatch', 'abc', '')\n"
    "C('gmatch', '', '')\n"
    "C('gmatch', '', 'x')\n"
    "C('gmatch', 'hello world from lua', '%a+')\n"
    "C('gmatch', 'k1=v1, k2=v2', '(%w+)=(%w+)')\n"
    "C('gmatch', 'abc', '()')\n"
    "C('gmatch', 'abc', '.', 2)\n"
    "C('gmatch', 'abc', '.', -1)\n"
    "C('gmatch', 'abc', '.', -10)\n"
    "C('gmatch', 'abc', '.', 10)\n"
    "C('gmatch', 'abc', '', 4)\n"
    "C('gmatch', 'abc', '', 5)\n"
    "C('gmatch', 'a^b', '^b')\n"
    "C('gmatch', 'abc', '^a')\n"
    "C('gmatch', 'aaa', 'a*')\n"
    "C('gmatch', 'baaac', 'a*')\n"
    "C('gmatch', 'a,b,,c', '([^,]*)')\n"
    "C('gmatch', 'abc', '(')\n"
    "C('gmatch', 'abc', '[a')\n"
    "C('gmatch', 'abc', '%1')\n"
    "C('gmatch', 'abc')\n"
    "C('gmatch', 'abc', '.', 1.5)\n"
    "C('gmatch', 'abab', '(a)(b)()')\n"
    "C('gmatch', 'one two  three', '%S+')\n"
    "C('gmatch', 12321, 2)\n"
    "-- gsub: string replacements\n"
    "C('gsub', 'hello world', 'o', '0')\n"
    "C('gsub', 'hello world', 'o', '0', 1)\n"
    "C('gsub', 'hello world', 'o', '0', 0)\n"
    "C('gsub', 'hello world', 'o', '0', -1)\n"
    "C('gsub', 'hello world', 'o', '0', math.mininteger)\n"
    "C('gsub', 'hello world', 'o', '0', math.maxinteger)\n"
    "C('gsub', 'hello world', 'o', '0', '1')\n"
    "C('gsub', 'hello world', 'o', '0', 1.5)\n"
    "C('gsub', 'hello', '', '-')\n"
    "C('gsub', 'abc', 'x*', '-')\n"
    "C('gsub', 'abc', 'b*', '-')\n"
    "C('gsub', 'hello world', '(%w+)', '<%1>')\n"
    "C('gsub', 'hello world', '%w+', '%0 %0')\n"
    "C('gsub', 'hello', 'l', '%%')\n"
    "C('gsub', 'hello', 'l', '%')\n"
    "C('gsub', 'hello', 'l', 'a%')\n"
    "C('gsub', 'hello', 'l', '%x')\n"
    "C('gsub', 'hello', 'l', '%\\0')\n"
    "C('gsub', 'hello', 'l', '%1')\n"
    "C('gsub', 'hello', 'l', '%2')\n"
    "C('gsub', 'hello', '(l)', '%2')\n"
    "C('gsub', 'hello', '(l)', '%9')\n"
    "C('gsub', 'hello', '()l', '%1')\n"
    "C('gsub', 'hello', '()l()', '%2-%1')\n"
    "C('gsub', 'hello', '(h)(e)', '%2%1')\n"
    "C('gsub', 'abc', '%w', '%0%0')\n"
    "C('gsub', 'abc', 'b', '\\0%0\\0')\n"
    "C('gsub', 'abc', 'b', 5)\n"
    "C('gsub', 'abc', 'b', 1.5)\n"
    "C('gsub', 'abc', 'b', 2^63)\n"
    "C('gsub', 'abc', '(b', 'x')\n"
    "C('gsub', 'abc', '(b', '%1')\n"
    "C('gsub', 'abc', '(', 'x')\n"
    "C('gsub', 'abc', '[', 'x')\n"
    "C('gsub', 'abc', '%', 'x')\n"
    "C('gsub', 12345, '3', 'x')\n"
    "C('gsub', 12345, '9', 'x')\n"
    "C('gsub', 'abc', 'b')\n"
    "C('gsub', 'abc', 'b', true)\n"
    "C('gsub', 'abc', 'b', nil, 1)\n"
    "C('gsub', 'abc', 'b', nil, 1.5)\n"
    "-- gsub: anchors and empty matches\n"
    "C('gsub', 'hello hello', '^hello', 'X')\n"
    "C('gsub', 'hello', '^', '>')\n"
    "C('gsub', 'hello', '$', '<')\n"
    "C('gsub', '', '', 'x')\n"
    "C('gsub', '', '^', 'x')\n"
    "C('gsub', 'abc', '^x*', '-')\n"
    "C('gsub', 'abc', '^z', '-')\n"
    "C('gsub', 'a,b,,c', '[^,]*', '<%0>')\n"
    "C('gsub', '  trim me  ', '^%s*(.-)%s*$', '%1')\n"
    "-- gsub: tables\n"
    "C('gsub', 'hello world', '%w+', {hello = 'HI'})\n"
    "C('gsub', 'hello world', '%w+', {hello = false, world = 'W'})\n"
    "C('gsub', 'hello world', '%w+', {hello = 42})\n"
    "C('gsub', 'hello world', '%w+', {hello = 4.5})\n"
    "C('gsub', 'hello world', '%w+', {hello = {}})\n"
    "C('gsub', 'hello world', '%w+', {hello = true})\n"
    "C('gsub', 'abc', '()b', {[2] = 'X'})\n"
    "C('gsub', 'k=v', '(%w)=(%w)', {k = 'K'})\n"
    "C('gsub', 'abc', '%w', setmetatable({}, {__index = function(_, k) return k:upper() end}))\n"
    "C('gsub', 'abc', '%w', {})\n"
    "-- gsub: functions\n"
    "C('gsub', 'hello world', '%w+', rec)\n"
    "C('gsub', 'hello world', '(%w)(%w*)', rec)\n"
    "C('gsub', 'hello', '()l()', rec)\n"
    "C('gsub', 'abc', '', rec)\n"
    "C('gsub', 'abc', '%w', rec, 2)\n"
    "C('gsub', 'abc', '%w', function() return nil end)\n"
    "C('gsub', 'abc', '%w', function() return false end)\n"
    "C('gsub', 'abc', '%w', function() return 7 end)\n"
    "C('gsub', 'abc', '%w', function() return {} end)\n"
    "C('gsub', 'abc', '%w', function() return print end)\n"
    "C('gsub', 'abc', '%w', function() error('boom') end)\n"
    "C('gsub', 'abc', '%w', function() error({}) end)\n"
    "C('gsub', 'abc', '(b', rec)\n"
    "C('gsub', 'abc', '%w', function(c) return S.gsub(c, '.', '%0%0') end)\n"
    "C('gsub', 'x = 1, y = 2', '(%w+) = (%w+)', '%2 = %1')\n"
    "C('gsub', 'abc', '.', {a = 1, b = true})\n"
    "-- character classes over every byte, alone, in a set and complemented\n"
    "for cl in ('acdglpsuwxzACDGLPSUWXZ'):gmatch('.') do\n"
    "  C('gsub', ALL, '%' .. cl, '')\n"
    "  C('gsub', ALL, '[%' .. cl .. ']', '')\n"
    "  C('gsub', ALL, '[^%' .. cl .. 'a-c]', '')\n"
    "end\n"
    "C('gsub', ALL, '.', '')\n"
    "C('gsub', ALL, '%.', '')\n"
    "C('gsub', ALL, '%%', '')\n"
    "C('gsub', ALL, '%]', '')\n"
    "C('gsub', ALL, '%q', '')\n"
    "\n"
    "local function check(i)\n"
    "  local c = cases[i]\n"
    "  local a, b = run(S, c), run(E, c)\n"
    "  return a == b, describe(c) .. '\\n    stock:  ' .. a .. '\\n    engine: ' .. b\n"
    "end\n"
    "return #cases, check\n";

/* Run every case through both libraries; budget NULL (unlimited) or a generous real one. */
static void diff_all(struct sb_pattern_budget *budget)
{
    lua_State *L = new_state(get_budget);
    int n;

    g_budget = budget;
    T_INTEQ(luaL_loadbuffer(L, harness, strlen(harness), "=harness"), LUA_OK);
    lua_getglobal(L, "string");
    lua_getglobal(L, "E");
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        fprintf(stderr, "harness: %s\n", lua_tostring(L, -1));
        T_CHECK(0);
        lua_close(L);
        return;
    }
    n = (int)lua_tointeger(L, -2);
    T_CHECK(n >= 150);
    for (int i = 1; i <= n; i++) {
        int same;

        lua_pushvalue(L, -1);
        lua_pushinteger(L, i);
        if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
            fprintf(stderr, "case %d: harness error %s\n", i, lua_tostring(L, -1));
            T_CHECK(0);
            lua_pop(L, 1);
            continue;
        }
        same = lua_toboolean(L, -2);
        T_CHECK(same);
        if (!same)
            fprintf(stderr, "case %d: %s\n", i, lua_tostring(L, -1));
        lua_pop(L, 2);
    }
    fprintf(stderr, "  %d differential cases\n", n);
    if (budget)
        T_INTEQ(budget->exhausted, 0);
    g_budget = NULL;
    lua_close(L);
}

static void test_differential_unlimited(void)
{
    diff_all(NULL);
}

static void test_differential_budgeted(void)
{
    struct sb_pattern_budget b = {1000000000LL, 0};

    diff_all(&b);
    T_CHECK(b.steps < 1000000000LL); /* the cases were charged */
}

/* ---- budget ------------------------------------------------------------------------------ */

static void test_budget_pathological(void)
{
    static const char *const calls[] = {
        "return E.find(('a'):rep(20000), '.-.-.-.-b')",
        "return E.match(('a'):rep(20000), '.-.-.-.-b')",
        "return E.gsub(('a'):rep(20000), '.-.-.-.-b', 'x')",
        "for _ in E.gmatch(('a'):rep(20000), '.-.-.-.-b') do end",
        "return E.find(('a'):rep(20000), ('a'):rep(10000) .. 'b', 1, true)",
        "return E.match(('a'):rep(1000), ('(.-)'):rep(30) .. 'x')",
    };
    lua_State *L = new_state(get_budget);

    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        struct sb_pattern_budget b = {1000000, 0};
        char err[256];
        double t0 = now(), dt;

        g_budget = &b;
        T_CHECK(run(L, calls[i], err, sizeof err) != LUA_OK);
        dt = now() - t0;
        T_STREQ(err, "pattern budget exceeded");
        T_INTEQ(b.exhausted, 1);
        T_INTEQ(b.steps, 0);
        T_CHECK(dt < 2.0);
        if (dt >= 2.0)
            fprintf(stderr, "  %s took %.2fs\n", calls[i], dt);
        lua_settop(L, 0);
    }
    /* Exhausted stays exhausted: a caught error does not let the policy keep matching. */
    {
        struct sb_pattern_budget b = {1000000, 0};
        char err[256];

        g_budget = &b;
        T_CHECK(run(L,
                    "local ok = pcall(E.find, ('a'):rep(20000), '.-.-.-.-b')\n"
                    "assert(not ok)\n"
                    "return E.find('abc', 'b')",
                    err, sizeof err) != LUA_OK);
        T_STREQ(err, "pattern budget exceeded");
        T_INTEQ(b.exhausted, 1);
    }
    g_budget = NULL;
    lua_close(L);
}

static void test_budget_normal(void)
{
    lua_State *L = new_state(get_budget);
    struct sb_pattern_budget b = {100000, 0};
    char err[256];

    g_budget = &b;
    T_INTEQ(run(L,
                "local s = ('The quick brown fox jumps over the lazy dog. '):rep(12):sub(1, 500)\n"
                "assert(#s == 500)\n"
                "assert(E.find(s, 'lazy dog', 1, true) == 36)\n"
                "assert(E.find(s, 'y%s+dog') == 39)\n"
                "assert(select(3, E.find(s, '(%w+)%s+dog')) == 'lazy')\n"
                "assert(E.match(s, '^(%a+)') == 'The')\n"
                "local n = 0\n"
                "for w in E.gmatch(s, '%a+') do n = n + 1 end\n"
                "assert(n == 101, n)\n"
                "local out, k = E.gsub(s, '%f[%a]%a', string.upper)\n"
                "assert(k == 101 and #out == 500)\n"
                "assert(E.match(s, 'zebra') == nil)\n"
                "return true",
                err, sizeof err),
            LUA_OK);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    T_INTEQ(b.exhausted, 0);
    T_CHECK(b.steps > 0);
    T_CHECK(b.steps < 100000);
    fprintf(stderr, "  500-byte workload used %lld of 100000 steps\n", 100000 - b.steps);
    g_budget = NULL;
    lua_close(L);
}

/* This find needs millions of steps: refused under 1e6, fine when unlimited. */
static void test_budget_unlimited(void)
{
    const char *code = "return E.find(('a'):rep(2000), '.-b') == nil";
    struct sb_pattern_budget b = {1000000, 0};
    char err[256];
    lua_State *L = new_state(get_budget);

    g_budget = &b;
    T_CHECK(run(L, code, err, sizeof err) != LUA_OK);
    T_STREQ(err, "pattern budget exceeded");
    g_budget = NULL;
    T_INTEQ(run(L, code, err, sizeof err), LUA_OK);
    T_CHECK(lua_toboolean(L, -1));
    lua_close(L);

    /* No budget function at all is unlimited too. */
    L = new_state(NULL);
    T_INTEQ(run(L, code, err, sizeof err), LUA_OK);
    T_CHECK(lua_toboolean(L, -1));
    lua_close(L);
}

/* The gmatch iterator asks for the budget on every step, not once at creation. */
static void test_gmatch_budget_lookup(void)
{
    lua_State *L = new_state(get_budget);
    struct sb_pattern_budget a = {1000, 0}, b = {1000, 0}, empty = {0, 0};
    char err[256];

    g_budget = &a;
    T_INTEQ(run(L, "it = E.gmatch('one two three', '%a+') return it()", err, sizeof err), LUA_OK);
    T_STREQ(lua_tostring(L, -1), "one");
    long long a_after = a.steps;

    g_budget = &b;
    g_budget_calls = 0;
    T_INTEQ(run(L, "return it()", err, sizeof err), LUA_OK);
    T_STREQ(lua_tostring(L, -1), "two");
    T_INTEQ(g_budget_calls, 1);
    T_INTEQ(a.steps, a_after);
    T_CHECK(b.steps < 1000);

    g_budget = &empty;
    T_CHECK(run(L, "return it()", err, sizeof err) != LUA_OK);
    T_STREQ(err, "pattern budget exceeded");
    T_INTEQ(empty.exhausted, 1);

    g_budget = NULL; /* after the call ended the host may say unlimited */
    T_INTEQ(run(L, "return it()", err, sizeof err), LUA_OK);
    T_STREQ(lua_tostring(L, -1), "three");
    T_INTEQ(run(L, "return select('#', it())", err, sizeof err), LUA_OK);
    T_INTEQ(lua_tointeger(L, -1), 0);
    lua_close(L);
}

/* Deep recursion is "pattern too complex" (as in stock Lua), never a C stack overflow. */
static void test_deep_recursion(void)
{
    static const char *const calls[] = {
        "return E.match(string.rep('a', 100000), string.rep('a?', 5000))",
        "return E.match(string.rep('a', 1000), string.rep('.-', 5000) .. 'b')",
        "return E.match(string.rep('a', 1000), string.rep('(.-)', 5000))",
        "return E.find(string.rep('x', 100000), string.rep('(x)', 40))",
        "return E.gsub(string.rep('a', 1000), string.rep('%a-', 300), '')",
        "for _ in E.gmatch(string.rep('a', 1000), string.rep('a-', 300) .. '$') do end",
    };
    static const char *const expect[] = {
        "pattern too complex", "pattern too complex", "too many captures",
        "too many captures",   "pattern too complex", "pattern too complex",
    };
    lua_State *L = new_state(get_budget);
    char err[256], stock[256];

    g_budget = NULL;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char code[512];

        T_CHECK(run(L, calls[i], err, sizeof err) != LUA_OK);
        T_STREQ(err, expect[i]);
        /* The same call through the stock library fails the same way. */
        snprintf(code, sizeof code, "local E = string; %s", calls[i]);
        T_CHECK(run(L, code, stock, sizeof stock) != LUA_OK);
        T_STREQ(err, stock);
        lua_settop(L, 0);
    }
    /* A long chain of plain items loops rather than recursing, like stock Lua. */
    T_INTEQ(run(L, "return #E.match(string.rep('a', 100000), string.rep('a', 100000))", err,
                sizeof err),
            LUA_OK);
    T_INTEQ(lua_tointeger(L, -1), 100000);
    lua_close(L);
}

int main(void)
{
    T_RUN(test_differential_unlimited);
    T_RUN(test_differential_budgeted);
    T_RUN(test_budget_pathological);
    T_RUN(test_budget_normal);
    T_RUN(test_budget_unlimited);
    T_RUN(test_gmatch_budget_lookup);
    T_RUN(test_deep_recursion);
    T_DONE();
}
