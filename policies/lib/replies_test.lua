-- lib/replies_test.lua — mechanical rules every template must keep (see lib/replies.lua).

local replies = require "lib.replies"

local NAME_MAX = 64      -- the host cuts each user field at 64 graphemes
local BLUESKY_MAX = 300  -- the shortest platform limit

local function each_template(fn)
  local n = 0
  for key, variants in pairs(replies.templates) do
    expect(#variants >= 1, key .. " has no variants")
    for i, tpl in ipairs(variants) do
      n = n + 1
      fn(key .. "[" .. i .. "]", tpl)
    end
  end
  expect(n > 0, "no templates")
end

test("every template fits Bluesky with the longest possible name", function()
  each_template(function(id, tpl)
    local own = string.gsub(tpl, "{{[^}]*}}", "")
    local _, fields = string.gsub(tpl, "{{[^}]*}}", "")
    local len = utf8.len(own) + fields * NAME_MAX
    expect(len <= BLUESKY_MAX, id .. " can reach " .. len .. " graphemes")
  end)
end)

test("templates only use {{author.name}}", function()
  each_template(function(id, tpl)
    for field in string.gmatch(tpl, "{{([^}]*)}}") do
      expect_eq(field, "author.name", id)
    end
  end)
end)

test("templates never mention or tag anyone", function()
  each_template(function(id, tpl)
    expect(not string.find(tpl, "@", 1, true), id .. " contains '@'")
    expect(not string.find(tpl, "#", 1, true), id .. " contains '#'")
  end)
end)

test("acknowledgement templates come in 2-3 variants", function()
  for _, key in ipairs({ "complaint", "praise", "neutral", "private_public", "question_holding" }) do
    local n = #replies.templates[key]
    expect(n >= 2 and n <= 3, key .. " has " .. n .. " variants")
  end
end)

test("the vip holding reply is the agreed wording", function()
  expect_eq(replies.templates.vip[1], "Hi {{author.name}}, a member of our team will reply personally.")
end)

test("pick returns one of the variants; an unknown key is an error", function()
  local got = replies.pick("praise")
  local found = false
  for _, v in ipairs(replies.templates.praise) do found = found or v == got end
  expect(found, "pick returned something else: " .. tostring(got))
  local okc, err = pcall(replies.pick, "nope")
  expect(not okc, "unknown key should raise")
  expect_match(tostring(err), "no template named 'nope'")
end)
