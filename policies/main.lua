-- main.lua — Acme's default first-response policy (a consumer brand that sells gadgets online
-- and ships orders). See README.md for the branch table and how to test and tune it.
--
-- The first branch that matches decides, in this order:
--
--   1 bot author            ignore
--   2 spam                  ignore                      (words/spam.txt, or >= 3 links)
--   3 safety                escalate safety/urgent      holding reply (none if also legal)
--   4 legal threat          escalate legal/urgent       no public reply, ever
--   5 influential author    escalate vip/high           holding reply
--   6 account/order details move_to_private             public reply + private message
--   7 complaint             acknowledge with empathy,   or escalate support/high when
--                                                       urgent or a repeat author
--   8 praise                acknowledge with thanks     (a praise that asks something
--                                                       goes on to 9: thanks isn't an answer)
--   9 question              escalate support/normal     holding reply unless a human is free
--  10 anything else         acknowledge, neutral
--
-- Decisions worth knowing about (each has a test in main_test.lua):
--
-- * The brand's own posts never reach us: the host suppresses echo. Bots are ignored before
--   anything else, even a bot that "threatens legal action" or mentions a fire: bots don't
--   sue or get burned, and answering them feeds bot loops. A human who is worried about
--   a bot's claim can search the decision record, where the reason says "author is a bot".
-- * Spam before safety: spam phrases are specific ("crypto giveaway"), while safety words are
--   broad on purpose ("fire"), so a spammer's "🔥 fire deal" must not page the safety team.
-- * Safety beats legal: a customer who is hurt AND mentions a lawyer goes to the safety team
--   (someone may be in danger) — but without the public holding reply, because Legal wants
--   nothing said in public once a lawyer is mentioned. Both reasons are recorded.
-- * Direct messages (kind "direct", or Mastodon's visibility "direct") never get a public
--   reply. Decisions that would reply publicly become a case for a human, who answers in
--   private: acknowledge and move_to_private -> escalate support (normal; praise: low), and
--   escalations keep their queue but lose their holding reply. Ignore stays ignore.
-- * Questions always become a support case: an acknowledge is recorded as auto-handled, so an
--   acknowledge that says "we'll get back to you" would be a promise nobody owns. During
--   business hours, with a support agent online and no heavy surge, a human will answer soon,
--   so we add no template reply (one real answer beats a canned one plus a real one).
--   Otherwise the case gets a holding reply so the customer isn't left in silence.
-- * Question detection looks for "?" (also full-width "？", "¿" and Arabic "؟") outside
--   links, so "https://shop.example/?ref=x" is not a question.
-- * "Repeat author" uses ctx.history.posts (this author's posts to us in the last 24 h, as
--   counted by the host).

local words = require "lib.words"
local replies = require "lib.replies"

-- Thresholds, in one place so a diff of this file shows any tuning.
local VIP_FOLLOWERS = 100000 -- anyone with this many followers
local VIP_VERIFIED_FOLLOWERS = 10000 -- verified accounts with this many
local SPAM_MIN_LINKS = 3 -- this many links in one post: link spam
local NEGATIVE_SENTIMENT = -0.2 -- sb.sentiment below this: complaint
local POSITIVE_SENTIMENT = 0.3 -- sb.sentiment above this: praise
local URGENT = 0.6 -- sb.urgency at or above this: a complaint needs a human now
local REPEAT_POSTS = 3 -- this many posts in 24 h: a complaint needs a human
local QUESTION_MAX_SURGE = 1 -- above this surge level, agents are kept for complaints

local function quote(label, phrase)
  return label .. ": '" .. phrase .. "'"
end

-- URLs in the post: the host's list, or what the text shows if that is more (a link the
-- platform didn't annotate still counts).
local function count_links(post, text)
  local listed = post.links and #post.links or 0
  local inline = 0
  if string.find(text, "://", 1, true) then -- most posts have no URL: skip the pattern
    for _ in string.gmatch(text, "[Hh][Tt][Tt][Pp][Ss]?://%S+") do
      inline = inline + 1
    end
  end
  return math.max(listed, inline)
end

local function has_question(text)
  local bare = text
  if string.find(text, "://", 1, true) then -- a "?" inside a link is not a question
    bare = string.gsub(text, "[Hh][Tt][Tt][Pp][Ss]?://%S+", " ")
  end
  return string.find(bare, "?", 1, true) ~= nil
    or string.find(bare, "？", 1, true) ~= nil
    or string.find(bare, "¿", 1, true) ~= nil
    or string.find(bare, "؟", 1, true) ~= nil
end

local function is_private(post)
  return post.kind == "direct" or post.visibility == "direct"
end

-- A branch's verdict before the DM rule and the builders: action, queue, priority, template
-- keys (reply, message), reasons, and dm_priority (the priority if a DM turns it into a case).
local function plan(post, ctx)
  local text = post.text or ""
  local author = post.author or {}

  -- 1. Bots. (The brand's own posts are filtered by the host before the policy runs.)
  if author.bot then
    return { action = "ignore", reasons = { "author is a bot" } }
  end

  -- 2. Spam.
  local hit = words.spam(text)
  if hit then
    return { action = "ignore", reasons = { quote("spam", hit) } }
  end
  local links = count_links(post, text)
  if links >= SPAM_MIN_LINKS then
    return { action = "ignore", reasons = { string.format("spam: %d links", links) } }
  end

  -- 3. Safety.
  hit = words.safety(text)
  if hit then
    local legal = words.legal(text)
    if legal then
      return {
        action = "escalate", queue = "safety", priority = "urgent",
        reasons = { quote("safety issue", hit),
                    quote("also a legal threat", legal) .. ": no public reply" },
      }
    end
    return {
      action = "escalate", queue = "safety", priority = "urgent", reply = "safety",
      reasons = { quote("safety issue", hit) },
    }
  end

  -- 4. Legal threats: Legal wants nothing said in public.
  hit = words.legal(text)
  if hit then
    return {
      action = "escalate", queue = "legal", priority = "urgent",
      reasons = { quote("legal threat", hit) },
    }
  end

  -- 5. Influential authors. followers is -1 when the platform didn't say.
  local followers = tonumber(author.followers) or -1
  if followers >= VIP_FOLLOWERS or (author.verified and followers >= VIP_VERIFIED_FOLLOWERS) then
    return {
      action = "escalate", queue = "vip", priority = "high", reply = "vip",
      reasons = { string.format("influential author: %d followers%s", followers,
                                author.verified and ", verified" or "") },
    }
  end

  -- 6. Anything that needs their order or account: never in public.
  hit = words.account(text)
  if hit then
    return {
      action = "move_to_private", reply = "private_public", message = "private_message",
      reasons = { quote("needs account details", hit) },
    }
  end

  -- 7. Complaints.
  local sentiment = sb.sentiment(text)
  hit = words.complaint(text)
  if hit or sentiment < NEGATIVE_SENTIMENT then
    local reasons = { hit and quote("complaint", hit)
                      or string.format("complaint: sentiment %.2f", sentiment) }
    local urgency = sb.urgency(text)
    local history = ctx.history or {}
    local posts = tonumber(history.posts) or 0
    if urgency >= URGENT or posts >= REPEAT_POSTS then
      if urgency >= URGENT then
        reasons[#reasons + 1] = string.format("urgent: urgency %.2f", urgency)
      end
      if posts >= REPEAT_POSTS then
        reasons[#reasons + 1] = string.format("repeat author: %d posts in 24h", posts)
      end
      return {
        action = "escalate", queue = "support", priority = "high",
        reply = "complaint_escalated", reasons = reasons,
      }
    end
    return { action = "acknowledge", reply = "complaint", reasons = reasons }
  end

  -- 8. Praise — unless it also asks something.
  local reasons = {}
  hit = words.praise(text)
  if hit or sentiment > POSITIVE_SENTIMENT then
    reasons[1] = hit and quote("praise", hit) or string.format("praise: sentiment %.2f", sentiment)
    if not has_question(text) then
      return { action = "acknowledge", reply = "praise", reasons = reasons, dm_priority = "low" }
    end
    reasons[2] = "praise with a question: handled as a question"
  end

  -- 9. Questions: always someone's case (see the header).
  if has_question(text) then
    local support = ctx.queues and ctx.queues.support
    local agents = support and tonumber(support.agents_online) or 0
    local surge = tonumber(ctx.surge) or 0
    if ctx.business_hours and agents > 0 and surge <= QUESTION_MAX_SURGE then
      reasons[#reasons + 1] = string.format("question: %d support agent(s) online, a human answers",
                                            agents)
      return { action = "escalate", queue = "support", priority = "normal", reasons = reasons }
    end
    local why
    if not ctx.business_hours then
      why = "outside business hours"
    elseif agents <= 0 then
      why = "no support agent online"
    else
      why = string.format("surge level %d", surge)
    end
    reasons[#reasons + 1] = "question: " .. why .. ", holding reply"
    return {
      action = "escalate", queue = "support", priority = "normal", reply = "question_holding",
      reasons = reasons,
    }
  end

  -- 10. Everything else.
  return {
    action = "acknowledge", reply = "neutral",
    reasons = { "no specific intent: neutral acknowledgement" },
  }
end

-- Apply the direct-message rule, then build the decision.
local function finish(post, p)
  if is_private(post) then
    if p.action == "acknowledge" or p.action == "move_to_private" then
      p.reasons[#p.reasons + 1] = "direct message: no public reply, support answers in private"
      p = { action = "escalate", queue = "support", priority = p.dm_priority or "normal",
            reasons = p.reasons }
    elseif p.action == "escalate" and p.reply then
      p.reasons[#p.reasons + 1] = "direct message: holding reply withheld"
      p.reply = nil
    end
  end

  if p.action == "ignore" then
    return ignore { reason = p.reasons }
  elseif p.action == "acknowledge" then
    return acknowledge { reply = replies.pick(p.reply), reason = p.reasons }
  elseif p.action == "move_to_private" then
    return move_to_private { reply = replies.pick(p.reply), message = replies.pick(p.message),
                             reason = p.reasons }
  end
  return escalate { queue = p.queue, priority = p.priority,
                    reply = p.reply and replies.pick(p.reply) or nil, reason = p.reasons }
end

return function(post, ctx)
  return finish(post, plan(post, ctx or {}))
end
