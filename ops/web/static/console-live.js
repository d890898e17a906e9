// The O&M audit view's live view and termination of running sessions. Watching asks the node
// for the session's output after the last line drawn, about twice a second (the node asks the
// member that serves the session, so any node shows any session), and draws it with xterm.js:
// what the engineer's terminal shows, never the keys typed. Terminate is the API's
// TerminateSession (Admins; the server refuses Auditors too).
'use strict';

const LIVE_EVERY_MS = 500;
let watching = null;

function stopWatching() {
  if (!watching) return;
  watching.stopped = true;
  clearTimeout(watching.timer);
  watching.term.dispose();
  watching = null;
}

// "COLSxROWS" as [cols, rows], or null.
function sizeOf(text) {
  const m = /^(\d+)x(\d+)$/.exec(text || '');
  return m ? [Math.max(2, Number(m[1])), Math.max(2, Number(m[2]))] : null;
}

// The terminal's size when the viewer starts: the newest resize, else the recording's header.
function startSize(r) {
  const z = sizeOf(r.size);
  if (z) return z;
  try {
    const h = JSON.parse(r.header);
    return [Math.max(2, h.width || 80), Math.max(2, h.height || 24)];
  } catch (_) {
    return [80, 24];
  }
}

async function terminate(s) {
  if (!window.confirm(tx('Terminate session {0} of {1} on {2}? Its connection is closed at once.', s.SessionId, s.UserName, s.AssetName))) return;
  await guarded(async () => {
    await api('TerminateSession', { SessionId: s.SessionId });
    say(tx('Session {0}: termination requested; node {1} ends it within a second.', s.SessionId, s.NodeId));
    if (watching && watching.id === s.SessionId) $('live-status').textContent = tx('Termination requested…');
  });
}

function watch(s) {
  stopWatching();
  const box = $('replay');
  box.hidden = false;
  const state = el('p', { id: 'live-status', role: 'status', text: tx('Connecting…') });
  const screen = el('div', { id: 'live-terminal' });
  const stop = el('button', { type: 'button', id: 'live-stop', class: 'read', text: tx('Stop watching'),
    onclick: () => { stopWatching(); state.textContent = tx('Stopped watching.'); } });
  const end = el('button', { type: 'button', id: 'live-terminate', text: tx('Terminate session'), onclick: () => terminate(s) });
  end.hidden = C.role !== 'Admin';
  box.replaceChildren(
    el('h3', { id: 'live-title', text: tx('Live: session {0}: {1} on {2} as {3} (node {4})', s.SessionId, s.UserName, s.AssetName, s.AccountName, s.NodeId) }),
    state, el('p', { class: 'live-controls' }, stop, ' ', end), screen);
  const term = new Terminal({ disableStdin: true, scrollback: 2000, cursorBlink: false });
  term.open(screen);
  const w = { id: s.SessionId, term, timer: null, stopped: false, next: 0, started: false };
  watching = w;
  window.portunusLive = term; // for the browser tests: the terminal's buffer
  const again = (ms) => { if (!w.stopped) w.timer = setTimeout(tick, ms); };
  async function tick() {
    // The view was left (another page of the console): stop asking.
    if (w.stopped || !document.body.contains(screen)) { if (watching === w) stopWatching(); return; }
    let r;
    try {
      r = await request('GET', `/web/api/console/sessions/${s.SessionId}/live?from=${w.next}`);
    } catch (e) {
      state.textContent = tx('{0} (asking again)', e.message);
      again(2000);
      return;
    }
    if (w.stopped) return;
    if (!r.watchable) {
      // A session being watched whose output is gone while its record is still open is
      // ending: ask until its record says how.
      if (r.open && w.started) {
        state.textContent = tx('The session is ending…');
        again(LIVE_EVERY_MS);
        return;
      }
      const words = r.open ? r.why : (r.end_reason ? tx('The session has ended ({0}).', r.end_reason) : tx('The session has ended.'));
      state.textContent = words;
      if (w.started) term.write(`\r\n\x1b[1m[${words}]\x1b[0m\r\n`);
      return;
    }
    if (!w.started) {
      const [cols, rows] = startSize(r);
      term.resize(cols, rows);
      w.started = true;
    }
    if (r.skipped) term.write('\x1b[2m[earlier output is not shown]\x1b[0m\r\n');
    let bytes = 0;
    for (const line of r.lines) {
      bytes += line.length;
      let ev;
      try { ev = JSON.parse(line); } catch (_) { continue; }
      if (ev[1] === 'o') term.write(ev[2]);
      else if (ev[1] === 'r') { const z = sizeOf(ev[2]); if (z) term.resize(z[0], z[1]); }
    }
    w.next = r.first + r.lines.length;
    state.textContent = tx('Watching live (node {0} serves the session).', r.node);
    // A full answer means more is waiting.
    again(bytes > 16384 ? 0 : LIVE_EVERY_MS);
  }
  tick();
  box.scrollIntoView();
}
