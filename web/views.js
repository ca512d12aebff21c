// views.js — pure element builders for cases, posts, replies, events and the author.
// Inputs are API objects (hostile text included); outputs are detached DOM nodes built with
// createElement/textContent only.

import { h, atHandle, timeEl, fmtCount, fmtTime, slaState, cap } from './util.js';

export const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };

/** The API's order: priority (urgent first), due (soonest, no clock last), id. */
export function compareCases(a, b) {
  const pa = PRIORITY_RANK[a.priority] ?? 9;
  const pb = PRIORITY_RANK[b.priority] ?? 9;
  if (pa !== pb) return pa - pb;
  const da = a.due || Infinity;
  const db = b.due || Infinity;
  if (da !== db) return da < db ? -1 : 1;
  return a.id - b.id;
}

/** Class-name-safe token for enum values that come from the server. */
export function token(v) {
  return typeof v === 'string' && /^[a-z0-9_-]{1,32}$/i.test(v) ? v.toLowerCase() : 'unknown';
}

export function prioBadge(p) {
  return h('span', { class: `prio prio-${token(p)}`, title: `Priority: ${p}`, text: p || '?' });
}

const PLATFORM = { mastodon: ['M', 'Mastodon'], bluesky: ['B', 'Bluesky'] };

export function platformTag(p) {
  const [short, long] = PLATFORM[p] || [String(p || '?').slice(0, 1).toUpperCase(), p || 'unknown'];
  return h('span', { class: `platform platform-${token(p)}`, title: long, 'aria-label': long }, short);
}

/** The SLA timer of a case: the ticker (app.js) keeps data-due elements current. */
export function slaEl(c, cls = 'sla') {
  if (c.owner === 'closed') {
    return h('span', { class: `${cls} sla-closed`, title: 'Closed', text: c.closed_at ? `closed ${fmtTime(c.closed_at)}` : 'closed' });
  }
  if (!c.due) {
    const text = c.owner === 'policy' ? 'automated' : (c.first_responded_at ? 'answered' : 'no target');
    return h('span', { class: `${cls} sla-none`, text, title: 'No SLA clock is running' });
  }
  const st = slaState(c.due, c.breached);
  return h('span', {
    class: `${cls} ${st.cls}`, text: st.text, title: `Due ${fmtTime(c.due)}`,
    dataset: { due: String(c.due), breached: c.breached ? '1' : '0' },
  });
}

export function assigneeText(c, meId) {
  if (c.owner === 'closed') return c.assignee ? `closed · ${c.assignee.name}` : 'closed';
  if (c.owner === 'policy') return 'automation';
  if (!c.assignee) return 'unclaimed';
  return c.assignee.id === meId ? `${c.assignee.name} (you)` : c.assignee.name;
}

/** One row of the case list. */
export function caseRow(c, { meId, queueTitle }) {
  const mine = c.assignee && c.assignee.id === meId;
  return h('li', {
    class: `case-row${mine ? ' is-mine' : ''}${c.breached ? ' is-breached' : ''}${c.assignee ? '' : ' is-unclaimed'}`,
    role: 'option', id: `case-row-${c.id}`, 'aria-selected': 'false',
    dataset: { caseId: String(c.id), priority: token(c.priority), owner: token(c.owner) },
  },
  h('div', { class: 'row-line' },
    prioBadge(c.priority),
    platformTag(c.platform),
    h('bdi', { class: 'row-handle', text: atHandle(c.author && c.author.handle) }),
    h('span', { class: 'row-id', text: `#${c.id}` }),
    slaEl(c, 'sla row-sla')),
  h('div', { class: 'row-line' },
    h('span', { class: 'row-summary', dir: 'auto', text: c.summary || '(no text)' }),
    h('span', { class: 'row-queue', text: queueTitle(c.queue) }),
    h('span', { class: `row-assignee${mine ? ' is-me' : ''}`, text: assigneeText(c, meId) })));
}

// ---- case detail ------------------------------------------------------------------------------

export function authorPanel(a, fallbackHandle) {
  if (!a) return h('p', { class: 'muted', text: atHandle(fallbackHandle) });
  const hist = a.history || {};
  return [
    h('div', { class: 'author-id' },
      h('bdi', { class: 'author-handle', text: atHandle(a.handle) }),
      a.name ? h('bdi', { class: 'author-name', text: a.name }) : null,
      a.verified ? h('span', { class: 'tag tag-verified', text: '✓ verified' }) : null,
      a.bot ? h('span', { class: 'tag tag-bot', text: 'bot' }) : null),
    h('dl', { class: 'author-facts' },
      h('div', null, h('dt', { text: 'Followers' }), h('dd', { text: fmtCount(a.followers), title: String(a.followers ?? '') })),
      h('div', null, h('dt', { text: 'Posts (24 h)' }), h('dd', { text: String(hist.posts ?? '—') })),
      h('div', null, h('dt', { text: 'Answered' }), h('dd', { text: String(hist.answered ?? '—') })),
      h('div', null, h('dt', { text: 'Escalated' }), h('dd', { text: String(hist.escalated ?? '—') }))),
  ];
}

function policyErrorText(err) {
  if (!err) return '';
  if (typeof err !== 'object') return String(err);
  const parts = [];
  if (err.code) parts.push(String(err.code));
  if (err.message) parts.push(String(err.message));
  if (err.file) parts.push(`at ${err.file}${err.line ? `:${err.line}` : ''}`);
  return parts.length ? parts.join(' — ') : JSON.stringify(err);
}

/** The decision trace of a post (collapsible). */
export function decisionTrace(d, { open, queueTitle, onToggle }) {
  const ver = d.policy_version ? String(d.policy_version) : '';
  const summaryBits = [
    h('span', { class: `action action-${token(d.action)}`, text: d.action || '?' }),
  ];
  if (d.queue) summaryBits.push(' → ', h('span', { text: queueTitle(d.queue) }));
  if (d.priority) summaryBits.push(' ', prioBadge(d.priority));
  if (ver) summaryBits.push(' ', h('code', { class: 'policy-ver', title: `Policy version ${ver}`, text: ver.slice(0, 8) }));
  if (d.error) summaryBits.push(' ', h('span', { class: 'tag tag-error', text: 'policy error' }));

  const rows = [];
  const row = (label, ...value) => rows.push(h('div', null, h('dt', { text: label }), h('dd', null, ...value)));
  row('Action', d.action || '—');
  if (d.queue) row('Queue', queueTitle(d.queue));
  if (d.priority) row('Priority', d.priority);
  row('Reasons', Array.isArray(d.reasons) && d.reasons.length
    ? h('ul', { class: 'reasons' }, d.reasons.map((r) => h('li', { dir: 'auto', text: String(r) })))
    : h('span', { class: 'muted', text: 'none given' }));
  row('Policy', ver ? h('code', { title: ver, text: ver.slice(0, 12) }) : '—');
  if (d.decided_at) row('Decided', timeEl(d.decided_at));
  if (d.error) {
    row('Error', h('span', { class: 'policy-error', text: policyErrorText(d.error) }));
    if (d.error.traceback) row('Traceback', h('pre', { class: 'traceback', text: String(d.error.traceback) }));
  }
  row('Said publicly', d.reply ? h('q', { class: 'said', dir: 'auto', text: d.reply }) : h('span', { class: 'muted', text: 'nothing' }));
  if (d.message) row('Said privately', h('q', { class: 'said', dir: 'auto', text: d.message }));

  const det = h('details', { class: 'trace' },
    h('summary', null, h('span', { class: 'trace-label', text: 'Decision' }), ' ', ...summaryBits),
    h('dl', { class: 'trace-body' }, rows));
  det.open = !!open;
  det.addEventListener('toggle', () => onToggle(det.open));
  return det;
}

export function postItem(p, ctx) {
  const a = p.author || {};
  const url = ctx.safeUrl(p.url);
  return h('li', {
    class: `post${p.deleted ? ' is-deleted' : ''}${ctx.isBrand(a) ? ' is-brand' : ''}`,
    dataset: { postRowid: String(p.rowid) },
  },
  h('div', { class: 'post-head' },
    h('bdi', { class: 'post-author', text: a.name || atHandle(a.handle) }),
    a.name ? h('bdi', { class: 'post-handle muted', text: atHandle(a.handle) }) : null,
    a.verified ? h('span', { class: 'tag tag-verified', title: 'verified', text: '✓' }) : null,
    a.bot ? h('span', { class: 'tag tag-bot', text: 'bot' }) : null,
    p.kind ? h('span', { class: 'tag', text: String(p.kind) }) : null,
    p.deleted ? h('span', { class: 'tag tag-deleted', text: 'deleted' }) : null,
    h('span', { class: 'spacer' }),
    timeEl(p.created_at, 'post-time'),
    url ? h('a', { class: 'post-link', href: url, target: '_blank', rel: 'noopener noreferrer', text: 'view ↗', title: url }) : null),
  h('p', { class: 'post-text', dir: 'auto', text: p.text || '' }),
  p.decision ? decisionTrace(p.decision, {
    open: ctx.openTraces.has(p.rowid), queueTitle: ctx.queueTitle,
    onToggle: (o) => (o ? ctx.openTraces.add(p.rowid) : ctx.openTraces.delete(p.rowid)),
  }) : null);
}

const REPLY_ERROR_STATES = new Set(['dead', 'retry', 'reconcile', 'cancelled']);

export function replyItem(r, { by }) {
  const priv = r.kind === 'direct_message';
  return h('li', {
    class: `reply${priv ? ' is-private' : ''} state-${token(r.state)}`,
    dataset: { outboxId: String(r.outbox_id), state: String(r.state) },
  },
  h('div', { class: 'reply-head' },
    h('span', { class: 'reply-kind', text: priv ? 'Direct message' : 'Public reply' }),
    h('span', { class: 'reply-by muted', text: by ? `by ${by}` : 'automated' }),
    h('span', { class: `state-badge state-${token(r.state)}`, text: r.state || '?' }),
    r.attempts > 1 ? h('span', { class: 'muted', text: `${r.attempts} attempts` }) : null,
    h('span', { class: 'spacer' }),
    timeEl(r.updated_at || r.created_at, 'post-time')),
  h('p', { class: 'reply-text', dir: 'auto', text: r.text || '' }),
  r.last_error && REPLY_ERROR_STATES.has(r.state)
    ? h('p', { class: 'reply-error', text: `Last error: ${r.last_error}` }) : null);
}

const EVENT_TEXT = {
  escalated: 'escalated to a human',
  post: 'new customer post',
  claimed: 'claimed the case',
  unclaimed: 'unclaimed the case',
  reply: 'replied',
  delivered: 'reply delivered',
  failed: 'reply failed (dead letter)',
  note: 'added a note',
  transferred: 'transferred the case',
  resolved: 'resolved the case',
  reopened: 'reopened the case',
  released: 'handed the thread back to automation',
};

function detailValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') {
    if (typeof v.name === 'string') return v.name;
    return JSON.stringify(v);
  }
  return String(v);
}

// Detail keys (written by the service, values mostly strings): post {post_id}; escalated {post_id,
// reasons, policy_version, reply}; reply {private, text, request_id}; note {text}; delivered and
// failed {kind, state, remote_id, error}; transferred {from_queue, to_queue, to_agent}.
const EVENT_DETAIL_SKIP = new Set(['text', 'private', 'request_id', 'post_id']);
const QUEUE_KEYS = new Set(['queue', 'to_queue', 'from_queue']);

export function eventItem(ev, { queueTitle }) {
  const actor = ev.actor ? ev.actor.name : 'system';
  const d = ev.detail && typeof ev.detail === 'object' ? ev.detail : {};
  let what = EVENT_TEXT[ev.kind] || String(ev.kind);
  if (ev.kind === 'reply' && d.private !== undefined) {
    what = d.private === true || d.private === 'true' ? 'sent a private message' : 'replied publicly';
  }
  const extra = [];
  for (const [k, v] of Object.entries(d)) {
    if (EVENT_DETAIL_SKIP.has(k) || v === null || v === undefined || v === '') continue;
    let val;
    let cls = 'ev-detail';
    if (QUEUE_KEYS.has(k)) val = queueTitle(String(v));
    else if (k === 'policy_version') val = String(v).slice(0, 8);
    else if (k === 'kind') val = v === 'direct_message' ? 'direct message' : v === 'public_reply' ? 'public reply' : String(v);
    else val = detailValue(v);
    if (k === 'error') cls += ' ev-error';
    extra.push(h('span', { class: cls, title: k === 'policy_version' ? String(v) : null },
      h('span', { class: 'muted', text: `${k.replace(/_/g, ' ')}: ` }), h('bdi', { dir: 'auto', text: val })));
  }
  const noteText = typeof d.text === 'string' ? d.text : null;
  return h('li', { class: `event ev-${token(ev.kind)}`, dataset: { eventKind: String(ev.kind) } },
    timeEl(ev.at, 'ev-time'),
    h('span', { class: 'ev-main' },
      h('bdi', { class: 'ev-actor', text: actor }), ' ', h('span', { text: what }),
      ev.outbox_id ? h('span', { class: 'muted', text: ` (reply ${ev.outbox_id})` }) : null,
      extra.length ? h('span', { class: 'ev-details' }, extra) : null,
      noteText !== null ? h('blockquote', { class: `ev-note-text${ev.kind === 'note' ? '' : ' is-reply'}`, dir: 'auto', text: noteText }) : null));
}

export function ownerLabel(owner) {
  return { human: 'Open', closed: 'Closed', policy: 'Automated' }[owner] || cap(String(owner));
}
