// app.js — Switchboard's agent console. State, rendering and behaviour; the API is in api.js,
// the WebSocket in live.js, element builders in views.js. See docs/console-api.md.

import * as api from './api.js';
import { ApiError } from './api.js';
import { Live } from './live.js';
import {
  h, $, $$, add, clear, now, fmtDuration, fmtTime, slaState, timeEl, codePoints, graphemes, utf8Bytes,
  safeUrl, atHandle, requestId, storageGet, storageSet,
} from './util.js';
import {
  compareCases, caseRow, slaEl, authorPanel, postItem, replyItem, eventItem, ownerLabel,
  platformTag, prioBadge, token,
} from './views.js';

const PRIVATE_MAX_BYTES = 10000;
const FILTERS = {
  mine: 'My cases',
  unclaimed: 'Unclaimed',
  open: 'All open',
  closed: 'Closed',
  agent: 'Assigned to',
};
const DEFAULT_LIMIT = { mastodon: { max: 500, unit: 'characters' }, bluesky: { max: 300, unit: 'graphemes' } };

// ---- state ------------------------------------------------------------------------------------

const S = {
  me: null, // Agent
  queues: [], // Queue (from /api/me)
  stats: new Map(), // queue name → QueueStats
  agentsOnline: [], // AgentOnline (from /api/queues)
  agents: [], // Agent + online (supervisors, /api/agents)
  view: 'cases',
  filter: 'mine',
  queue: '', // '' = the agent's queues
  agentName: '', // filter 'agent'
  cases: [],
  next: null,
  listSeq: 0,
  listLoading: false,
  pushedDuringLoad: null, // Map id → Case, pushes that raced a list load
  rows: new Map(), // id → {c, el}
  flash: new Set(),
  selectedId: null,
  openId: null,
  detail: null, // case detail; posts === null while loading
  detailSeq: 0,
  detailTimer: null,
  openTraces: new Set(),
  busy: new Set(), // actions in flight
  drafts: new Map(), // case id → {reply, private, note}
  pendingReply: null, // {caseId, text, private, id}: reused for a retry of the same text
  started: false,
};

const isSupervisor = () => !!S.me && (S.me.role === 'supervisor' || S.me.role === 'admin');

const live = new Live({
  onMessage: onPush,
  onStatus: renderConn,
  onOpen: resync,
  beforeReconnect: async () => {
    // The upgrade cannot tell us why it failed: ask /api/me (a 401 shows the login form).
    try {
      const me = await api.me();
      api.setCsrf(me.csrf);
      return true;
    } catch (e) {
      return !(e instanceof ApiError && e.status === 401);
    }
  },
});

// ---- boot, sign in, sign out ------------------------------------------------------------------

let booted = false;
async function boot() {
  if (booted) return;
  booted = true;
  wire();
  api.onUnauthorized(() => {
    if (S.started) showLogin('Your session has ended. Please sign in again.');
  });
  await tryResume();
}

async function tryResume() {
  $('#boot').hidden = false;
  $('#boot-retry').hidden = true;
  $('#boot-text').textContent = 'Loading the console…';
  try {
    const me = await api.me({ auth401: false });
    startApp(me);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      showLogin();
    } else {
      $('#boot-text').textContent = `The console could not load: ${e.message}`;
      $('#boot-retry').hidden = false;
    }
  }
}

function showLogin(notice) {
  stopApp();
  $('#boot').hidden = true;
  $('#app').hidden = true;
  $('#login-view').hidden = false;
  const n = $('#login-notice');
  n.hidden = !notice;
  n.textContent = notice || '';
  $('#login-password').value = '';
  ($('#login-name').value ? $('#login-password') : $('#login-name')).focus();
  document.title = 'Sign in — Switchboard';
}

let loginLockTimer = null;
async function onLoginSubmit(ev) {
  ev.preventDefault();
  const name = $('#login-name').value.trim();
  const password = $('#login-password').value;
  const err = $('#login-error');
  if (!name || !password) {
    err.hidden = false;
    err.textContent = 'Enter your name and password.';
    return;
  }
  const btn = $('#login-submit');
  btn.disabled = true;
  err.hidden = true;
  try {
    const r = await api.login(name, password);
    api.setCsrf(r.csrf);
    const me = await api.me({ auth401: false });
    $('#login-password').value = '';
    btn.disabled = false;
    startApp(me);
  } catch (e) {
    btn.disabled = false;
    err.hidden = false;
    if (e.status === 401) {
      err.textContent = 'Wrong name or password.';
      $('#login-password').select();
    } else if (e.status === 429) {
      lockLogin(e.retryAfter ?? 60);
    } else {
      err.textContent = e.message;
    }
  }
}

function lockLogin(secs) {
  const btn = $('#login-submit');
  const err = $('#login-error');
  clearInterval(loginLockTimer);
  const until = Date.now() + secs * 1000;
  const upd = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(loginLockTimer);
      btn.disabled = false;
      err.textContent = 'You can try again now.';
      return;
    }
    btn.disabled = true;
    err.textContent = `Too many attempts, try again in ${left} s.`;
  };
  upd();
  loginLockTimer = setInterval(upd, 1000);
}

function startApp(meResp) {
  S.me = meResp.agent;
  api.setCsrf(meResp.csrf);
  S.queues = Array.isArray(meResp.queues) ? meResp.queues : [];
  S.started = true;
  S.filter = storageGet('sb.filter', 'mine');
  if (!FILTERS[S.filter] || S.filter === 'agent') S.filter = 'mine';
  S.queue = storageGet('sb.queue', '');
  if (S.queue && !S.queues.some((q) => q.name === S.queue)) S.queue = '';

  $('#boot').hidden = true;
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  renderHeader();
  renderTransferOptions();
  renderFilters();
  renderQueues();
  setView('cases');
  live.start();
  loadList();
  loadQueues();
  if (isSupervisor()) loadAgents();
  const m = /^#case=(\d+)$/.exec(location.hash);
  if (m) openCase(Number(m[1]));
  $('#case-list').focus();
}

function stopApp() {
  live.stop();
  S.started = false;
  S.me = null;
  S.cases = [];
  S.next = null;
  S.rows.clear();
  S.stats.clear();
  S.openId = null;
  S.selectedId = null;
  S.detail = null;
  S.drafts.clear();
  S.pendingReply = null;
  S.listSeq++;
  S.detailSeq++;
  clearTimeout(S.detailTimer);
  api.setCsrf(null);
  clear($('#case-list'));
  $('#case-view').hidden = true;
  $('#case-empty').hidden = false;
  $('#reply-text').value = '';
  $('#note-text').value = '';
  clear($('#toast'));
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
}

async function onLogout() {
  try {
    await api.logout();
  } catch { /* signed out either way */ }
  showLogin('You are signed out.');
}

// ---- header, connection, views ------------------------------------------------------------------

function renderHeader() {
  $('#me-name').textContent = S.me.name;
  $('#me-role').textContent = S.me.role;
  $('#me-role').className = `role-badge role-${token(S.me.role)}`;
  $('#nav-dashboard').hidden = !isSupervisor();
  for (const el of $$('.sup-only')) el.hidden = !isSupervisor();
}

let connRetryAt = 0;
let connTimer = null;
function renderConn(status, info = {}) {
  const el = $('#conn-status');
  el.dataset.state = status;
  connRetryAt = info.retryAt || 0;
  clearInterval(connTimer);
  const upd = () => {
    const secs = Math.ceil((connRetryAt - Date.now()) / 1000);
    el.textContent = status === 'reconnecting' && secs > 0 ? `reconnecting (${secs} s)` : status;
  };
  upd();
  if (status === 'reconnecting' && connRetryAt) connTimer = setInterval(upd, 1000);
  el.title = {
    live: 'Live updates are on',
    connecting: 'Connecting for live updates…',
    reconnecting: 'Live updates are off: reconnecting',
    offline: 'Offline: no live updates',
  }[status] || status;
  $('#conn-retry').hidden = !(status === 'reconnecting' || (status === 'offline' && S.started));
}

function setView(v) {
  if (v === 'dashboard' && !isSupervisor()) v = 'cases';
  S.view = v;
  $('#cases-view').hidden = v !== 'cases';
  $('#dashboard-view').hidden = v !== 'dashboard';
  $('#nav-cases').setAttribute('aria-pressed', String(v === 'cases'));
  $('#nav-dashboard').setAttribute('aria-pressed', String(v === 'dashboard'));
  if (v === 'dashboard') {
    renderDashboard();
    loadQueues();
    loadAgents();
  }
}

// ---- live pushes and resync -------------------------------------------------------------------

function onPush(msg) {
  switch (msg.type) {
    case 'hello':
      if (msg.agent && S.me && msg.agent.id === S.me.id) {
        S.me = msg.agent;
        renderHeader();
      }
      break;
    case 'case':
      if (msg.case) onCasePush(msg);
      break;
    case 'queues':
      if (Array.isArray(msg.queues)) setStats(msg.queues);
      break;
    default:
      break; // pong, and whatever comes later
  }
}

function onCasePush(msg) {
  const c = msg.case;
  if (S.pushedDuringLoad) S.pushedDuringLoad.set(c.id, c);
  const appeared = upsertCase(c, { live: true });
  const byOther = msg.actor && S.me && msg.actor.id !== S.me.id;
  if (appeared && msg.event === 'escalated') {
    announce(`New ${c.priority} case #${c.id} from ${atHandle(c.author && c.author.handle)} in ${queueTitle(c.queue)}.`);
  } else if (appeared) {
    announce(`Case #${c.id} now in ${FILTERS[S.filter].toLowerCase()}.`);
  }
  if (c.id === S.openId) {
    if (byOther && ['claimed', 'transferred', 'resolved', 'unclaimed', 'reopened', 'released'].includes(msg.event)) {
      toast(`${msg.actor.name} ${eventVerb(msg.event)} case #${c.id}.`, 'info');
    }
    if (msg.event === 'post') toast(`New customer post on case #${c.id}.`, 'info');
    if (msg.event === 'failed') toast(`A reply on case #${c.id} could not be delivered.`, 'error');
    scheduleDetailRefresh();
  }
}

function eventVerb(kind) {
  return { claimed: 'claimed', transferred: 'transferred', resolved: 'resolved', unclaimed: 'unclaimed', reopened: 'reopened', released: 'released' }[kind] || kind;
}

/** After every (re)connect: pushes are not replayed, so re-read what is shown. */
function resync() {
  loadList({ resync: true });
  loadQueues();
  if (S.openId) loadDetail(S.openId);
  if (isSupervisor()) loadAgents();
}

// ---- queues -----------------------------------------------------------------------------------

async function loadQueues() {
  try {
    const r = await api.queues();
    S.agentsOnline = Array.isArray(r.agents) ? r.agents : [];
    setStats(r.queues || []);
  } catch (e) {
    if (e.status !== 401) toast(`Could not load queues: ${e.message}`, 'error');
  }
}

async function loadAgents() {
  if (!isSupervisor()) return;
  try {
    const r = await api.agents();
    S.agents = Array.isArray(r.agents) ? r.agents : [];
    renderTransferOptions();
    if (S.view === 'dashboard') renderDashboard();
  } catch (e) {
    if (e.status !== 401 && e.status !== 403) toast(`Could not load agents: ${e.message}`, 'error');
  }
}

function setStats(list) {
  S.stats = new Map(list.map((q) => [q.name, q]));
  renderQueues();
  if (S.view === 'dashboard') renderDashboard();
}

/** Queues in display order: the agent's (from /api/me), then any others the stats name. */
/** The queues of the sidebar: an agent's own (every queue is still offered for transfers). */
function allQueues() {
  const out = [...S.queues];
  const names = new Set(out.map((q) => q.name));
  for (const q of S.stats.values()) if (!names.has(q.name)) out.push(q);
  const mine = S.me && S.me.role === 'agent' && S.me.queues && S.me.queues.length ? S.me.queues : null;
  return mine ? out.filter((q) => mine.includes(q.name)) : out;
}

function queueTitle(name) {
  const q = S.queues.find((x) => x.name === name) || S.stats.get(name);
  return (q && q.title) || name || '—';
}

function renderQueues() {
  const ul = $('#queue-list');
  const counts = (open, unclaimed, breached) => h('span', { class: 'counts' },
    h('span', { class: 'count count-open', title: 'open', text: open ?? '–' }),
    h('span', { class: 'count count-unclaimed', title: 'unclaimed', text: unclaimed ?? '–' }),
    h('span', { class: `count count-breached${breached ? ' is-hot' : ''}`, title: 'breached', text: breached ?? '–' }));
  let tOpen = 0; let tUn = 0; let tBr = 0;
  const items = allQueues().map((q) => {
    const st = S.stats.get(q.name);
    if (st) { tOpen += st.open || 0; tUn += st.unclaimed || 0; tBr += st.breached || 0; }
    return h('li', null, h('button', {
      type: 'button', class: 'queue-btn', dataset: { queue: q.name },
      'aria-pressed': String(S.queue === q.name),
      'aria-label': st ? `${q.title || q.name}: ${st.open} open, ${st.unclaimed} unclaimed, ${st.breached} breached` : (q.title || q.name),
    }, h('span', { class: 'queue-name', text: q.title || q.name }), st ? counts(st.open, st.unclaimed, st.breached) : counts()));
  });
  add(clear(ul), 
    h('li', null, h('button', {
      type: 'button', class: 'queue-btn', dataset: { queue: '' }, 'aria-pressed': String(S.queue === ''),
      'aria-label': `All my queues: ${tOpen} open, ${tUn} unclaimed, ${tBr} breached`,
    }, h('span', { class: 'queue-name', text: S.me && S.me.queues && S.me.queues.length ? 'All my queues' : 'All queues' }), counts(tOpen, tUn, tBr))),
    ...items);
  document.title = `${tUn ? `(${tUn}) ` : ''}Switchboard`;
}

function renderFilters() {
  for (const b of $$('#filters .filter')) b.setAttribute('aria-pressed', String(b.dataset.filter === S.filter));
  const af = $('#agent-filter');
  af.hidden = S.filter !== 'agent';
  $('#agent-filter-label').textContent = S.filter === 'agent' ? `Assigned to ${S.agentName}` : '';
  for (const b of $$('#queue-list .queue-btn')) b.setAttribute('aria-pressed', String(b.dataset.queue === S.queue));
  const t = S.filter === 'agent' ? `Assigned to ${S.agentName}` : FILTERS[S.filter];
  $('#list-title').textContent = S.queue ? `${t} · ${queueTitle(S.queue)}` : t;
}

function setFilter(filter, { queue = S.queue, agentName = '' } = {}) {
  S.filter = filter;
  S.queue = queue;
  S.agentName = agentName;
  if (filter !== 'agent') storageSet('sb.filter', filter);
  storageSet('sb.queue', queue);
  S.cases = [];
  S.next = null;
  renderFilters();
  renderList();
  loadList();
}

// ---- the case list ----------------------------------------------------------------------------

function listQuery() {
  const q = { owner: 'human' };
  if (S.filter === 'mine') q.assignee = 'me';
  else if (S.filter === 'unclaimed') q.assignee = 'unclaimed';
  else if (S.filter === 'closed') q.owner = 'closed';
  else if (S.filter === 'agent') q.assignee = S.agentName;
  if (S.queue) q.queue = S.queue;
  return q;
}

/** Whether a (pushed) case belongs in the list as filtered: the same test as the server's. */
function matches(c) {
  if (S.queue) {
    if (c.queue !== S.queue) return false;
  } else if (S.me.queues && S.me.queues.length && !S.me.queues.includes(c.queue)) {
    return false;
  }
  switch (S.filter) {
    case 'mine': return c.owner === 'human' && !!c.assignee && c.assignee.id === S.me.id;
    case 'unclaimed': return c.owner === 'human' && !c.assignee;
    case 'open': return c.owner === 'human';
    case 'closed': return c.owner === 'closed';
    case 'agent': return c.owner === 'human' && !!c.assignee && c.assignee.name === S.agentName;
    default: return false;
  }
}

async function loadList({ append = false, resync = false } = {}) {
  const seq = ++S.listSeq;
  const q = listQuery();
  if (append) {
    if (!S.next) return;
    q.after = S.next;
    q.limit = 50;
  } else {
    // a resync keeps as many rows as were loaded (within the API's 200)
    q.limit = Math.min(200, Math.max(50, resync ? S.cases.length : 0));
  }
  S.listLoading = true;
  S.pushedDuringLoad = new Map();
  $('#load-more').disabled = true;
  $('#case-list').setAttribute('aria-busy', 'true');
  try {
    const r = await api.cases(q);
    if (seq !== S.listSeq) return;
    const incoming = Array.isArray(r.cases) ? r.cases : [];
    if (append) {
      const have = new Set(S.cases.map((c) => c.id));
      for (const c of incoming) if (!have.has(c.id)) S.cases.push(c);
    } else {
      S.cases = incoming;
    }
    S.next = r.next ?? null;
    const raced = S.pushedDuringLoad;
    S.pushedDuringLoad = null;
    for (const c of raced.values()) upsertCase(c, { render: false }); // newer than the page?
    renderList();
  } catch (e) {
    if (seq === S.listSeq && e.status !== 401) toast(`Could not load cases: ${e.message}`, 'error');
  } finally {
    if (seq === S.listSeq) {
      S.listLoading = false;
      S.pushedDuringLoad = null;
      $('#load-more').disabled = false;
      $('#case-list').removeAttribute('aria-busy');
    }
  }
}

/**
 * Put a case (from a push or an action's answer) where it belongs: replace its row, move it to its
 * sorted place, or drop it when it no longer matches the filter. Returns true when it newly
 * appeared in the list.
 */
function upsertCase(c, { live: isLive = false, render = true } = {}) {
  const idx = S.cases.findIndex((x) => x.id === c.id);
  if (idx >= 0 && (S.cases[idx].version ?? 0) > (c.version ?? 0)) return false; // stale
  let appeared = false;
  if (idx >= 0) S.cases.splice(idx, 1);
  if (matches(c)) {
    const pos = S.cases.findIndex((x) => compareCases(c, x) < 0);
    if (pos >= 0) {
      S.cases.splice(pos, 0, c);
    } else if (idx >= 0 || !S.next) {
      S.cases.push(c);
    } // else: it sorts after the loaded page; "Load more" brings it
    appeared = idx < 0 && (pos >= 0 || !S.next);
    if (appeared && isLive) S.flash.add(c.id);
  } else if (idx >= 0 && S.selectedId === c.id) {
    // keep the cursor where it was in the list
    const next = S.cases[Math.min(idx, S.cases.length - 1)];
    S.selectedId = next ? next.id : null;
  }
  if (S.detail && S.detail.case.id === c.id && (c.version ?? 0) >= (S.detail.case.version ?? 0)) {
    S.detail.case = c;
    renderCaseHead();
  }
  if (render) renderList();
  return appeared;
}

function rowFor(c) {
  const cached = S.rows.get(c.id);
  if (cached && cached.c === c) return cached.el;
  const el = caseRow(c, { meId: S.me.id, queueTitle });
  if (S.flash.delete(c.id)) {
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 4000);
  }
  S.rows.set(c.id, { c, el });
  return el;
}

function renderList() {
  const list = $('#case-list');
  if (!S.me) return;
  const ids = new Set();
  let i = 0;
  for (const c of S.cases) {
    ids.add(c.id);
    const el = rowFor(c);
    el.classList.toggle('is-selected', c.id === S.selectedId);
    el.classList.toggle('is-open', c.id === S.openId);
    el.setAttribute('aria-selected', String(c.id === S.selectedId));
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
    i++;
  }
  while (list.children.length > i) list.lastChild.remove();
  for (const id of S.rows.keys()) if (!ids.has(id)) S.rows.delete(id);

  if (S.selectedId !== null && ids.has(S.selectedId)) list.setAttribute('aria-activedescendant', `case-row-${S.selectedId}`);
  else list.removeAttribute('aria-activedescendant');

  const empty = $('#list-empty');
  empty.hidden = S.cases.length > 0 || S.listLoading;
  empty.textContent = {
    mine: 'No cases assigned to you. Claim one from Unclaimed.',
    unclaimed: 'Nothing waiting. New escalations appear here live.',
    open: 'No open cases.',
    closed: 'No closed cases.',
    agent: 'This agent holds no open cases.',
  }[S.filter];
  $('#list-count').textContent = S.cases.length ? `${S.cases.length}${S.next ? '+' : ''}` : '';
  $('#load-more').hidden = !S.next;
  tick();
}

function selectCase(id, { scroll = true } = {}) {
  S.selectedId = id;
  renderList();
  const row = S.rows.get(id);
  if (row && scroll) row.el.scrollIntoView({ block: 'nearest' });
}

function moveSelection(delta) {
  if (!S.cases.length) return;
  let i = S.cases.findIndex((c) => c.id === S.selectedId);
  if (i < 0) i = delta > 0 ? 0 : S.cases.length - 1;
  else i = Math.max(0, Math.min(S.cases.length - 1, i + delta));
  selectCase(S.cases[i].id);
}

// ---- the open case ----------------------------------------------------------------------------

function openCase(id) {
  if (!Number.isFinite(id)) return;
  if (S.openId !== id) {
    saveDraft();
    S.openId = id;
    S.openTraces.clear();
    S.pendingReply = null;
    const fromList = S.cases.find((c) => c.id === id);
    S.detail = fromList ? { case: fromList, posts: null, events: null, replies: null, author: null, limit: null } : null;
    clearError();
    restoreDraft(id);
    $('#case-empty').hidden = true;
    $('#case-view').hidden = false;
    renderCase();
    $('#case-body').scrollTop = 0;
    history.replaceState(null, '', `#case=${id}`);
  }
  S.selectedId = id;
  renderList();
  const row = S.rows.get(id);
  if (row) row.el.scrollIntoView({ block: 'nearest' });
  loadDetail(id);
}

function scheduleDetailRefresh() {
  clearTimeout(S.detailTimer);
  const id = S.openId;
  S.detailTimer = setTimeout(() => { if (S.openId === id) loadDetail(id); }, 150);
}

async function loadDetail(id) {
  const seq = ++S.detailSeq;
  try {
    const d = await api.caseDetail(id);
    if (seq !== S.detailSeq || S.openId !== id) return;
    // a push may have brought a newer Case than this read
    if (S.detail && S.detail.case && S.detail.case.id === id && (S.detail.case.version ?? 0) > (d.case.version ?? 0)) {
      d.case = S.detail.case;
    }
    S.detail = d;
    renderCase();
    const inList = S.cases.find((c) => c.id === id);
    if (inList && (d.case.version ?? 0) > (inList.version ?? 0)) upsertCase(d.case);
  } catch (e) {
    if (seq !== S.detailSeq || S.openId !== id || e.status === 401) return;
    if (e.status === 404 || e.status === 403) {
      showCaseGone(id, e.status === 404 ? `Case #${id} does not exist.` : e.message);
    } else {
      showError(e, 'Could not load the case');
    }
  }
}

function showCaseGone(id, message) {
  S.openId = null;
  S.detail = null;
  $('#case-view').hidden = true;
  const empty = $('#case-empty');
  empty.hidden = false;
  add(clear(empty), h('p', { class: 'inline-error', text: message }),
    h('p', { class: 'muted', text: 'Pick another case from the list.' }));
  history.replaceState(null, '', location.pathname + location.search);
  renderList();
}

function renderCase() {
  renderCaseHead();
  renderCaseBody();
}

/** What the signed-in agent may do with case c (the server has the last word). */
function perms(c) {
  if (!c || !S.me) return {};
  const sup = isSupervisor();
  const holder = !!c.assignee && c.assignee.id === S.me.id;
  const human = c.owner === 'human';
  return {
    holder,
    claim: human && !holder,
    unclaim: human && !!c.assignee && (holder || sup),
    reply: human && (holder || sup),
    resolve: human && (holder || sup),
    reopen: c.owner === 'closed',
    transfer: human && (holder || !c.assignee || sup),
    note: true,
  };
}

function renderCaseHead() {
  const d = S.detail;
  if (!d || !d.case) {
    add(clear($('#case-title')), S.openId ? `#${S.openId}` : '');
    clear($('#case-state'));
    clear($('#case-clocks'));
    updateButtons();
    updateComposer();
    return;
  }
  const c = d.case;
  const author = (d.author && d.author.handle) || (c.author && c.author.handle);
  add(clear($('#case-title')), 
    platformTag(c.platform), ' ',
    h('span', { class: 'case-id', text: `#${c.id}` }), ' ',
    h('bdi', { class: 'case-author', text: atHandle(author) }), ' ',
    prioBadge(c.priority));

  const st = $('#case-state');
  st.dataset.owner = token(c.owner);
  st.dataset.assignee = c.assignee ? c.assignee.name : '';
  const who = c.owner === 'human'
    ? (c.assignee ? `Claimed by ${c.assignee.name}${c.assignee.id === S.me.id ? ' (you)' : ''}` : 'Unclaimed')
    : (c.owner === 'closed' ? (c.assignee ? `Last held by ${c.assignee.name}` : '') : 'Automation answers this thread');
  add(clear(st), 
    h('span', { class: `owner-badge owner-${token(c.owner)}`, text: ownerLabel(c.owner) }),
    who ? ` · ${who}` : '',
    ' · ', h('span', { class: 'muted', text: `queue ${queueTitle(c.queue)}` }),
    c.account ? h('span', { class: 'muted', text: ` · account ${c.account}` }) : null);

  const sla = $('#case-sla');
  sla.replaceWith(Object.assign(slaEl(c, 'sla case-sla'), { id: 'case-sla' }));

  const clocks = $('#case-clocks');
  const item = (label, ...v) => h('div', null, h('dt', { text: label }), h('dd', null, ...v));
  add(clear(clocks), 
    item('Created', timeEl(c.created_at)),
    item('First response', c.first_responded_at
      ? ['answered ', timeEl(c.first_responded_at)]
      : (c.first_due ? ['due ', timeEl(c.first_due)] : 'no target')),
    item('Next response', c.next_due ? ['due ', timeEl(c.next_due)] : 'not waiting'),
    item('Customer last', timeEl(c.last_customer_at)),
    c.closed_at ? item('Closed', timeEl(c.closed_at)) : null);

  updateButtons();
  updateComposer();
}

function updateButtons() {
  const c = S.detail && S.detail.case;
  const p = perms(c);
  const set = (id, ok, why) => {
    const b = $(`#${id}`);
    b.disabled = !ok || S.busy.has(id);
    b.title = ok ? '' : why;
  };
  set('claim', p.claim, p.holder ? 'You hold this case' : 'Only open cases can be claimed');
  set('unclaim', p.unclaim, 'You do not hold this case');
  set('resolve', p.resolve, 'Claim the case first');
  set('reopen', p.reopen, 'Only closed cases can be reopened');
  $('#claim').hidden = !!p.holder;
  $('#unclaim').hidden = !p.unclaim;
  $('#resolve').hidden = c && c.owner === 'closed';
  $('#reopen').hidden = !c || c.owner !== 'closed';
  if (c && c.assignee && !p.holder && c.owner === 'human') $('#claim').textContent = isSupervisor() ? 'Take over' : 'Claim';
  else $('#claim').textContent = 'Claim';
  const tq = $('#transfer-queue');
  const ta = $('#transfer-agent');
  tq.disabled = !p.transfer;
  ta.disabled = !p.transfer;
  $('#transfer-send').disabled = !p.transfer || S.busy.has('transfer-send') || (!tq.value && !(isSupervisor() && ta.value));
  for (const o of tq.options) o.textContent = o.value ? `${queueTitle(o.value)}${c && o.value === c.queue ? ' (current)' : ''}` : 'queue…';
}

function renderTransferOptions() {
  const tq = $('#transfer-queue');
  const keepQ = tq.value;
  add(clear(tq), h('option', { value: '', text: 'queue…' }),
    ...S.queues.map((q) => h('option', { value: q.name, text: q.title || q.name })));
  tq.value = S.queues.some((q) => q.name === keepQ) ? keepQ : '';
  const ta = $('#transfer-agent');
  const keepA = ta.value;
  add(clear(ta), h('option', { value: '', text: 'nobody (queue)' }),
    ...S.agents.map((a) => h('option', { value: a.name, text: `${a.name}${a.online ? ' ●' : ''}` })));
  ta.value = S.agents.some((a) => a.name === keepA) ? keepA : '';
}

function renderCaseBody() {
  const d = S.detail;
  const authorEl = $('#author-panel');
  const conv = $('#conversation');
  const events = $('#events');
  if (!d || d.posts === null) {
    add(clear(authorEl), h('p', { class: 'muted', text: 'Loading…' }));
    clear(conv);
    clear(events);
    return;
  }
  const body = $('#case-body');
  const scroll = body.scrollTop;
  add(clear(authorEl), ...[].concat(authorPanel(d.author, d.case.author && d.case.author.handle)));

  // who sent each reply (reply events name the agent; the others were automated)
  const by = new Map();
  for (const ev of d.events || []) if (ev.kind === 'reply' && ev.outbox_id && ev.actor) by.set(ev.outbox_id, ev.actor.name);

  const posts = [...(d.posts || [])].sort((a, b) => (a.created_at - b.created_at) || (a.rowid - b.rowid));
  const replies = [...(d.replies || [])].sort((a, b) => (a.created_at - b.created_at) || (a.outbox_id - b.outbox_id));
  const byPost = new Map();
  const orphans = [];
  const rowids = new Set(posts.map((p) => p.rowid));
  for (const r of replies) {
    if (rowids.has(r.post_rowid)) {
      if (!byPost.has(r.post_rowid)) byPost.set(r.post_rowid, []);
      byPost.get(r.post_rowid).push(r);
    } else {
      orphans.push(r);
    }
  }
  const ctx = {
    safeUrl, queueTitle, openTraces: S.openTraces,
    isBrand: () => false,
  };
  const items = [];
  for (const p of posts) {
    items.push(postItem(p, ctx));
    const rs = byPost.get(p.rowid);
    if (rs) items.push(h('li', { class: 'reply-group' }, h('ol', { class: 'replies', 'aria-label': 'Replies to this post' }, rs.map((r) => replyItem(r, { by: by.get(r.outbox_id) })))));
  }
  if (orphans.length) items.push(h('li', { class: 'reply-group' }, h('ol', { class: 'replies', 'aria-label': 'Replies' }, orphans.map((r) => replyItem(r, { by: by.get(r.outbox_id) })))));
  if (!items.length) items.push(h('li', { class: 'muted', text: 'No posts.' }));
  add(clear(conv), ...items);

  const evs = [...(d.events || [])].sort((a, b) => (a.at - b.at) || (a.id - b.id));
  add(clear(events), ...evs.map((ev) => eventItem(ev, { queueTitle })));
  if (!evs.length) events.append(h('li', { class: 'muted', text: 'Nothing yet.' }));
  body.scrollTop = scroll;
  updateComposer();
}

// ---- errors and notices -----------------------------------------------------------------------

function clearError() {
  const e = $('#error');
  e.hidden = true;
  e.textContent = '';
}

/** An API error on the open case: shown inline under the actions (and as a toast elsewhere). */
function showError(e, prefix) {
  if (e instanceof ApiError && e.status === 401) return; // the login form is shown
  const msg = e instanceof ApiError ? e.message : String(e.message || e);
  const el = $('#error');
  el.hidden = false;
  el.dataset.code = e.code || '';
  el.textContent = prefix ? `${prefix}: ${msg}` : msg;
  toast(el.textContent, 'error', { silent: true });
}

function toast(message, kind = 'info', { silent = false, timeout = kind === 'error' ? 9000 : 3500 } = {}) {
  const box = $('#toast');
  const t = h('div', { class: `toast toast-${kind}`, role: silent ? null : (kind === 'error' ? 'alert' : 'status') },
    h('span', { class: 'toast-text', text: message }),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×', on: { click: () => t.remove() } }));
  box.append(t);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => t.remove(), timeout);
}

let announceTimer = null;
function announce(msg) {
  const a = $('#announcer');
  a.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { a.textContent = msg; }, 50);
}

// ---- case actions -----------------------------------------------------------------------------

async function act(button, action, body = {}, done) {
  const id = S.openId;
  if (!id || S.busy.has(button)) return;
  clearError();
  S.busy.add(button);
  updateButtons();
  updateComposer();
  try {
    const r = await api.caseAction(id, action, body);
    if (r.case) upsertCase(r.case);
    if (done) done(r);
    if (S.openId === id) scheduleDetailRefresh();
  } catch (e) {
    if (S.openId === id) {
      showError(e);
      if (e.code === 'conflict' || e.code === 'claimed' || e.code === 'wrong_state') loadDetail(id);
    } else if (e.status !== 401) {
      toast(`Case #${id}: ${e.message}`, 'error');
    }
    throw e;
  } finally {
    S.busy.delete(button);
    if (S.openId === id) {
      updateButtons();
      updateComposer();
    }
  }
}

const quiet = (p) => p.catch(() => {});

function claim() {
  if ($('#claim').disabled) return;
  quiet(act('claim', 'claim', {}, () => toast(`You claimed case #${S.openId}.`)));
}
function unclaim() {
  if ($('#unclaim').disabled) return;
  quiet(act('unclaim', 'unclaim', {}, () => toast('Case back in its queue.')));
}
function resolve() {
  if ($('#resolve').disabled || $('#resolve').hidden) return;
  const id = S.openId;
  quiet(act('resolve', 'resolve', {}, () => toast(`Case #${id} resolved.`)));
}
function reopen() {
  if ($('#reopen').disabled || $('#reopen').hidden) return;
  quiet(act('reopen', 'reopen', {}, () => toast(`Case #${S.openId} reopened.`)));
}

function transfer(ev) {
  ev.preventDefault();
  if ($('#transfer-send').disabled) return;
  const body = {};
  const q = $('#transfer-queue').value;
  const a = isSupervisor() ? $('#transfer-agent').value : '';
  if (q) body.queue = q;
  if (a) body.agent = a;
  const target = [q && queueTitle(q), a].filter(Boolean).join(', ');
  quiet(act('transfer-send', 'transfer', body, () => {
    toast(`Case #${S.openId} transferred to ${target}.`);
    $('#transfer-queue').value = '';
    $('#transfer-agent').value = '';
  }));
}

// ---- composer: reply and note -----------------------------------------------------------------

function replyLimit() {
  const d = S.detail;
  if (d && d.limit && d.limit.max) return d.limit;
  return (d && d.case && DEFAULT_LIMIT[d.case.platform]) || DEFAULT_LIMIT.mastodon;
}

/** {n, max, unit, over}: the public limit in its unit, or 10,000 bytes of UTF-8 for a DM. */
function measureReply() {
  const text = $('#reply-text').value;
  const bytes = utf8Bytes(text);
  const priv = $('#reply-private').checked;
  const lp = S.detail && S.detail.limit_private;
  if (priv && !lp) {
    return { n: bytes, max: PRIVATE_MAX_BYTES, unit: 'bytes', over: bytes > PRIVATE_MAX_BYTES };
  }
  const lim = priv ? lp : replyLimit();
  const n = lim.unit === 'graphemes' ? graphemes(text) : codePoints(text);
  return { n, max: lim.max, unit: lim.unit, over: n > lim.max || bytes > PRIVATE_MAX_BYTES };
}

function updateComposer() {
  const c = S.detail && S.detail.case;
  const p = perms(c);
  const text = $('#reply-text').value;
  const m = measureReply();
  const count = $('#reply-count');
  count.textContent = `${m.n} / ${m.max} ${m.unit}`;
  count.classList.toggle('is-over', m.over);
  count.classList.toggle('is-near', !m.over && m.n > m.max * 0.9);
  const hint = $('#reply-hint');
  if (!c) hint.textContent = '';
  else if (c.owner === 'closed') hint.textContent = 'The case is closed: reopen it to reply.';
  else if (c.owner !== 'human') hint.textContent = 'Automation owns this thread.';
  else if (!p.reply) hint.textContent = c.assignee ? `${c.assignee.name} holds this case.` : 'Claim the case to reply (c).';
  else if (m.over) hint.textContent = `Too long by ${m.n - m.max} ${m.unit}.`;
  else hint.textContent = $('#reply-private').checked ? 'Sent as a direct message.' : 'Posted publicly in the thread.';
  hint.classList.toggle('is-error', !!p.reply && m.over);
  $('#reply-send').disabled = !p.reply || m.over || !text.trim() || S.busy.has('reply-send');
  $('#reply-send').textContent = $('#reply-private').checked ? 'Send message' : 'Send reply';
  $('#reply-form').classList.toggle('is-private', $('#reply-private').checked);
  $('#note-send').disabled = !c || !$('#note-text').value.trim() || S.busy.has('note-send');
}

function sendReply(ev) {
  if (ev) ev.preventDefault();
  if ($('#reply-send').disabled) return;
  const id = S.openId;
  const text = $('#reply-text').value;
  const priv = $('#reply-private').checked;
  const p = S.pendingReply;
  // the same text retried on the same case is the same reply (request_id makes it idempotent)
  const rid = p && p.caseId === id && p.text === text && p.private === priv ? p.id : requestId();
  S.pendingReply = { caseId: id, text, private: priv, id: rid };
  quiet(act('reply-send', 'reply', { text, private: priv, request_id: rid }, (r) => {
    S.pendingReply = null;
    if (S.openId === id && $('#reply-text').value === text) {
      $('#reply-text').value = '';
      S.drafts.delete(id);
    }
    if (r.reply && S.detail && S.detail.case.id === id && S.detail.replies) {
      const rest = S.detail.replies.filter((x) => x.outbox_id !== r.reply.outbox_id);
      S.detail.replies = [...rest, r.reply];
      renderCaseBody();
    }
    toast(priv ? 'Private message queued.' : 'Reply queued.');
  }).catch((e) => {
    if (e.status === 0) showError(e, 'Not sent — press Send again to retry (no duplicate will be posted)');
    throw e;
  }));
}

function addNote(ev) {
  if (ev) ev.preventDefault();
  if ($('#note-send').disabled) return;
  const id = S.openId;
  const text = $('#note-text').value;
  quiet(act('note-send', 'note', { text }, (r) => {
    if (S.openId === id && $('#note-text').value === text) $('#note-text').value = '';
    const dr = S.drafts.get(id);
    if (dr) dr.note = '';
    if (r.event && S.detail && S.detail.case.id === id && S.detail.events) {
      S.detail.events = [...S.detail.events.filter((x) => x.id !== r.event.id), r.event];
      renderCaseBody();
    }
  }));
}

function saveDraft() {
  if (!S.openId) return;
  const reply = $('#reply-text').value;
  const note = $('#note-text').value;
  if (reply || note) S.drafts.set(S.openId, { reply, note, private: $('#reply-private').checked });
  else S.drafts.delete(S.openId);
}

function restoreDraft(id) {
  const d = S.drafts.get(id);
  $('#reply-text').value = d ? d.reply : '';
  $('#note-text').value = d ? d.note : '';
  $('#reply-private').checked = d ? d.private : false;
}

// ---- supervisor dashboard ---------------------------------------------------------------------

function renderDashboard() {
  const tb = $('#dash-queues tbody');
  const target = (s) => (!s ? '—' : s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : fmtDuration(s * 1000));
  add(clear(tb), ...allQueues().map((q) => {
    const st = S.stats.get(q.name) || {};
    return h('tr', { dataset: { queue: q.name } },
      h('th', { scope: 'row' }, h('span', { text: q.title || q.name }), q.title && q.title !== q.name ? h('span', { class: 'muted', text: ` ${q.name}` }) : null),
      h('td', { class: 'num', text: st.open ?? '—' }),
      h('td', { class: `num${st.unclaimed ? ' is-warn' : ''}`, text: st.unclaimed ?? '—' }),
      h('td', { class: 'num' }, st.oldest_at
        ? h('span', { class: 'since', dataset: { since: String(st.oldest_at) }, title: `since ${fmtTime(st.oldest_at)}`, text: fmtDuration(now() - st.oldest_at) })
        : '—'),
      h('td', { class: `num${st.breached ? ' is-hot' : ''}`, text: st.breached ?? '—' }),
      h('td', { text: `first ${target(q.first_response)} · next ${target(q.next_response)}` }),
      h('td', { text: q.hours || 'around the clock' }),
      h('td', null,
        h('button', { type: 'button', class: 'btn btn-small', text: 'Unclaimed', on: { click: () => { setView('cases'); setFilter('unclaimed', { queue: q.name }); } } }), ' ',
        h('button', { type: 'button', class: 'btn btn-small', text: 'All open', on: { click: () => { setView('cases'); setFilter('open', { queue: q.name }); } } })));
  }));

  const online = new Map(S.agentsOnline.map((a) => [a.id, a.consoles]));
  const agents = S.agents.length ? S.agents : S.agentsOnline;
  const ta = $('#dash-agents tbody');
  add(clear(ta), ...agents.map((a) => {
    const n = a.online ?? online.get(a.id) ?? a.consoles ?? 0;
    return h('tr', null,
      h('th', { scope: 'row', text: a.name }),
      h('td', { text: a.role }),
      h('td', { text: Array.isArray(a.queues) ? (a.queues.length ? a.queues.map(queueTitle).join(', ') : 'all') : '—' }),
      h('td', null, h('span', { class: `presence${n ? ' is-online' : ''}`, text: n ? `online (${n})` : 'offline' })),
      h('td', null, h('button', {
        type: 'button', class: 'btn btn-small', text: 'Cases',
        on: { click: () => { setView('cases'); setFilter('agent', { queue: '', agentName: a.name }); } },
      })));
  }));
  if (!agents.length) ta.append(h('tr', null, h('td', { colspan: '5', class: 'muted', text: 'No agent online.' })));
}

// ---- keyboard ---------------------------------------------------------------------------------

function isTyping(el) {
  if (!el || !(el instanceof Element)) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(el.type);
  return false;
}

function onKeyDown(e) {
  if (!S.started || $('#app').hidden) return;
  if ($('#help-dialog').open) return; // the dialog handles Esc itself
  const t = e.target;
  if (e.key === 'Escape') {
    if (isTyping(t) || (t instanceof Element && t.closest('.composer, .transfer'))) {
      t.blur();
      $('#case-list').focus();
      e.preventDefault();
    }
    return;
  }
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    if (t.id === 'reply-text') { e.preventDefault(); sendReply(); }
    else if (t.id === 'note-text') { e.preventDefault(); addNote(); }
    return;
  }
  if (isTyping(t) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (S.view !== 'cases' && e.key !== '?') return;
  const onControl = t instanceof Element && t.matches('button, a[href], summary');
  switch (e.key) {
    case 'j':
    case 'ArrowDown':
      if (e.key === 'ArrowDown' && t.id !== 'case-list') return;
      e.preventDefault();
      moveSelection(1);
      break;
    case 'k':
    case 'ArrowUp':
      if (e.key === 'ArrowUp' && t.id !== 'case-list') return;
      e.preventDefault();
      moveSelection(-1);
      break;
    case 'Home':
    case 'End':
      if (t.id !== 'case-list' || !S.cases.length) return;
      e.preventDefault();
      selectCase(S.cases[e.key === 'Home' ? 0 : S.cases.length - 1].id);
      break;
    case 'Enter':
      if (onControl) return; // let buttons and links do their own thing
      if (S.selectedId !== null) { e.preventDefault(); openCase(S.selectedId); }
      break;
    case 'c':
      if (S.openId) { e.preventDefault(); claim(); }
      break;
    case 'r':
      if (S.openId) { e.preventDefault(); $('#reply-text').focus(); }
      break;
    case 'n':
      if (S.openId) { e.preventDefault(); $('#note-text').focus(); }
      break;
    case 'e':
      if (S.openId) { e.preventDefault(); resolve(); }
      break;
    case '?':
      e.preventDefault();
      $('#help-dialog').showModal();
      break;
    default:
      break;
  }
}

// ---- the clock --------------------------------------------------------------------------------

function tick() {
  const t = now();
  for (const el of document.querySelectorAll('[data-due]')) {
    const st = slaState(Number(el.dataset.due), el.dataset.breached === '1', t);
    if (el.textContent !== st.text) el.textContent = st.text;
    if (!el.classList.contains(st.cls)) {
      el.classList.remove('sla-ok', 'sla-warn', 'sla-breached', 'sla-none');
      el.classList.add(st.cls);
      const row = el.closest('.case-row');
      if (row) row.classList.toggle('is-breached', st.cls === 'sla-breached');
    }
  }
  for (const el of document.querySelectorAll('[data-since]')) {
    const txt = fmtDuration(t - Number(el.dataset.since));
    if (el.textContent !== txt) el.textContent = txt;
  }
}

// ---- wiring -----------------------------------------------------------------------------------

function wire() {
  $('#login-form').addEventListener('submit', onLoginSubmit);
  $('#boot-retry').addEventListener('click', tryResume);
  $('#logout').addEventListener('click', onLogout);
  $('#conn-retry').addEventListener('click', () => live.reconnectNow());
  $('#nav-cases').addEventListener('click', () => setView('cases'));
  $('#nav-dashboard').addEventListener('click', () => setView('dashboard'));
  $('#help-open').addEventListener('click', () => $('#help-dialog').showModal());

  $('#filters').addEventListener('click', (e) => {
    const b = e.target.closest('[data-filter]');
    if (b) setFilter(b.dataset.filter);
  });
  $('#agent-filter-clear').addEventListener('click', () => setFilter('open'));
  $('#queue-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-queue]');
    if (b) setFilter(S.filter, { queue: b.dataset.queue, agentName: S.agentName });
  });
  $('#list-refresh').addEventListener('click', () => { loadList({ resync: true }); loadQueues(); });
  $('#load-more').addEventListener('click', () => loadList({ append: true }));
  $('#case-list').addEventListener('click', (e) => {
    const row = e.target.closest('[data-case-id]');
    if (!row) return;
    openCase(Number(row.dataset.caseId));
    $('#case-list').focus({ preventScroll: true });
  });
  $('#case-list').addEventListener('focus', () => {
    // keyboard focus with nothing selected: select the first row (a mouse click selects its own)
    const list = $('#case-list');
    if (S.selectedId === null && S.cases.length && list.matches(':focus-visible')) selectCase(S.cases[0].id, { scroll: false });
  });

  $('#claim').addEventListener('click', claim);
  $('#unclaim').addEventListener('click', unclaim);
  $('#resolve').addEventListener('click', resolve);
  $('#reopen').addEventListener('click', reopen);
  $('#transfer-form').addEventListener('submit', transfer);
  $('#transfer-queue').addEventListener('change', updateButtons);
  $('#transfer-agent').addEventListener('change', updateButtons);

  $('#reply-form').addEventListener('submit', sendReply);
  $('#note-form').addEventListener('submit', addNote);
  $('#reply-text').addEventListener('input', updateComposer);
  $('#reply-private').addEventListener('change', updateComposer);
  $('#note-text').addEventListener('input', updateComposer);

  document.addEventListener('keydown', onKeyDown);
  window.addEventListener('hashchange', () => {
    const m = /^#case=(\d+)$/.exec(location.hash);
    if (m && S.started && Number(m[1]) !== S.openId) openCase(Number(m[1]));
  });
  setInterval(tick, 1000);
  setInterval(() => { if (S.started && S.view === 'dashboard') { loadQueues(); loadAgents(); } }, 20000);
}

// ---- start ------------------------------------------------------------------------------------

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
