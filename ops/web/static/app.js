// The O&M portal's page: logging on (the password, then the verification code when one is
// due), the hosts and databases the user may reach, O&M tokens for database accounts, links
// that open a local client (with the device's choice of client per protocol), and the
// web terminal (xterm.js over a WebSocket to the bastion's SSH gateway path) and the web
// database console (statements over a WebSocket to the database gateway's path). Plain DOM code:
// values from the server are set as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
let csrf = '';
let terminal = null;
let sqlConsole = null;

// Calls the portal's API; rejects with the server's words on failure.
async function call(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET') init.headers['X-CSRF-Token'] = csrf;
  const resp = await fetch(path, init);
  let data = {};
  try { data = await resp.json(); } catch (_) { /* no body */ }
  if (!resp.ok) {
    const err = new Error(data.error || `the request failed (${resp.status})`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function show(view) {
  for (const v of ['login-view', 'portal-view', 'terminal-view', 'sql-view']) $(v).hidden = v !== view;
  $('logout').hidden = view === 'login-view';
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// ---- logging on

function showLogin(step, error) {
  show('login-view');
  $('who').textContent = '';
  $('login-form').hidden = step !== 'password';
  $('code-form').hidden = step !== 'code';
  $('login-error').textContent = error || '';
  (step === 'code' ? $('code-input') : $('login-user')).focus();
}

async function after(step) {
  csrf = step.csrf || csrf;
  if (step.next === 'code') showLogin('code');
  else await showPortal();
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const password = $('login-password').value;
  $('login-password').value = '';
  try {
    await after(await call('POST', '/web/api/login', { user: $('login-user').value, password }));
  } catch (e) {
    showLogin('password', e.message);
  }
});

$('code-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const code = $('code-input').value;
  $('code-input').value = '';
  try {
    await after(await call('POST', '/web/api/login/code', { code }));
  } catch (e) {
    // After too many wrong codes the session ends: start again from the password.
    showLogin(e.status === 401 && e.message.startsWith('log in') ? 'password' : 'code', e.message);
  }
});

$('code-cancel').addEventListener('click', async () => {
  try { await call('POST', '/web/api/logout'); } catch (_) { /* ended already */ }
  showLogin('password');
});

$('logout').addEventListener('click', async () => {
  closeTerminal();
  try { await call('POST', '/web/api/logout'); } catch (_) { /* ended already */ }
  csrf = '';
  showLogin('password');
});

// ---- the portal

function selectTab(name) {
  for (const t of ['hosts', 'databases', 'keys', 'device']) {
    $(`${t}-pane`).hidden = t !== name;
    $(`tab-${t}`).setAttribute('aria-selected', String(t === name));
  }
}
$('tab-hosts').addEventListener('click', () => selectTab('hosts'));
$('tab-databases').addEventListener('click', () => selectTab('databases'));
$('tab-device').addEventListener('click', () => { selectTab('device'); showDevice(); });
$('tab-keys').addEventListener('click', async () => {
  selectTab('keys');
  await showKeys();
});

// ---- my AccessKeys

async function showKeys() {
  $('portal-error').textContent = '';
  try {
    const { keys } = await call('GET', '/web/api/keys');
    const body = $('keys').querySelector('tbody');
    body.replaceChildren();
    for (const k of keys) {
      const tr = el('tr', undefined, { 'data-key': k.id });
      const del = el('button', tx('Delete'), { 'data-delete': k.id });
      del.addEventListener('click', async () => {
        if (!window.confirm(tx('Delete AccessKey {0}? Scripts using it stop working.', k.id))) return;
        try {
          await call('POST', `/web/api/keys/${encodeURIComponent(k.id)}/delete`, {});
          $('key-new').hidden = true;
          await showKeys();
        } catch (e) {
          $('portal-error').textContent = e.message;
        }
      });
      const td = el('td');
      td.append(del);
      tr.append(el('td', k.id), el('td', k.comment), el('td', new Date(k.created_ms).toLocaleString()), td);
      body.append(tr);
    }
  } catch (e) {
    $('portal-error').textContent = e.message;
  }
}

$('key-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('portal-error').textContent = '';
  try {
    const made = await call('POST', '/web/api/keys', { comment: $('key-comment').value });
    $('key-comment').value = '';
    $('key-new-id').textContent = made.id;
    $('key-new-secret').textContent = made.secret;
    $('key-new').hidden = false;
    await showKeys();
  } catch (e) {
    $('portal-error').textContent = e.message;
  }
});

function hostRow(h) {
  const tr = el('tr', undefined, { 'data-asset': h.name });
  tr.append(el('td', h.name), el('td', h.address));
  const td = el('td');
  if (h.accounts.length === 0) td.textContent = tx('No accounts authorized');
  for (const a of h.accounts) {
    const b = el('button', tx('Terminal as {0}', a.name), { class: 'open-terminal', 'data-account': a.name });
    if (a.sftp_only) { b.disabled = true; b.title = tx('SFTP only'); }
    b.addEventListener('click', () => openTerminal(h.id, a.id, `${a.name}@${h.name}`));
    const l = el('button', tx('Open in local client ({0})', a.name), { class: 'launch', 'data-account': a.name });
    if (a.sftp_only) { l.disabled = true; l.title = tx('SFTP only'); }
    l.addEventListener('click', () => launch({ host_id: h.id, account_id: a.id }, 'ssh'));
    td.append(b, l);
  }
  tr.append(td);
  return tr;
}

function databaseRow(d) {
  const tr = el('tr', undefined, { 'data-asset': d.name });
  tr.append(el('td', d.name), el('td', d.engine), el('td', `${d.address}:${d.port}`));
  const td = el('td');
  if (d.accounts.length === 0) td.textContent = tx('No accounts authorized');
  for (const a of d.accounts) {
    const b = el('button', tx('Apply for O&M token ({0})', a.name), { class: 'apply-token', 'data-account': a.name });
    b.addEventListener('click', () => applyToken(d.id, a.id));
    td.append(b);
    const proto = { MySQL: 'mysql', PostgreSQL: 'postgresql' }[d.engine];
    if (proto) {
      const c = el('button', tx('SQL console ({0})', a.name), { class: 'open-sql', 'data-account': a.name });
      c.addEventListener('click', () => openSql(d, a));
      td.append(c);
      const l = el('button', tx('Open in local client ({0})', a.name), { class: 'launch', 'data-account': a.name });
      l.addEventListener('click', () => launch({ database_id: d.id, account_id: a.id }, proto));
      td.append(l);
    }
  }
  tr.append(td);
  return tr;
}

// The lists' pages and searches (the server pages and searches them: an engineer may be
// authorized for thousands of hosts).
const lists = { hosts: { page: 1, q: '' }, databases: { page: 1, q: '' } };

function assetsPath() {
  const q = new URLSearchParams();
  for (const [name, l] of Object.entries(lists)) {
    if (l.page > 1) q.set(`${name}_page`, l.page);
    if (l.q) q.set(`${name}_q`, l.q);
  }
  const s = q.toString();
  return s ? `/web/api/assets?${s}` : '/web/api/assets';
}

// "Page n of m" with previous/next under a list, or nothing when one page holds it all.
function drawPager(name, list) {
  const box = $(`${name}-pager`);
  box.replaceChildren();
  if (list.pages <= 1) return;
  const go = (page) => { lists[name].page = page; showPortal(); };
  const prev = el('button', tx('Previous'), { type: 'button' });
  prev.disabled = list.page <= 1;
  prev.addEventListener('click', () => go(list.page - 1));
  const next = el('button', tx('Next'), { type: 'button' });
  next.disabled = list.page >= list.pages;
  next.addEventListener('click', () => go(list.page + 1));
  box.append(prev, next, el('span', tx('page {0} of {1} ({2} in all)', list.page, list.pages, list.total)));
}

for (const name of Object.keys(lists)) {
  $(`${name}-search`).addEventListener('submit', (ev) => {
    ev.preventDefault();
    lists[name] = { page: 1, q: $(`${name}-q`).value.trim() };
    showPortal();
  });
}

// A list's rows, or a line saying why there are none.
function drawRows(name, list, row) {
  const rows = list.rows.map(row);
  if (!rows.length) {
    const words = lists[name].q ? tx('Nothing matches the search.') : tx('Nothing authorized yet.');
    rows.push(el('tr', undefined, {}));
    rows[0].append(el('td', words, { colspan: String($(name).tHead.rows[0].cells.length), class: 'empty' }));
  }
  $(name).tBodies[0].replaceChildren(...rows);
  lists[name].page = list.page;
  drawPager(name, list);
}

async function showPortal() {
  let assets;
  try {
    assets = await call('GET', assetsPath());
  } catch (e) {
    if (e.status === 401) return showLogin('password');
    show('portal-view');
    $('portal-error').textContent = e.message;
    return;
  }
  setLanguage(assets.language);
  $('who').textContent = assets.user;
  $('to-console').hidden = !assets.console;
  drawRows('hosts', assets.hosts, hostRow);
  drawRows('databases', assets.databases, databaseRow);
  $('portal-error').textContent = '';
  show('portal-view');
  selectTab(['databases', 'keys', 'device'].find((t) => !$(`${t}-pane`).hidden) || 'hosts');
  // The assets are drawn: the time the benchmark reads (bench/web/pages.py).
  performance.mark('portunus:drawn:portal');
}

// ---- local clients (the launcher registered for portunus:// links starts them)

// The client chosen for each protocol on this device.
const CLIENT_DEFAULTS = { ssh: 'ssh', mysql: 'mysql', postgresql: 'psql' };
function chosenClients() {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem('portunus.clients') || '{}'); } catch (_) { /* reset */ }
  return Object.assign({}, CLIENT_DEFAULTS, saved);
}

function showDevice() {
  const chosen = chosenClients();
  for (const p of Object.keys(CLIENT_DEFAULTS)) $(`client-${p}`).value = chosen[p];
  $('device-saved').textContent = '';
}

$('device-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const chosen = {};
  for (const p of Object.keys(CLIENT_DEFAULTS)) chosen[p] = $(`client-${p}`).value;
  localStorage.setItem('portunus.clients', JSON.stringify(chosen));
  $('device-saved').textContent = tx('Saved for this browser.');
});

async function launch(what, protocol) {
  $('portal-error').textContent = '';
  let r;
  try {
    r = await call('POST', '/web/api/launch', Object.assign({ client: chosenClients()[protocol] }, what));
  } catch (e) {
    if (e.status === 401) return showLogin('password', e.message);
    $('portal-error').textContent = e.message;
    return;
  }
  $('launch-status').textContent = tx('Opening {0}. If nothing opens, install the Portunus launcher (portunus sso --register).', r.title);
  window.portunusOpen(r.url);
}

// Hands a link to the browser, which passes it to the launcher registered for its scheme (a
// browser test replaces this to read the link: a headless browser has no launcher).
window.portunusOpen = (url) => { window.location.href = url; };

// ---- O&M tokens

async function applyToken(databaseId, accountId) {
  let t;
  try {
    t = await call('POST', '/web/api/tokens', { database_id: databaseId, account_id: accountId });
  } catch (e) {
    if (e.status === 401) return showLogin('password', e.message);
    $('portal-error').textContent = e.message;
    return;
  }
  $('tok-address').textContent = t.address;
  $('tok-port').textContent = String(t.port);
  $('tok-user').textContent = t.user;
  $('tok-token').textContent = t.token;
  $('tok-expire').textContent = new Date(t.expire_at_ms).toISOString();
  $('tok-uses').textContent = t.has_count_limit ? String(t.count_left) : tx('unlimited');
  // Renew when the cluster lets engineers renew their own tokens (the server says why not
  // otherwise: the limit reached, O&M approval on the asset).
  $('tok-renew-part').hidden = !t.self_renew;
  $('tok-renew').disabled = t.renews_left === 0;
  $('tok-renew').dataset.token = String(t.token_id);
  $('tok-renew-status').textContent = tx('{0} renewal(s) left', t.renews_left);
  $('tok-ssh').textContent = t.ssh_command;
  $('tok-client-part').hidden = !t.client_command;
  $('tok-client').textContent = t.client_command || '';
  $('token-dialog').showModal();
}

$('tok-renew').addEventListener('click', async () => {
  try {
    const r = await call('POST', `/web/api/tokens/${$('tok-renew').dataset.token}/renew`, {});
    $('tok-expire').textContent = new Date(r.expire_at_ms).toISOString();
    $('tok-renew').disabled = r.renews_left === 0;
    $('tok-renew-status').textContent = tx('Renewed: {0} renewal(s) left', r.renews_left);
  } catch (e) {
    if (e.status === 401) { $('token-dialog').close(); showLogin('password', e.message); return; }
    $('tok-renew-status').textContent = e.message;
  }
});

$('tok-close').addEventListener('click', () => {
  $('tok-token').textContent = '';
  $('token-dialog').close();
});

for (const b of document.querySelectorAll('button.copy')) {
  b.addEventListener('click', () => navigator.clipboard.writeText($(b.dataset.copy).textContent));
}

// ---- the web terminal

function terminalStatus(words) {
  $('terminal-status').textContent = words;
}

function openTerminal(hostId, accountId, title) {
  closeTerminal();
  show('terminal-view');
  $('terminal-title').textContent = title;
  terminalStatus(tx('connecting…'));
  const term = new Terminal({ cursorBlink: true, scrollback: 5000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open($('terminal'));
  fit.fit();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ host: hostId, account: accountId, cols: term.cols, rows: term.rows, csrf });
  const ws = new WebSocket(`${scheme}//${location.host}/web/api/terminal?${q}`);
  ws.binaryType = 'arraybuffer';
  const state = { term, ws, ended: false, onWindow: () => fit.fit() };
  const encoder = new TextEncoder();
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') return term.write(new Uint8Array(ev.data));
    const m = JSON.parse(ev.data);
    if (m.opened) terminalStatus(tx('connected (session {0})', m.opened));
    if (m.ended) {
      state.ended = true;
      terminalStatus(tx('ended: {0}', m.ended));
      term.write(`\r\n\x1b[1m${m.ended}\x1b[0m\r\n`);
    }
  };
  ws.onclose = () => {
    if (state.ended) return;
    state.ended = true;
    const words = tx('The connection to the bastion node was lost (the node may have gone away); ' +
      'this session has ended. Open the terminal again to reconnect: another node may serve you.');
    terminalStatus(tx('disconnected: the bastion node went away'));
    term.write(`\r\n\x1b[1m${words}\x1b[0m\r\n`);
  };
  term.onData((d) => { if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(d)); });
  term.onResize(({ cols, rows }) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: [cols, rows] }));
  });
  window.addEventListener('resize', state.onWindow);
  term.focus();
  terminal = state;
  window.portunusTerminal = term; // for tests and debugging: the terminal's buffer
}

function closeTerminal() {
  if (!terminal) return;
  terminal.ended = true;
  terminal.ws.close();
  window.removeEventListener('resize', terminal.onWindow);
  terminal.term.dispose();
  terminal = null;
}

$('terminal-close').addEventListener('click', async () => {
  closeTerminal();
  await showPortal();
});

// ---- the web database console

const SQL_PAGE = 100; // rows per page of a result grid

function sqlStatus(words) {
  $('sql-status').textContent = words;
}

function openSql(d, a) {
  closeSql();
  show('sql-view');
  $('sql-title').textContent = `${a.name}@${d.name} (${d.engine})`;
  sqlStatus(tx(a.hosted ? 'the account\'s password is hosted by the bastion' : 'type the account\'s password'));
  $('sql-password-label').hidden = !!a.hosted;
  $('sql-password').value = '';
  $('sql-schema').value = '';
  $('sql-open-form').hidden = false;
  $('sql-form').hidden = true;
  $('sql-error').textContent = '';
  $('sql-notices').replaceChildren();
  $('sql-results').replaceChildren();
  sqlConsole = { database: d, account: a, ws: null, ended: false, busy: false };
  (a.hosted ? $('sql-schema') : $('sql-password')).focus();
}

$('sql-open-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const c = sqlConsole;
  if (!c || c.ws) return;
  sqlStatus(tx('connecting…'));
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ database: c.database.id, account: c.account.id, csrf });
  const ws = new WebSocket(`${scheme}//${location.host}/web/api/sql?${q}`);
  c.ws = ws;
  ws.onopen = () => {
    const open = { database: $('sql-schema').value || null };
    if (!c.account.hosted) open.password = $('sql-password').value;
    $('sql-password').value = '';
    ws.send(JSON.stringify({ open }));
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.opened) {
      sqlStatus(tx('connected (session {0})', m.opened.session));
      $('sql-open-form').hidden = true;
      $('sql-form').hidden = false;
      $('sql-text').focus();
    }
    if (m.answer) showAnswer(m.answer);
    if (m.ended) {
      c.ended = true;
      sqlStatus(tx('ended: {0}', m.ended));
      $('sql-error').textContent = m.ended;
      $('sql-form').hidden = true;
      if (!$('sql-open-form').hidden) {
        // Refused before it opened (a wrong password): the form may try again.
        c.ws = null;
        c.ended = false;
      }
    }
  };
  ws.onclose = () => {
    if (c.ended || c.ws !== ws) return;
    c.ended = true;
    sqlStatus(tx('disconnected: the bastion node went away'));
    $('sql-error').textContent = tx('The connection to the bastion node was lost; this session has ended. ' +
      'Open the console again to reconnect: another node may serve you.');
    $('sql-form').hidden = true;
  };
});

$('sql-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  runSql();
});

$('sql-text').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    runSql();
  }
});

function runSql() {
  const c = sqlConsole;
  const sql = $('sql-text').value;
  if (!c || !c.ws || c.ended || c.busy || !sql.trim()) return;
  c.busy = true;
  $('sql-run').disabled = true;
  sqlStatus(tx('running…'));
  c.started = performance.now();
  c.ws.send(JSON.stringify({ sql }));
}

function showAnswer(answer) {
  const c = sqlConsole;
  c.busy = false;
  $('sql-run').disabled = false;
  const ms = Math.round(performance.now() - c.started);
  sqlStatus(tx('done in {0} ms', ms));
  const e = answer.error;
  // MySQL: [SQLSTATE] error number; PostgreSQL: the SQLSTATE is the code.
  const code = e && (e.sqlstate && e.sqlstate !== e.code ? `[${e.sqlstate}] ${e.code}` : e.code);
  $('sql-error').textContent = e ? `${code}: ${e.message}` : '';
  $('sql-notices').replaceChildren(...answer.notices.map((n) => el('li', n)));
  $('sql-results').replaceChildren(...answer.results.map(resultGrid));
}

// One result: its rows a page at a time, or what a statement without rows said.
function resultGrid(r) {
  const box = el('div', undefined, { class: 'sql-result' });
  if (r.columns.length === 0) {
    const words = r.tag || (r.affected !== null ? tx('{0} row(s) affected', r.affected) : 'OK');
    box.append(el('p', r.affected !== null && r.tag ? `${r.tag} (${tx('{0} row(s) affected', r.affected)})` : words, { class: 'sql-tag' }));
    return box;
  }
  const count = r.total_rows > r.rows.length
    ? tx('{0} row(s) ({1} are shown)', r.total_rows, r.rows.length) : tx('{0} row(s)', r.total_rows);
  const summary = el('p', count, { class: 'sql-count' });
  const table = el('table', undefined, { class: 'sql-grid' });
  const head = el('tr');
  head.append(...r.columns.map((name) => el('th', name)));
  table.append(el('thead'), el('tbody'));
  table.tHead.append(head);
  const pager = el('div', undefined, { class: 'pager' });
  const pages = Math.max(1, Math.ceil(r.rows.length / SQL_PAGE));
  let page = 0;
  const prev = el('button', tx('Previous'), { type: 'button', class: 'prev' });
  const next = el('button', tx('Next'), { type: 'button', class: 'next' });
  const where = el('span');
  const draw = () => {
    const rows = r.rows.slice(page * SQL_PAGE, (page + 1) * SQL_PAGE).map((row) => {
      const tr = el('tr');
      tr.append(...row.map((v) => (v === null ? el('td', 'NULL', { class: 'null' }) : el('td', v))));
      return tr;
    });
    table.tBodies[0].replaceChildren(...rows);
    where.textContent = tx('page {0} of {1}', page + 1, pages);
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  };
  prev.addEventListener('click', () => { page -= 1; draw(); });
  next.addEventListener('click', () => { page += 1; draw(); });
  pager.append(prev, next, where);
  draw();
  box.append(summary, table);
  if (pages > 1) box.append(pager);
  return box;
}

function closeSql() {
  if (!sqlConsole) return;
  sqlConsole.ended = true;
  if (sqlConsole.ws) sqlConsole.ws.close();
  sqlConsole = null;
}

$('sql-close').addEventListener('click', async () => {
  closeSql();
  await showPortal();
});

// ---- start: the session cookie (if any) says where we are

(async () => {
  try {
    const me = await call('GET', '/web/api/me');
    await after(me);
  } catch (e) {
    showLogin('password', e.status === 401 ? '' : e.message);
  }
})();
