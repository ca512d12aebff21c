'use strict';
// Plain text → Mastodon status HTML, and Mastodon's character counting.
//
// Mirrors what a Mastodon server does to locally posted plain text (TextFormatter +
// simple_format): HTML-escape, link URLs / @mentions / #hashtags, `\n\n` → new <p>,
// `\n` → <br />. Mention markup follows platforms.md §1.3:
//   <span class="h-card"><a href="https://host/@user" class="u-url mention">@<span>user</span></a></span>
// Counting follows StatusLengthValidator: grapheme clusters of spoiler_text + text, where
// every URL counts as 23 characters and `@user@domain` counts as `@user`.

const URL_PLACEHOLDER = 'x'.repeat(23);

// One pass over the text finds URLs, mentions and hashtags (the order of alternatives
// matters: a URL may contain "@" or "#").
const ENTITY_RE = new RegExp(
  [
    '(https?:\\/\\/[^\\s<>"]+)',
    '(?<![=\\/\\p{L}\\p{N}_])@([a-z0-9_]+(?:[a-z0-9_.-]*[a-z0-9_])?)(?:@([\\p{L}\\p{N}_-]+(?:\\.[\\p{L}\\p{N}_-]+)+))?',
    '(?<![=\\/)\\p{L}\\p{N}_&])#([\\p{L}\\p{N}_]*[\\p{L}_][\\p{L}\\p{N}_]*)',
  ].join('|'),
  'giu',
);
const MENTION_RE = /(?<![=\/\p{L}\p{N}_])@([a-z0-9_]+(?:[a-z0-9_.-]*[a-z0-9_])?)@[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)+/giu;
const URL_RE = /https?:\/\/[^\s<>"]+/giu;

function escapeHtml(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Strip trailing punctuation that is almost never part of a URL. */
function trimUrl(url) {
  let u = url;
  for (;;) {
    const last = u[u.length - 1];
    if ('.,;:!?\'"'.includes(last)) { u = u.slice(0, -1); continue; }
    if (last === ')' && (u.match(/\(/g) || []).length < (u.match(/\)/g) || []).length) { u = u.slice(0, -1); continue; }
    break;
  }
  return u;
}

function linkUrl(url) {
  const m = /^(https?:\/\/(?:www\.)?)(.*)$/i.exec(url);
  const prefix = m ? m[1] : '';
  const rest = m ? m[2] : url;
  const display = rest.length > 30 ? rest.slice(0, 30) : rest;
  const hidden = rest.length > 30 ? rest.slice(30) : '';
  const cls = rest.length > 30 ? 'ellipsis' : '';
  return `<a href="${escapeHtml(url)}" target="_blank" rel="nofollow noopener" translate="no">` +
    `<span class="invisible">${escapeHtml(prefix)}</span><span class="${cls}">${escapeHtml(display)}</span>` +
    `<span class="invisible">${escapeHtml(hidden)}</span></a>`;
}

function mentionHtml(account) {
  return `<span class="h-card"><a href="${escapeHtml(account.url)}" class="u-url mention">@<span>${escapeHtml(account.username)}</span></a></span>`;
}

/**
 * Format plain text.
 * opts.host: the instance host (for hashtag links).
 * opts.resolve(username, domain|null) → Account-like {id, username, acct, url} or null.
 * Returns {html, mentions: [account], tags: [{name, url}]}; mentions and tags are de-duplicated
 * in order of first appearance. An unresolvable @acct stays plain text (as on a real server
 * when webfinger fails).
 */
function formatText(text, opts) {
  const mentions = [];
  const tags = [];
  let out = '';
  let last = 0;
  ENTITY_RE.lastIndex = 0;
  for (let m; (m = ENTITY_RE.exec(text)) !== null;) {
    let matched = m[0];
    let html = null;
    if (m[1] !== undefined) {
      matched = trimUrl(m[1]);
      html = linkUrl(matched);
    } else if (m[2] !== undefined) {
      const account = opts.resolve(m[2], m[3] || null);
      if (account) {
        html = mentionHtml(account);
        if (!mentions.some((a) => a.id === account.id)) mentions.push(account);
      }
    } else if (m[4] !== undefined) {
      const name = m[4];
      html = `<a href="https://${opts.host}/tags/${encodeURIComponent(name.toLowerCase())}" class="mention hashtag" rel="tag">#<span>${escapeHtml(name)}</span></a>`;
      if (!tags.some((t) => t.name === name.toLowerCase())) {
        tags.push({ name: name.toLowerCase(), url: `https://${opts.host}/tags/${encodeURIComponent(name.toLowerCase())}` });
      }
    }
    if (html === null) continue;
    out += escapeHtml(text.slice(last, m.index)) + html;
    last = m.index + matched.length;
    ENTITY_RE.lastIndex = last;
  }
  out += escapeHtml(text.slice(last));
  return { html: simpleFormat(out), mentions, tags };
}

/** Rails' simple_format as Mastodon uses it (then deletes the remaining newlines). */
function simpleFormat(escaped) {
  const paragraphs = escaped.replace(/\r\n?/g, '\n').split(/\n\s*\n/);
  return paragraphs
    .map((p) => `<p>${p.replace(/\n/g, '<br />')}</p>`)
    .join('');
}

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

function graphemeLength(s) {
  let n = 0;
  for (const _ of segmenter.segment(s)) n += 1; // eslint-disable-line no-unused-vars
  return n;
}

function codePointLength(s) {
  return [...s].length;
}

/** StatusLengthValidator#countable_length. mode "codepoints" counts raw code points instead. */
function countableLength(text, spoilerText, mode) {
  if (mode === 'codepoints') return codePointLength(`${spoilerText || ''}${text || ''}`);
  const countable = String(text || '')
    .replace(URL_RE, URL_PLACEHOLDER)
    .replace(MENTION_RE, '@$1');
  return graphemeLength(`${spoilerText || ''}${countable}`);
}

/** Ruby's String#blank?: empty or only whitespace. */
function isBlank(s) {
  return s === undefined || s === null || /^[\s\u200b]*$/u.test(String(s));
}

module.exports = { formatText, escapeHtml, countableLength, graphemeLength, isBlank, mentionHtml };
