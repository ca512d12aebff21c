'use strict';
// Default world of the emulator: the brand account, its token, and a few customers.
// Shapes follow fixtures/mastodon/account.json (ids are numeric-looking strings, created_at
// is a midnight timestamp, last_status_at a date). Everything here can be replaced with
// --config FILE (same keys) or extended at run time with the control API.

const DEFAULTS = {
  host: 'mastodon.example',
  title: 'Mastodon (Switchboard emulator)',
  version: '4.5.0',
  max_characters: 500,
  // "mastodon": grapheme clusters, URLs count 23, @user@domain counts as @user (StatusLengthValidator).
  // "codepoints": plain code points of spoiler_text + text.
  char_count: 'mastodon',
  ping_ms: 30000,
  sse_heartbeat_ms: 15000,
  // Current upstream text of statuses.errors.in_reply_not_found (StatusesController#set_thread).
  in_reply_not_found_message: 'The post you are trying to reply to does not appear to exist.',
  brand: {
    id: '109000000000000001',
    username: 'acme',
    display_name: 'ACME Support',
    note: '<p>Official support account of ACME. We answer mentions 9–17 CET.</p>',
    bot: false,
    locked: false,
    created_at: '2022-11-02T00:00:00.000Z',
    followers_count: 18423,
    following_count: 12,
    statuses_count: 2210,
    last_status_at: '2026-11-20',
    fields: [
      { name: 'Website', value: '<a href="https://acme.example" target="_blank" rel="nofollow noopener me" translate="no"><span class="invisible">https://</span><span class="">acme.example</span><span class="invisible"></span></a>', verified_at: '2023-01-10T09:12:44.812+00:00' },
    ],
  },
  tokens: {
    'brand-token': { account: 'acme', scopes: 'read write follow push' },
  },
  customers: [
    {
      id: '109000000000000101', username: 'alice', domain: null, display_name: 'Alice Martin',
      note: '<p>Coffee, cycling, and complaining about late parcels.</p>', bot: false,
      created_at: '2022-11-14T00:00:00.000Z', followers_count: 312, following_count: 280,
      statuses_count: 1543, last_status_at: '2026-11-24',
      fields: [{ name: 'Pronouns', value: 'she/her', verified_at: null }],
    },
    {
      id: '109000000000000102', username: 'bob', domain: 'fosstodon.example', display_name: 'Bob 🚲',
      note: '<p>Open source, bikes, bad puns.</p>', bot: false,
      created_at: '2020-01-10T00:00:00.000Z', followers_count: 48, following_count: 97,
      statuses_count: 2447, last_status_at: '2026-11-23',
      fields: [],
    },
    {
      id: '109000000000000103', username: 'carla', domain: 'mastodon.art.example', display_name: 'Carla ✨ (illustrator)',
      note: '<p>Illustrator. Commissions open.</p>', bot: false,
      created_at: '2018-04-02T00:00:00.000Z', followers_count: 125000, following_count: 410,
      statuses_count: 30211, last_status_at: '2026-11-24',
      fields: [{ name: 'Portfolio', value: '<a href="https://carla.example" rel="nofollow noopener" translate="no" target="_blank"><span class="invisible">https://</span><span class="">carla.example</span><span class="invisible"></span></a>', verified_at: '2024-03-01T10:00:00.000+00:00' }],
    },
    {
      id: '109000000000000104', username: 'rivalbot', domain: 'botsin.space.example', display_name: 'Rival Corp Bot',
      note: '<p>Automated account of Rival Corp.</p>', bot: true,
      created_at: '2023-06-01T00:00:00.000Z', followers_count: 2, following_count: 0,
      statuses_count: 90110, last_status_at: '2026-11-24',
      fields: [],
    },
    {
      id: '109000000000000105', username: 'zoe', domain: null, display_name: 'Zoë 🏳️‍🌈',
      note: '', bot: false,
      created_at: '2026-11-01T00:00:00.000Z', followers_count: 0, following_count: 3,
      statuses_count: 1, last_status_at: null,
      fields: [],
    },
  ],
  rate_limits: {
    // rack_attack.rb throttles (requests), epoch-aligned windows.
    per_token: { limit: 300, period_s: 300 },
    per_user: { limit: 1500, period_s: 300 },
    per_ip: { limit: 300, period_s: 300 },
    paging: { limit: 300, period_s: 900 },
    // RateLimiter family :statuses (created statuses per account).
    statuses: { limit: 300, period_s: 10800 },
  },
};

module.exports = { DEFAULTS };
