//! The relay of a started session channel: client <-> target, each direction in its own task
//! so that neither can stall the other; data, stderr, EOF, window changes, signals, exit
//! status and signal, close — as in a direct login. Ends early on termination.

use std::sync::{Arc, Mutex};

use russh::server::Msg;
use russh::{Channel, ChannelMsg};

use super::approval;
use super::conn::Conn;
use super::lease::Lease;
use super::taps::{notice, Passed, Taps};
use crate::gate::{AuditSink, SessionGate};

type TargetChannel = Channel<russh::client::Msg>;

/// Relays until the target closes the channel, the client goes away or the session is
/// terminated; then hands the rest of the recording and the events to the audit sink. The
/// recording's completed parts are handed off on the way, by whichever direction completed
/// them ([`up`] records the input, [`down`] the output), which waits until they are stored.
pub(crate) async fn run<G: SessionGate, A: AuditSink>(
    conn: &Arc<Conn<G, A>>,
    client: Channel<Msg>,
    target: TargetChannel,
    lease: &Arc<Lease<G>>,
    taps: Taps<A>,
) {
    let id = client.id();
    let taps = Arc::new(Mutex::new(taps));
    let (c_read, c_write) = client.split();
    let (t_read, t_write) = target.split();
    let up = tokio::spawn(up(
        c_read,
        t_write,
        Arc::clone(conn),
        id,
        Arc::clone(lease),
        Arc::clone(&taps),
    ));
    let abort_up = up.abort_handle();
    let down = down(t_read, c_write, conn, lease, &taps);
    let terminated = tokio::select! {
        () = down => false,
        () = lease.terminated() => true,
        () = conn.closed.cancelled() => false,
    };
    abort_up.abort();
    if terminated {
        let words = format!("\r\nportunus: {}\r\n", lease.termination_reason()).into_bytes();
        let _ = conn.handle.extended_data(id, 1, words).await;
        let _ = conn.handle.exit_status_request(id, 143).await;
        let _ = conn.handle.eof(id).await;
    }
    let _ = conn.handle.close(id).await;
    let taps = std::mem::replace(
        &mut *taps.lock().unwrap_or_else(|e| e.into_inner()),
        Taps::none(),
    );
    taps.finish().await;
}

/// How long keys typed after a refused command line wait for the target to take its Ctrl-C.
/// A loaded target can take longer than half a second (the suite once lost the first key of
/// the next command after a 500 ms wait that saw no echo); a terminal that shows no `^C` at all,
/// or nothing after it, makes the engineer wait this long once per refused line.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// After the Ctrl-C of a refused command line, wait until the target's terminal echoes it and
/// the shell draws again (its prompt; at most [`SETTLE_WAIT`]): the terminal flushes its input
/// queue as it takes the interrupt, and the shell may discard keys that reach it while it
/// handles the interrupt (bash did: a line typed at the echo lost its first key).
async fn settle<A: AuditSink>(taps: &Mutex<Taps<A>>) {
    let since = std::time::Instant::now();
    loop {
        let settling = lock(taps).settling();
        if !settling {
            return;
        }
        if since.elapsed() >= SETTLE_WAIT {
            lock(taps).settled();
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Client -> target.
async fn up<G: SessionGate, A: AuditSink>(
    mut from: russh::ChannelReadHalf,
    to: russh::ChannelWriteHalf<russh::client::Msg>,
    conn: Arc<Conn<G, A>>,
    id: russh::ChannelId,
    lease: Arc<Lease<G>>,
    taps: Arc<Mutex<Taps<A>>>,
) {
    // What the client sent while a command waited for approval, handled after the decision.
    let mut queued = std::collections::VecDeque::new();
    loop {
        let msg = match queued.pop_front() {
            Some(msg) => msg,
            None => match from.wait().await {
                Some(msg) => msg,
                None => break,
            },
        };
        let sent = match msg {
            ChannelMsg::Data { data } => {
                settle(&taps).await;
                let (guarded, stored) = {
                    let mut taps = lock(&taps);
                    let guarded = taps.guard(&data);
                    taps.input(&guarded.forward);
                    (guarded, taps.hand_off())
                };
                lease.add_up(guarded.forward.len());
                let held = guarded.held.clone();
                let notices = approval::Notices {
                    channel: id,
                    on_stdout: guarded.on_stdout,
                };
                let mut sent = forward(&conn, id, &to, guarded).await;
                recorded(stored).await;
                if let (Some(line), Ok(())) = (held, &sent) {
                    let withdrawn = withdrawn(&mut from, &mut queued);
                    let refused = approval::wait(&conn, &lease, notices, &line, withdrawn)
                        .await
                        .err();
                    let decided = lock(&taps).decided(&line, refused.as_ref());
                    lock(&taps).input(&decided.forward);
                    sent = forward(&conn, id, &to, decided).await;
                }
                sent
            }
            ChannelMsg::Eof => {
                let guarded = lock(&taps).guard_eof();
                match forward(&conn, id, &to, guarded).await {
                    Ok(()) => to.eof().await,
                    Err(e) => Err(e),
                }
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                lock(&taps).resize(col_width, row_height);
                to.window_change(col_width, row_height, pix_width, pix_height)
                    .await
            }
            ChannelMsg::Signal { signal } => to.signal(signal).await,
            ChannelMsg::Close => break,
            ChannelMsg::RequestPty {
                want_reply: true, ..
            }
            | ChannelMsg::RequestShell { want_reply: true }
            | ChannelMsg::Exec {
                want_reply: true, ..
            }
            | ChannelMsg::RequestSubsystem {
                want_reply: true, ..
            }
            | ChannelMsg::RequestX11 {
                want_reply: true, ..
            }
            | ChannelMsg::AgentForward { want_reply: true }
            | ChannelMsg::SetEnv {
                want_reply: true, ..
            } => {
                let _ = conn.handle.channel_failure(id).await;
                Ok(())
            }
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = to.close().await;
}

/// Reads the client while a command waits for approval: resolves with why the engineer gave
/// up (Ctrl-C typed or sent as a signal, or the channel ended); anything else is kept in
/// `queued` for after the decision (the Ctrl-C itself is not passed on: the refused line is
/// cleared on the target anyway).
async fn withdrawn(
    from: &mut russh::ChannelReadHalf,
    queued: &mut std::collections::VecDeque<ChannelMsg>,
) -> String {
    loop {
        match from.wait().await {
            Some(ChannelMsg::Data { data }) if approval::interrupts(&data) => {
                return approval::CTRL_C.into();
            }
            Some(ChannelMsg::Signal {
                signal: russh::Sig::INT,
            }) => return approval::CTRL_C.into(),
            Some(msg @ (ChannelMsg::Eof | ChannelMsg::Close)) => {
                queued.push_back(msg);
                return "the engineer closed the session".into();
            }
            Some(msg) if queued.len() < approval::MAX_QUEUED => queued.push_back(msg),
            Some(msg) => {
                queued.push_back(msg);
                return approval::TOO_MUCH.into();
            }
            None => return "the engineer left".into(),
        }
    }
}

/// Sends what command control lets through, and shows the engineer why a line was refused.
async fn forward<G: SessionGate, A: AuditSink>(
    conn: &Conn<G, A>,
    id: russh::ChannelId,
    to: &russh::ChannelWriteHalf<russh::client::Msg>,
    passed: Passed,
) -> Result<(), russh::Error> {
    if passed.broken {
        let words =
            notice("the SFTP stream cannot be checked against the control policy; session ended");
        let _ = conn.handle.extended_data(id, 1, words.into_bytes()).await;
        return Err(russh::Error::Disconnect);
    }
    if !passed.forward.is_empty() {
        to.data_bytes(passed.forward).await?;
    }
    let notices = approval::Notices {
        channel: id,
        on_stdout: passed.on_stdout,
    };
    for r in passed.refused {
        notices.say(conn, &r.reason).await;
    }
    Ok(())
}

/// Target -> client; returns when the target closes the channel.
async fn down<G: SessionGate, A: AuditSink>(
    mut from: russh::ChannelReadHalf,
    to: russh::ChannelWriteHalf<Msg>,
    conn: &Conn<G, A>,
    lease: &Lease<G>,
    taps: &Mutex<Taps<A>>,
) {
    while let Some(msg) = from.wait().await {
        let sent = match msg {
            ChannelMsg::Data { data } => {
                let (data, stored) = {
                    let mut taps = lock(taps);
                    let data = match taps.filter_down(&data) {
                        Some(replaced) => replaced.into(),
                        None => data,
                    };
                    taps.output(&data);
                    (data, taps.hand_off())
                };
                lease.add_down(data.len());
                let sent = to.data_bytes(data).await;
                recorded(stored).await;
                sent
            }
            ChannelMsg::ExtendedData { data, ext } => {
                let stored = {
                    let mut taps = lock(taps);
                    taps.stderr(&data);
                    taps.hand_off()
                };
                lease.add_down(data.len());
                let sent = to.extended_data_bytes(ext, data).await;
                recorded(stored).await;
                sent
            }
            ChannelMsg::ExitStatus { exit_status } => to.exit_status(exit_status).await,
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => conn
                .handle
                .exit_signal_request(to.id(), signal_name, core_dumped, error_message, lang_tag)
                .await
                .map_err(|()| russh::Error::SendError),
            ChannelMsg::Eof => to.eof().await,
            ChannelMsg::Close => break,
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
}

/// Waits until the recording parts handed off are stored: the backpressure that keeps a
/// session's recording from piling up in memory when storing is slower than its traffic.
async fn recorded(stored: Option<tokio::sync::oneshot::Receiver<()>>) {
    if let Some(stored) = stored {
        let _ = stored.await;
    }
}

fn lock<A: AuditSink>(taps: &Mutex<Taps<A>>) -> std::sync::MutexGuard<'_, Taps<A>> {
    taps.lock().unwrap_or_else(|e| e.into_inner())
}
