// The administrator console's page: logging on, the API bridge (every read and change is an API
// action run by the server as this user, with the role of their AccessKeys), small DOM helpers,
// and the O&M audit view (sessions searched and paged by the server, replay with
// asciinema-player and the session's command list, export as CSV or JSON lines).
// console-live.js watches and terminates running sessions; console-assets.js,
// console-access.js and console-overview.js add the other views; the last
// starts the page. Values from the server are set
// as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const C = { csrf: '', role: '', user: '' };
const VIEWS = {};
const PAGE_SIZE = 20;
// The forms that only search or choose (shown to Auditors too).
const READ_FORMS = new Set(['session-search', 'host-search', 'user-search', 'authz-pick']);

// ---- talking to the server

async function request(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET') init.headers['X-CSRF-Token'] = C.csrf;
  const resp = await fetch(path, init);
  let data = {};
  try { data = await resp.json(); } catch (_) { /* no body */ }
  if (!resp.ok) {
    const err = new Error(data.error || tx('the request failed ({0})', resp.status));
    err.status = resp.status;
    err.code = data.code;
    throw err;
  }
  return data;
}

// Runs an API action as the logged-on user; rejects with the API's words.
function api(action, params) {
  return request('POST', '/web/api/console/call', Object.assign({ Action: action }, params || {}));
}

// Lists are redrawn by several callers (the view opening, a search, a pager, an edit), and
// their answers can arrive out of order: an unfiltered list that answers after the search that
// followed it must not draw over the search's rows. `latest(place)` numbers a call for that
// place; the returned function says whether it is still the latest one started there.
const latestCall = {};
function latest(place) {
  const n = (latestCall[place] || 0) + 1;
  latestCall[place] = n;
  return () => latestCall[place] === n;
}

// Like `api`, for a list drawn into `place`: resolves to null when a later call for the same
// place started meanwhile (its answer is the one to draw).
async function apiLatest(place, action, params) {
  const current = latest(place);
  const r = await api(action, params);
  return current() ? r : null;
}

// ---- DOM helpers

// el('tag', {attr: v, onclick: f}, child...) — children are nodes or text.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function say(text) { $('status').textContent = text || ''; $('error').textContent = ''; }
function fail(e) { $('status').textContent = ''; $('error').textContent = e.message || String(e); }

// Runs an action from a button or form; shows its error in the page.
async function guarded(f) {
  try { return await f(); } catch (e) { fail(e); return undefined; }
}

function time(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A table: cols = [[title, row => text or node]], rows = objects.
function table(id, cols, rows, empty) {
  const head = el('tr', {}, cols.map(([t]) => el('th', { text: tx(t) })));
  const body = rows.length
    ? rows.map((r) => el('tr', {}, cols.map(([, f]) => el('td', {}, f(r)))))
    : [el('tr', {}, el('td', { colspan: cols.length, class: 'empty', text: tx(empty || 'Nothing found.') }))];
  return el('table', { id }, el('thead', {}, head), el('tbody', {}, body));
}

// "Page n of m" with previous/next buttons calling go(page).
function pager(id, page, total, go) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  return el('div', { class: 'pager', id },
    el('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1), text: tx('Previous') }),
    el('span', { text: tx('Page {0} of {1} ({2} in all)', page, pages, total) }),
    el('button', { type: 'button', disabled: page >= pages, onclick: () => go(page + 1), text: tx('Next') }));
}

// A form of labelled fields: [{id, label, type, options, required, value, placeholder}]. The
// words are translated; options are [value, words], or [value, name, 'data'] for names from
// the server (kept as they are).
function form(id, title, fields, submit, onsubmit) {
  const inputs = fields.map((f) => {
    let input;
    if (f.type === 'select') {
      input = el('select', { id: f.id }, f.options.map(([v, t, data]) => el('option', { value: v, text: data ? t : tx(t), class: data ? 'data' : undefined })));
    } else if (f.type === 'textarea') {
      input = el('textarea', { id: f.id, rows: 4, placeholder: f.placeholder });
    } else {
      input = el('input', { id: f.id, type: f.type || 'text', required: f.required, placeholder: f.placeholder });
    }
    if (f.value !== undefined) input.value = f.value;
    return el('label', { class: f.hidden ? 'hidden-field' : undefined }, tx(f.label), input);
  });
  const f = el('form', { id, class: 'inline-form' }, title ? el('h3', { text: tx(title) }) : null, inputs,
    el('button', { type: 'submit', id: `${id}-submit`, text: tx(submit) }));
  // An Auditor reads everything and changes nothing (the server refuses it too): no forms
  // that would change something.
  if (C.role === 'Auditor' && !READ_FORMS.has(id)) f.hidden = true;
  f.addEventListener('submit', (ev) => { ev.preventDefault(); guarded(() => onsubmit(f)); });
  return f;
}

const confirmDo = (words, f) => (window.confirm(words) ? f() : undefined);
const ids = (...xs) => JSON.stringify(xs.map(String));

const val = (id) => ($(id) ? $(id).value.trim() : '');
// Milliseconds of a datetime-local input, or '' when empty.
const msOf = (id) => (val(id) ? String(new Date(val(id)).getTime()) : '');

// ---- logging on

function showLogin(step, error) {
  $('login-view').hidden = false;
  $('console-view').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login-form').hidden = step !== 'password';
  $('code-form').hidden = step !== 'code';
  $('login-error').textContent = error || '';
}

async function enter() {
  let me;
  try {
    me = await request('GET', '/web/api/console/me');
  } catch (e) {
    if (e.status === 403) { location.reload(); return; } // the server's 403 page
    showLogin('password', e.status === 401 ? '' : e.message);
    return;
  }
  Object.assign(C, { csrf: me.csrf, role: me.role, user: me.user });
  setLanguage(me.language);
  $('who').textContent = `${me.user} (${me.role})`;
  document.body.classList.toggle('auditor', me.role === 'Auditor');
  $('login-view').hidden = true;
  $('console-view').hidden = false;
  $('logout').hidden = false;
  await route();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const password = $('login-password').value;
  $('login-password').value = '';
  try {
    const step = await request('POST', '/web/api/login', { user: val('login-user'), password });
    C.csrf = step.csrf;
    if (step.next === 'code') showLogin('code'); else await enter();
  } catch (e) { showLogin('password', e.message); }
});

$('code-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const code = $('code-input').value;
  $('code-input').value = '';
  try {
    await request('POST', '/web/api/login/code', { code });
    await enter();
  } catch (e) { showLogin(e.status === 401 && e.message.startsWith('log in') ? 'password' : 'code', e.message); }
});

$('logout').addEventListener('click', async () => {
  await guarded(() => request('POST', '/web/api/logout'));
  showLogin('password');
});

// ---- views by the page's #fragment

async function route() {
  const name = (location.hash || '#audit').slice(1).split('/')[0];
  const view = VIEWS[name] ? name : 'audit';
  for (const a of document.querySelectorAll('#side a')) a.classList.toggle('on', a.id === `nav-${view}`);
  say('');
  const root = $('view');
  root.replaceChildren();
  root.dataset.view = view;
  await guarded(() => VIEWS[view](root));
  // The view is drawn with the server's data: the time the benchmark reads (bench/web/pages.py).
  performance.mark(`portunus:drawn:${view}`);
}

window.addEventListener('hashchange', () => { if (!$('console-view').hidden) route(); });

// ---- O&M audit

const FILTERS = [
  ['UserName', 'f-user', 'User'], ['AssetName', 'f-asset', 'Asset'], ['AccountName', 'f-account', 'Account'],
  ['Protocol', 'f-protocol', 'Protocol'], ['ClientAddress', 'f-client', 'Source address'],
  ['NodeId', 'f-node', 'Node'],
];

// The ListSessions filters the form holds.
function sessionFilters() {
  const p = {};
  for (const [name, id] of FILTERS) if (val(id)) p[name] = val(id);
  if (val('f-state')) p.State = val('f-state');
  if (msOf('f-from')) p.StartTime = msOf('f-from');
  if (msOf('f-to')) p.EndTime = msOf('f-to');
  return p;
}

VIEWS.audit = async (root) => {
  const fields = FILTERS.map(([, id, label]) => ({ id, label }));
  fields.push({ id: 'f-state', label: 'State', type: 'select', options: [['', 'Any'], ['Open', 'Open'], ['Closed', 'Closed']] });
  fields.push({ id: 'f-from', label: 'Started from', type: 'datetime-local' });
  fields.push({ id: 'f-to', label: 'Started until', type: 'datetime-local' });
  const search = form('session-search', 'O&M sessions', fields, 'Search', () => listSessions(1));
  const exports = el('p', { class: 'exports' }, tx('Export the sessions found: '),
    el('a', { id: 'export-csv', href: '#', text: tx('CSV') }), ' · ',
    el('a', { id: 'export-jsonl', href: '#', text: tx('JSON lines') }));
  root.append(search, exports, el('div', { id: 'sessions' }), el('section', { id: 'replay', hidden: true }));
  await listSessions(1);
};

function exportLinks() {
  for (const [id, format] of [['export-csv', 'csv'], ['export-jsonl', 'jsonl']]) {
    const q = new URLSearchParams(Object.assign({ format }, sessionFilters()));
    $(id).href = `/web/api/console/sessions/export?${q}`;
    $(id).setAttribute('download', `portunus-sessions.${format}`);
  }
}

async function listSessions(page) {
  const r = await apiLatest('sessions', 'ListSessions', Object.assign(sessionFilters(), { PageNumber: page, PageSize: PAGE_SIZE }));
  if (!r) return;
  exportLinks();
  const cols = [
    ['Id', (s) => s.SessionId], ['User', (s) => s.UserName], ['Asset', (s) => s.AssetName],
    ['Account', (s) => s.AccountName], ['Protocol', (s) => s.Protocol], ['Node', (s) => s.NodeId],
    ['Source', (s) => s.ClientAddress], ['Started', (s) => time(s.StartTime)], ['Ended', (s) => time(s.EndTime)],
    ['State', (s) => (s.State === 'Open' ? tx('Open') : (s.EndReason ? tx('Closed ({0})', s.EndReason) : tx('Closed')))],
    ['', (s) => [
      el('button', { type: 'button', class: 'act-replay read', 'data-session': s.SessionId,
        text: tx(s.Protocol === 'SSH' ? 'Play' : 'Events'), onclick: () => guarded(() => replay(s)) }),
      // Running sessions: watch (shells and commands) and terminate (console-live.js).
      s.State === 'Open' && s.Protocol === 'SSH' ? el('button', { type: 'button', class: 'act-watch read',
        'data-session': s.SessionId, text: tx('Watch'), onclick: () => watch(s) }) : null,
      s.State === 'Open' ? el('button', { type: 'button', class: 'act-terminate', 'data-session': s.SessionId,
        text: tx('Terminate'), onclick: () => terminate(s) }) : null,
    ]],
  ];
  $('sessions').replaceChildren(table('sessions-table', cols, r.Sessions, 'No session matches.'),
    pager('sessions-pager', page, r.TotalCount, (p) => guarded(() => listSessions(p))));
}

// Every event of a session (the API pages them).
async function allEvents(id) {
  const out = [];
  let note = '';
  for (let page = 1; ; page += 1) {
    const r = await api('ListSessionEvents', { SessionId: id, PageNumber: page, PageSize: 100 });
    out.push(...r.Events);
    note = r.Note || note;
    if (r.Events.length < 100 || out.length >= r.TotalCount) break;
  }
  return { events: out, note };
}

function describe(e) {
  switch (e.type) {
    case 'command': return e.line;
    case 'refused': return tx('refused {0}: {1} — {2}', e.action, e.target, e.reason);
    case 'file': return `${e.op} ${e.path}${e.target_path ? ` → ${e.target_path}` : ''}`;
    case 'tunnel': return tx('tunnel to {0}:{1}', e.host, e.port);
    case 'statement': return e.text;
    default: return JSON.stringify(e);
  }
}

async function replay(s) {
  stopWatching();
  const box = $('replay');
  box.hidden = false;
  const player = el('div', { id: 'player' });
  const state = el('p', { id: 'replay-status' });
  const list = el('ol', { id: 'commands' });
  box.replaceChildren(
    el('h3', { id: 'replay-title', text: tx('Session {0}: {1} on {2} as {3} ({4})', s.SessionId, s.UserName, s.AssetName, s.AccountName, s.Protocol) }),
    state, player, el('h4', { text: tx('Commands and events') }), list);
  let handle = null;
  if (s.Protocol === 'SSH') {
    const resp = await fetch(`/web/api/console/sessions/${s.SessionId}/recording`, { credentials: 'same-origin' });
    if (resp.ok) {
      const cast = await resp.text();
      const complete = resp.headers.get('X-Recording-Complete') === 'true';
      state.textContent = tx(complete ? 'Recording complete.' : 'Recording incomplete: the session is open, or its node stopped before it ended.');
      const opts = { fit: 'width', idleTimeLimit: 2, preload: true };
      // Recordings of clients without a terminal of their own once said 1x1: play them at 80x24.
      try {
        const header = JSON.parse(cast.slice(0, cast.indexOf('\n')));
        if (header.width < 2 || header.height < 2) Object.assign(opts, { cols: 80, rows: 24 });
      } catch (_) { /* the player reports a bad recording */ }
      handle = AsciinemaPlayer.create({ data: cast }, player, opts);
      window.portunusPlayer = handle; // for the browser tests
    } else {
      let words = `no recording (${resp.status})`;
      try { words = (await resp.json()).error || words; } catch (_) { /* keep */ }
      state.textContent = words;
    }
  } else {
    state.textContent = tx('{0} sessions have no screen recording; their events are below.', s.Protocol);
  }
  const { events, note } = await allEvents(s.SessionId);
  if (!events.length) list.append(el('li', { class: 'empty', text: note || tx('No events.') }));
  for (const e of events) {
    const at = typeof e.at === 'number' ? e.at : null;
    const stamp = at === null ? '' : `${at.toFixed(1)} s`;
    const item = el('li', { class: `event event-${e.type}` },
      el('span', { class: 'at', text: stamp }), ' ', el('code', { text: describe(e) }));
    if (handle && at !== null) {
      item.classList.add('seekable');
      item.title = tx('Play from here');
      item.addEventListener('click', () => { handle.seek(at); handle.play(); });
    }
    list.append(item);
  }
  box.scrollIntoView();
}
