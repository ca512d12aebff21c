'use strict';
// Fan-out of domain events onto streaming channels, following what Mastodon's services
// publish to Redis (FanOutOnWriteService, NotifyService, RemoveStatusService, ...):
//
//   notification      → timeline:<recipient>:notifications       (user, user:notification)
//   update            → timeline:<home account>                  (user) for each home timeline
//                       timeline:public[:local|:remote], timeline:hashtag:<tag>[:local]
//                       for public statuses that are not replies to someone else
//   status.update     → same channels as update (edits)
//   delete            → timeline:<author if local>, timeline:<each mentioned account>,
//                       and the public/hashtag channels if the status was public
//   conversation      → timeline:direct:<participant> for direct statuses
//   filters_changed   → timeline:<account>, no payload
//
// Simplification (documented in README): the emulator treats the brand as following nobody,
// yet it still delivers `status.update` of a status that mentions the brand to the brand's
// `user` stream, so that edits of mentions can be tested.

function publicChannels(state, rec) {
  if (rec.visibility !== 'public') return [];
  if (rec.in_reply_to_account_id && rec.in_reply_to_account_id !== rec.account_id) return [];
  const author = state.accounts.get(rec.account_id);
  const local = author && author.domain === null;
  const channels = ['timeline:public', local ? 'timeline:public:local' : 'timeline:public:remote'];
  for (const tag of rec.tags) {
    channels.push(`timeline:hashtag:${tag.name}`);
    if (local) channels.push(`timeline:hashtag:${tag.name}:local`);
  }
  return channels;
}

function localParticipants(state, rec) {
  const ids = new Set([rec.account_id, ...rec.mention_ids]);
  return [...ids].filter((id) => {
    const a = state.accounts.get(id);
    return a && a.domain === null && !a.raw;
  });
}

function publishAll(hub, channels, event, payload, opts) {
  let frames = 0;
  for (const c of channels) frames += hub.publish(c, event, payload, opts);
  return frames;
}

function deliverNotification(emu, notif, opts = {}) {
  return emu.hub.publish(`timeline:${notif.recipient_id}:notifications`, 'notification', emu.state.renderNotification(notif), opts);
}

/** `update` / `status.update` of a status. `home`: account ids whose home timeline gets it. */
function deliverStatus(emu, rec, event, home, opts = {}) {
  const { state, hub } = emu;
  const payload = state.renderStatus(rec);
  const channels = [...new Set(home)].map((id) => `timeline:${id}`).concat(publicChannels(state, rec));
  return publishAll(hub, channels, event, payload, opts);
}

function deliverConversation(emu, rec, opts = {}) {
  if (rec.visibility !== 'direct') return 0;
  let frames = 0;
  for (const id of localParticipants(emu.state, rec)) {
    frames += emu.hub.publish(`timeline:direct:${id}`, 'conversation', emu.state.renderConversation(rec, id), opts);
  }
  return frames;
}

function deliverDelete(emu, rec, opts = {}) {
  const { state, hub } = emu;
  const home = new Set(localParticipants(state, rec));
  const channels = [...home].map((id) => `timeline:${id}`).concat(publicChannels(state, rec));
  return publishAll(hub, channels, 'delete', rec.id, opts);
}

function deliverFiltersChanged(emu, accountId) {
  return emu.hub.publish(`timeline:${accountId}`, 'filters_changed', undefined);
}

module.exports = { deliverNotification, deliverStatus, deliverConversation, deliverDelete, deliverFiltersChanged, localParticipants };
