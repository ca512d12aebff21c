-- lib/words.lua — the policy's word lists, loaded once when the policy loads.
--
-- Each list is words/<name>.txt (one phrase per line, '#' comments). sb.words() normalizes the
-- phrases and list:find() normalizes the text, so case, accents and full-width letters
-- ("ＬＡＷＹＥＲ", "láwyer") cannot dodge a match, and matching is on whole words ("sue" would
-- not fire inside "issue").
--
-- Every helper takes the post's raw text and returns the matched phrase (as spelled in the
-- list file, for the decision's reason) or nil:
--
--   words.spam(text)       words.safety(text)    words.legal(text)
--   words.account(text)    words.complaint(text) words.praise(text)
--
-- words.find(name, text) does the same for any list by name.

local words = {}

local NAMES = { "spam", "safety", "legal", "account", "complaint", "praise" }

local lists = {}
for _, name in ipairs(NAMES) do
  lists[name] = sb.words(name)
end

function words.find(name, text)
  local list = lists[name]
  if list == nil then
    error("lib.words: no word list named '" .. tostring(name) .. "'", 2)
  end
  if text == nil or text == "" then
    return nil
  end
  return list:find(text)
end

-- One closure per list, straight to list:find: these run for every post.
for _, name in ipairs(NAMES) do
  local list = lists[name]
  words[name] = function(text)
    if text == nil or text == "" then
      return nil
    end
    return list:find(text)
  end
end

-- Alias matching the name used in the design document's example policy.
words.account_details = words.account

return words
