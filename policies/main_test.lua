-- main_test.lua — the shipped policy, branch by branch, plus the tricky cases.
-- Run: switchboard policy test policies/     (see README.md)

-- helpers -------------------------------------------------------------------------------------

-- d.error is set when the policy itself failed (the host then escalates to policy-errors);
-- the runtime gives it as a table { code, message, file, line }.
local function ok(d)
  local e = d.error
  if e ~= nil then
    error("policy error: " .. (type(e) == "table" and tostring(e.message) or tostring(e)), 2)
  end
  return d
end

local function run(fields, c)
  return ok(decide(post(fields), c and ctx(c) or nil))
end

-- the text of a post must never come back in our reply or private message
local function no_echo(d, text)
  for _, s in ipairs({ d.reply or "", d.message or "" }) do
    expect(not string.find(s, text, 1, true), "reply repeats the customer's text: " .. s)
  end
end

local function says_sorry(d)
  expect(type(d.reply) == "string" and string.find(string.lower(d.reply), "sorry", 1, true),
         "expected an apology, got " .. tostring(d.reply))
end

local function thanks(d)
  expect(type(d.reply) == "string" and string.find(string.lower(d.reply), "thank", 1, true),
         "expected thanks, got " .. tostring(d.reply))
end

local OPEN = { business_hours = true, surge = 0,
               queues = { support = { depth = 2, agents_online = 3, oldest_wait = 30 } } }
local CLOSED = { business_hours = false, surge = 0,
                 queues = { support = { depth = 0, agents_online = 0, oldest_wait = 0 } } }

-- 1. bots -------------------------------------------------------------------------------------

test("bot author is ignored", function()
  local d = run { text = "New post from our feed: Acme gadgets on sale", author = { bot = true } }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "author is a bot")
  expect_eq(d.reply, nil)
end)

test("bot is ignored even when it threatens legal action or reports a fire", function()
  -- Decision: bots are ignored first, whatever they say (see main.lua's header).
  local d = run { text = "I will SUE ACME, my lawyer is ready", author = { bot = true } }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "author is a bot")
  d = run { text = "battery caught fire", author = { bot = true } }
  expect_eq(d.action, "ignore")
end)

-- 2. spam -------------------------------------------------------------------------------------

test("crypto giveaway is spam", function()
  local d = run { text = "🚀 HUGE Crypto Giveaway!!! send 0.1 and get 1 back" }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "spam: 'crypto giveaway'")
end)

test("follow-for-follow and promo bait are spam", function()
  expect_eq(run({ text = "f4f? follow back pls" }).action, "ignore")
  local d = run { text = "Nice page! DM me for promo 💯" }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "dm me for promo")
end)

test("three links is spam, from post.links or from the text", function()
  local d = run { text = "check these", links = { "https://a.example/1", "https://b.example/2",
                                                   "https://c.example/3" } }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "spam: 3 links")
  d = run { text = "http://x.example https://y.example/a https://z.example/b deals" }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "links")
end)

test("two links is not spam", function()
  local d = run { text = "Compare https://a.example/1 and https://b.example/2",
                  links = { "https://a.example/1", "https://b.example/2" } }
  expect(d.action ~= "ignore", "two links should not be spam")
end)

test("spam wins over safety words", function()
  local d = run { text = "this deal is 🔥 fire, free crypto for the first 100" }
  expect_eq(d.action, "ignore")
  expect_has_reason(d, "spam")
end)

test("a word inside another word is not spam", function()
  local d = run { text = "f4fun is my gamer tag, love my Acme mouse" }
  expect(d.action ~= "ignore", "f4f must match whole words only")
end)

-- 3. safety -----------------------------------------------------------------------------------

test("swollen battery goes to safety, urgent, with a holding reply", function()
  local text = "The battery in my Acme power bank is swelling and it's hot"
  local d = run { text = "My power bank has a swollen battery and it's really hot" }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "safety")
  expect_eq(d.priority, "urgent")
  expect_has_reason(d, "safety issue: 'swollen battery'") -- the longest phrase at a position
  expect_match(d.reply, "stop using")
  d = run { text = text }
  expect_eq(d.queue, "safety")
  no_echo(d, text)
end)

test("fire, smoke, shock and a hurt child are all safety", function()
  for _, text in ipairs({
    "my charger caught fire last night",
    "smoke started coming out of the speaker",
    "got an electric shock from the USB hub",
    "my kid got hurt by the fan blade",
    "the cable melted and burned my hand",
  }) do
    local d = run { text = text }
    expect_eq(d.queue, "safety", text)
    expect_eq(d.priority, "urgent", text)
    expect_has_reason(d, "safety issue")
  end
end)

test("safety in Spanish, French and German", function()
  expect_eq(run({ text = "El cargador echó humo y olía a quemado" }).queue, "safety")
  expect_eq(run({ text = "la batterie a pris feu !" }).queue, "safety")
  expect_eq(run({ text = "Ich habe einen Stromschlag bekommen" }).queue, "safety")
end)

test("safety plus a lawyer: safety queue, but nothing said in public", function()
  local d = run { text = "My son was burned by your heater. My lawyer will be in touch." }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "safety")
  expect_eq(d.priority, "urgent")
  expect_eq(d.reply, nil)
  expect_has_reason(d, "safety issue: 'burned'")
  expect_has_reason(d, "also a legal threat: 'my lawyer'")
end)

test("our brand name is not German for fire", function()
  local d = run { text = "Acme is my favourite brand" }
  expect(d.queue ~= "safety", "'brand' must not be a safety word")
end)

-- 4. legal ------------------------------------------------------------------------------------

test("lawyer threat goes to legal, urgent, with no public reply", function()
  local d = run { text = "Refund me or I'm calling my lawyer." }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "legal")
  expect_eq(d.priority, "urgent")
  expect_eq(d.reply, nil)
  expect_has_reason(d, "legal threat: 'my lawyer'")
end)

test("full-width and accented evasions are still legal threats", function()
  local d = run { text = "ＬＡＷＹＥＲ incoming" }
  expect_eq(d.queue, "legal")
  expect_has_reason(d, "lawyer")
  d = run { text = "talk to my láwyer" }
  expect_eq(d.queue, "legal")
  expect_has_reason(d, "lawyer")
  d = run { text = "See You In Court, Acme!" }
  expect_eq(d.queue, "legal")
end)

test("Spanish, French and German legal threats", function()
  local d = run { text = "Voy a hablar con mi abogado", lang = "es" }
  expect_eq(d.queue, "legal")
  expect_has_reason(d, "legal threat: 'abogado'")
  expect_eq(run({ text = "Je vais contacter mon avocat", lang = "fr" }).queue, "legal")
  expect_eq(run({ text = "Ich werde Sie verklagen!", lang = "de" }).queue, "legal")
end)

test("small claims, class action, regulators", function()
  expect_eq(run({ text = "see you in small claims" }).queue, "legal")
  expect_eq(run({ text = "there should be a class action about these earbuds" }).queue, "legal")
  expect_eq(run({ text = "I'm reporting this to trading standards" }).queue, "legal")
  expect_eq(run({ text = "complaint filed with the ombudsman" }).queue, "legal")
end)

test("a person named Sue, a voltage regulator and an issue are not legal threats", function()
  expect(run({ text = "Sue from your support team was lovely" }).queue ~= "legal", "Sue")
  expect(run({ text = "does the board have a voltage regulator" }).queue ~= "legal", "regulator")
  expect(run({ text = "small issue with the app" }).queue ~= "legal", "issue")
end)

test("a chargeback is a billing matter, not legal", function()
  local d = run { text = "I'll do a chargeback if this isn't sorted" }
  expect_eq(d.action, "move_to_private")
  expect_has_reason(d, "chargeback")
end)

test("legal beats an influential author", function()
  local d = run { text = "My attorney will contact you", author = { followers = 2000000 } }
  expect_eq(d.queue, "legal")
  expect_eq(d.reply, nil)
end)

-- 5. influential authors ----------------------------------------------------------------------

test("100k followers: vip, high, personal holding reply", function()
  local d = run { text = "hey acme, what's the deal with the new phone?",
                  author = { name = "Dana", followers = 250000 } }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "vip")
  expect_eq(d.priority, "high")
  expect_eq(d.reply, "Hi Dana, a member of our team will reply personally.")
  expect_has_reason(d, "influential author: 250000 followers")
end)

test("verified with 10k followers is vip; unverified or smaller is not", function()
  local d = run { text = "trying out my acme watch", author = { verified = true, followers = 10000 } }
  expect_eq(d.queue, "vip")
  expect_has_reason(d, "verified")
  expect(run({ text = "trying out my acme watch",
               author = { verified = false, followers = 20000 } }).queue ~= "vip", "unverified")
  expect(run({ text = "trying out my acme watch",
               author = { verified = true, followers = 9999 } }).queue ~= "vip", "small")
  expect(run({ text = "trying out my acme watch",
               author = { followers = -1 } }).queue ~= "vip", "unknown followers")
end)

test("vip beats account details: a person replies, not a template DM", function()
  local d = run { text = "where is my order??", author = { followers = 500000 } }
  expect_eq(d.queue, "vip")
end)

-- 6. account / order details ------------------------------------------------------------------

test("order details move to private with a reply and a DM", function()
  local text = "Where's my order? Order number 88123, tracking hasn't moved"
  local d = run { text = text, author = { name = "Lee" } }
  expect_eq(d.action, "move_to_private")
  expect_has_reason(d, "needs account details: 'where's my order'")
  expect_match(d.reply, "Lee")
  expect_match(d.reply, "privat")
  expect_match(d.message, "^Hi Lee")
  expect_match(d.message, "order number")
  no_echo(d, "88123")
  no_echo(d, text)
end)

test("charged twice, password reset, invoice, address change", function()
  for _, text in ipairs({ "you charged me twice for one cable", "I need a password reset",
                          "can I get an invoice for my purchase", "I need an address change",
                          "what's my refund status", "can't log in to my account" }) do
    local d = run { text = text }
    expect_eq(d.action, "move_to_private", text)
    expect_has_reason(d, "needs account details")
  end
end)

test("a product feature called tracking is not an order question", function()
  local d = run { text = "does the watch do sleep tracking" }
  expect(d.action ~= "move_to_private", "sleep tracking is a product question")
end)

-- 7. complaints -------------------------------------------------------------------------------

test("a complaint is acknowledged with empathy", function()
  local text = "My new headphones stopped working after two days"
  local d = run { text = text }
  expect_eq(d.action, "acknowledge")
  expect_has_reason(d, "complaint: 'stopped working'")
  says_sorry(d)
  no_echo(d, text)
end)

test("negative sentiment alone is a complaint", function()
  local d = run { text = "honestly I hate this thing, so upset and miserable" }
  expect_eq(d.action, "acknowledge")
  expect_has_reason(d, "complaint")
  says_sorry(d)
end)

test("sarcastic praise with a fault in it is a complaint", function()
  local d = run { text = "Great, broken again. Amazing quality." }
  expect_has_reason(d, "complaint: 'broken'")
end)

test("an urgent complaint goes to a human", function()
  local d = run { text = "MY CHARGER IS BROKEN AND I NEED IT NOW!!! URGENT" }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_eq(d.priority, "high")
  expect_has_reason(d, "urgent: urgency")
  says_sorry(d)
end)

test("a repeat complainer (3 posts in 24 h) goes to a human", function()
  -- (no urgency cues in this text, so only the history can escalate it)
  local d = run({ text = "the strap on my watch is faulty" },
                { history = { posts = 3, acknowledged = 2, cases = 0 } })
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_eq(d.priority, "high")
  expect_has_reason(d, "repeat author: 3 posts in 24h")
  d = run({ text = "the strap on my watch is faulty" },
          { history = { posts = 2, acknowledged = 1, cases = 0 } })
  expect_eq(d.action, "acknowledge")
end)

-- 8. praise -----------------------------------------------------------------------------------

test("praise with an emoji is thanked", function()
  local text = "Love my new Acme speaker 😍🔊"
  local d = run { text = text }
  expect_eq(d.action, "acknowledge")
  expect_has_reason(d, "praise: 'love'")
  thanks(d)
  no_echo(d, text)
end)

test("praise in other words and languages", function()
  expect_has_reason(run({ text = "🙌 Arrived early and works perfectly, amazing!" }), "praise")
  expect_has_reason(run({ text = "Me encanta mi nuevo reloj", lang = "es" }), "praise")
end)

test("praise that asks something is treated as a question", function()
  local d = run({ text = "Love the speaker! Does it pair with two phones?" }, CLOSED)
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_has_reason(d, "praise: 'love'")
  expect_has_reason(d, "praise with a question")
end)

-- 9. questions --------------------------------------------------------------------------------

test("question out of hours: support case with a holding reply", function()
  local d = run({ text = "Does the X2 charger work with the older model?" }, CLOSED)
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_eq(d.priority, "normal")
  expect_has_reason(d, "question: outside business hours")
  expect(d.reply ~= nil, "a holding reply is expected when nobody can answer now")
end)

test("question in business hours with agents online: a human answers, no template", function()
  local d = run({ text = "Does the X2 charger work with the older model?" }, OPEN)
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_eq(d.priority, "normal")
  expect_eq(d.reply, nil)
  expect_has_reason(d, "3 support agent(s) online")
end)

test("question in business hours but nobody free, or a surge: holding reply", function()
  local d = run({ text = "is the X2 in stock?" },
                { business_hours = true, surge = 0,
                  queues = { support = { depth = 0, agents_online = 0, oldest_wait = 0 } } })
  expect_has_reason(d, "no support agent online")
  expect(d.reply ~= nil, "holding reply")
  d = run({ text = "is the X2 in stock?" },
          { business_hours = true, surge = 3,
            queues = { support = { depth = 40, agents_online = 2, oldest_wait = 900 } } })
  expect_has_reason(d, "surge level 3")
  expect(d.reply ~= nil, "holding reply")
end)

test("full-width and Spanish question marks count; a '?' inside a link does not", function()
  expect_eq(run({ text = "X2 は防水ですか？" }, CLOSED).queue, "support")
  expect_eq(run({ text = "¿Tienen envío a Chile" }, CLOSED).queue, "support")
  local d = run({ text = "just ordered https://shop.example/x2?ref=abc" }, CLOSED)
  expect_eq(d.action, "acknowledge")
  expect_has_reason(d, "no specific intent")
end)

-- 10. everything else -------------------------------------------------------------------------

test("a neutral mention gets a neutral acknowledgement", function()
  local d = run { text = "Just unboxed the new Acme tablet", author = { name = "Sam" } }
  expect_eq(d.action, "acknowledge")
  expect_has_reason(d, "no specific intent")
  expect_match(d.reply, "Sam")
end)

test("empty text is a neutral acknowledgement, not an error", function()
  local d = run { text = "" }
  expect_eq(d.action, "acknowledge")
  expect_has_reason(d, "no specific intent")
end)

test("very long text stays within budget", function()
  local long = string.rep("I unboxed it today and set it up in the kitchen. ", 1200) -- ~60 KB
  local d = run { text = long }
  expect_eq(d.action, "acknowledge")
  d = run { text = long .. " and now I am calling my lawyer" }
  expect_eq(d.queue, "legal")
end)

-- direct messages -----------------------------------------------------------------------------

test("a DM never gets a public reply: complaint becomes a support case", function()
  local d = run { kind = "direct", visibility = "direct", text = "my speaker stopped working" }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_eq(d.priority, "normal")
  expect_eq(d.reply, nil)
  expect_has_reason(d, "complaint")
  expect_has_reason(d, "direct message")
end)

test("DM praise is a low-priority case; DM order question a normal one", function()
  local d = run { kind = "direct", visibility = "direct", text = "love the new watch 😍" }
  expect_eq(d.action, "escalate")
  expect_eq(d.priority, "low")
  expect_eq(d.reply, nil)
  d = run { kind = "direct", visibility = "direct", text = "what's my order status" }
  expect_eq(d.action, "escalate")
  expect_eq(d.queue, "support")
  expect_eq(d.priority, "normal")
  expect_eq(d.message, nil)
end)

test("DM escalations keep their queue but lose the holding reply", function()
  local d = run { kind = "direct", visibility = "direct", text = "the battery is swelling" }
  expect_eq(d.queue, "safety")
  expect_eq(d.priority, "urgent")
  expect_eq(d.reply, nil)
  expect_has_reason(d, "holding reply withheld")
  d = run { kind = "direct", visibility = "direct", text = "hi", author = { followers = 300000 } }
  expect_eq(d.queue, "vip")
  expect_eq(d.reply, nil)
end)

test("a Mastodon mention with direct visibility is a DM", function()
  local d = run { kind = "mention", visibility = "direct", text = "hello there" }
  expect_eq(d.action, "escalate")
  expect_eq(d.reply, nil)
end)

test("DM spam and bots are still ignored", function()
  expect_eq(run({ kind = "direct", visibility = "direct", text = "crypto giveaway" }).action,
            "ignore")
  expect_eq(run({ kind = "direct", visibility = "direct", text = "hi",
                  author = { bot = true } }).action, "ignore")
end)

-- replies -------------------------------------------------------------------------------------

test("same post, same reply (deterministic)", function()
  local p = post { id = "109000000000000001", text = "my cable arrived damaged" }
  local a, b = ok(decide(p)), ok(decide(p))
  expect_eq(a.reply, b.reply)
end)

test("acknowledgements vary across posts", function()
  local seen, n = {}, 0
  for i = 1, 30 do
    local d = run { id = "1093000000000" .. i, text = "my cable arrived damaged" }
    if not seen[d.reply] then seen[d.reply] = true; n = n + 1 end
  end
  expect(n >= 2, "expected at least two complaint variants over 30 posts, got " .. n)
end)

test("a long display name still fits Bluesky's 300 graphemes", function()
  local name = string.rep("Ω", 80)
  for _, text in ipairs({ "my cable arrived damaged", "love it", "hello", "where is my order",
                          "battery is swelling" }) do
    local d = run { platform = "bluesky", text = text, author = { name = name } }
    expect(d.reply ~= nil and utf8.len(d.reply) <= 300, "too long: " .. tostring(d.reply))
  end
end)
