-- lib/words_test.lua — the word-list helpers on their own: what they match and what they
-- deliberately don't. A list edit that breaks one of these is probably a false alarm waiting
-- to happen.

local words = require "lib.words"

test("helpers return the matched phrase as written in the list", function()
  expect_eq(words.legal("I'm calling my LAWYER"), "my lawyer")
  expect_eq(words.legal("lawyer up"), "lawyer")
  expect_eq(words.safety("the battery is swelling"), "battery is swelling")
  expect_eq(words.spam("f4f"), "f4f")
  expect_eq(words.account("I was charged twice"), "charged twice")
  expect_eq(words.complaint("it stopped working"), "stopped working")
  expect_eq(words.praise("love it"), "love it") -- the longest phrase at a position wins
end)

test("the earliest phrase in the text wins", function()
  expect_eq(words.legal("lawsuit, or my lawyer"), "lawsuit")
end)

test("nothing found is nil, including empty and nil text", function()
  expect_eq(words.legal("what a lovely day"), nil)
  expect_eq(words.legal(""), nil)
  expect_eq(words.legal(nil), nil)
end)

test("case, accents and full-width letters don't hide a phrase", function()
  expect(words.legal("ＬＡＷＹＥＲ") ~= nil, "full-width")
  expect(words.legal("láwyer") ~= nil, "accent")
  expect(words.legal("LaWyEr") ~= nil, "mixed case")
  expect(words.safety("ＦＩＲＥ") ~= nil, "full-width safety")
  expect_eq(words.legal("mi ABOGADO"), "abogado")
  expect(words.safety("batería hinchada") ~= nil, "accented Spanish")
  expect(words.safety("batterie gonflée") ~= nil, "French with accent")
end)

test("apostrophes and punctuation don't matter", function()
  expect_eq(words.account("wheres my order"), "wheres my order")
  expect(words.account("where's my order") ~= nil, "straight apostrophe")
  expect(words.account("where’s my order") ~= nil, "curly apostrophe")
  expect(words.complaint("it doesn't work") ~= nil, "doesn't")
end)

test("whole words only", function()
  expect_eq(words.legal("small issue"), nil)        -- no bare "sue", and never inside "issue"
  expect_eq(words.spam("f4fun"), nil)
  expect_eq(words.safety("I got fired"), nil)
  expect_eq(words.safety("great brand"), nil)
  expect_eq(words.legal("Sue was great"), nil)
end)

test("legal list leaves chargebacks to billing", function()
  expect_eq(words.legal("I'll file a chargeback"), nil)
  expect_eq(words.account("I'll file a chargeback"), "chargeback")
end)

test("find by name, and an unknown list is an error", function()
  expect_eq(words.find("legal", "lawsuit"), "lawsuit")
  local okc, err = pcall(words.find, "nope", "x")
  expect(not okc, "unknown list should raise")
  expect_match(tostring(err), "no word list named 'nope'")
end)

test("account_details is the design doc's name for account", function()
  expect_eq(words.account_details("password reset"), "password reset")
end)
