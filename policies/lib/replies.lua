-- lib/replies.lua — every public reply and private message the policy can send.
--
-- Rules for editing (replies_test.lua checks the mechanical ones):
--   * Short: Bluesky allows 300 graphemes, and {{author.name}} can add up to 64. Stay under
--     220 characters of our own text.
--   * Never quote the customer's post back: it may hold an order number, an address or an
--     insult, and a reply is public. Only {{author.name}} comes from the customer.
--   * No '@' or '#': a reply must never mention or tag anyone.
--   * Public replies promise only what someone owns. An `acknowledge` is recorded as
--     auto-handled (no human will follow up), so its replies invite the customer to DM us
--     rather than promise "we'll get back to you"; promises belong to escalations.
--   * Acknowledgements come in 2-3 variants so a busy thread doesn't read like a bot;
--     replies.pick() chooses one with sb.random, which is deterministic per post (same post,
--     same reply — tests, replay and diff stay stable).

local replies = {}

replies.templates = {
  -- branch 3: safety (escalate, holding reply)
  safety = {
    "Hi {{author.name}}, we're very sorry. Please stop using the product and keep it away "
      .. "from anything flammable. Our safety team has been alerted and will contact you "
      .. "directly.",
  },

  -- branch 5: influential author (escalate, holding reply; wording fixed by the brief)
  vip = {
    "Hi {{author.name}}, a member of our team will reply personally.",
  },

  -- branch 6: account/order details (move_to_private: public reply + private message)
  private_public = {
    "Hi {{author.name}}, we've sent you a private message so we can look into this "
      .. "without sharing your details here.",
    "Thanks {{author.name}}, we've just messaged you privately to sort this out safely.",
  },
  private_message = {
    "Hi {{author.name}}, thanks for getting in touch. Please reply here with your order "
      .. "number and the email you used at checkout, and we'll look into it. We will never "
      .. "ask for your password or card number.",
  },

  -- branch 7: complaint (acknowledge)
  complaint = {
    "We're sorry to hear this, {{author.name}}. That's not the experience we want for you. "
      .. "Please send us a DM with your order number and we'll make it right.",
    "Sorry about this, {{author.name}}, and thanks for telling us. Send us a DM with your "
      .. "order number and we'll help straight away.",
    "That's really frustrating, {{author.name}}, and we're sorry. DM us your order number "
      .. "and we'll take a look.",
  },
  -- branch 7: urgent or repeated complaint (escalate, holding reply)
  complaint_escalated = {
    "We're sorry, {{author.name}}. A member of our support team is picking this up now and "
      .. "will be in touch shortly.",
  },

  -- branch 8: praise (acknowledge)
  praise = {
    "Thank you, {{author.name}}! That made our day.",
    "Thanks so much, {{author.name}}! We're really glad you're enjoying it.",
    "Love to hear it, {{author.name}}, thank you for sharing!",
  },

  -- branch 9: question with no agent free right now (escalate, holding reply)
  question_holding = {
    "Thanks for your question, {{author.name}}! Our team will get back to you here as soon "
      .. "as we can.",
    "Good question, {{author.name}}. We've passed it to our team and will reply here soon.",
  },

  -- branch 10: anything else (acknowledge)
  neutral = {
    "Thanks for reaching out, {{author.name}}! If there's anything we can help with, just "
      .. "send us a DM.",
    "Hi {{author.name}}, thanks for the mention! Need a hand with anything? Our DMs are open.",
  },
}

-- The template for `key`; with several variants, one chosen by the per-post random number.
function replies.pick(key)
  local variants = replies.templates[key]
  if variants == nil then
    error("lib.replies: no template named '" .. tostring(key) .. "'", 2)
  end
  if #variants == 1 then
    return variants[1]
  end
  return variants[sb.random(1, #variants)]
end

return replies
