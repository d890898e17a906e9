//! Entry points that feed arbitrary bytes to what the SSH gateway runs on an engineer's or a
//! target's input, for the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) and for the randomized run
//! with the unit tests: the login name, the SFTP audit and its operation filter, a shell's
//! command audit, command control and recorder, and the command pattern lists an administrator
//! writes. Each may return errors, never panic.

use super::echo::InputAudit;
use super::guard::LineGuard;
use super::login::Login;
use super::recorder::Recorder;
use super::sftp::{SftpAudit, SftpFilter};
use crate::commands::CommandRules;
use crate::gate::{Controls, SftpOps};
use portunus_db::fuzzing::{halves, split};

/// A login name as the client sends it.
pub fn login_name(data: &[u8]) {
    let _ = Login::parse(&String::from_utf8_lossy(data));
}

/// An SFTP session: the client's bytes (the input before its first NUL) and the server's (the
/// rest), in pieces interleaved the way a relay sees them, through the audit and
/// through a filter that refuses uploads and removals.
pub fn sftp(data: &[u8]) {
    let (up, down) = halves(data);
    let mut audit = SftpAudit::default();
    let controls = Controls {
        sftp_ops: SftpOps {
            upload: false,
            remove: false,
            ..SftpOps::ALL
        },
        ..Controls::default()
    };
    let mut filter = SftpFilter::new(&controls);
    let (mut ups, mut downs) = (split(up), split(down));
    loop {
        let (a, b) = (ups.next(), downs.next());
        if a.is_none() && b.is_none() {
            break;
        }
        if let Some(piece) = a {
            let _ = audit.client(piece);
            if let Some(f) = filter.as_mut() {
                let _ = f.client(piece);
            }
        }
        if let Some(piece) = b {
            let _ = audit.server(piece);
            if let Some(f) = filter.as_mut() {
                let _ = f.server(piece);
            }
        }
    }
    let _ = audit.finish();
}

/// A shell: the target's output and the engineer's keystrokes in alternating pieces, through
/// the command audit (shell and exec), command control with and without a PTY (a deny list and
/// an approval list; held lines accepted and refused in turn) and the recorder (a piece that
/// starts with NUL also resizes the terminal).
pub fn shell(data: &[u8]) {
    let deny = ["rm -rf".to_string(), "/^shutdown/".to_string()];
    let approve = ["systemctl restart".to_string()];
    let controls = Controls {
        commands: CommandRules::new(false, &deny).ok(),
        approval: CommandRules::new(false, &approve).ok(),
        ..Controls::default()
    };
    let mut audits = [InputAudit::shell(), InputAudit::exec()];
    let mut guards: Vec<LineGuard> = [true, false]
        .into_iter()
        .filter_map(|pty| LineGuard::new(&controls, pty))
        .collect();
    let mut recorder = Recorder::with_limits(80, 24, Some("xterm"), 4096, 1 << 20);
    for (i, piece) in split(data).enumerate() {
        if i % 2 == 0 {
            for a in &mut audits {
                let _ = a.output(piece);
            }
            for g in &mut guards {
                g.output(piece);
            }
            recorder.output(piece);
        } else {
            for a in &mut audits {
                let _ = a.typed(i as f64, piece);
            }
            for g in &mut guards {
                if g.input(piece).held.is_some() {
                    let _ = g.decided(i % 4 == 1);
                }
            }
            recorder.input(piece, i % 3 == 0);
        }
        if piece.first() == Some(&0) {
            let cols = piece.get(1).copied().unwrap_or(0);
            let rows = piece.get(2).copied().unwrap_or(0);
            recorder.resize(u32::from(cols), u32::from(rows));
        }
        let _ = recorder.take_ready();
    }
    for a in &mut audits {
        let _ = a.finish();
    }
    for g in &mut guards {
        let _ = g.eof();
    }
    let _ = recorder.finish();
}

/// Command patterns (the lines of the input's first half, as an administrator writes them) as
/// a deny list and as an allow list, checked against the lines of its second half.
pub fn command_rules(data: &[u8]) {
    let (patterns, lines) = halves(data);
    let patterns: Vec<String> = String::from_utf8_lossy(patterns)
        .lines()
        .map(str::to_string)
        .collect();
    let lines = String::from_utf8_lossy(lines);
    for allow_only in [false, true] {
        if let Ok(rules) = CommandRules::new(allow_only, &patterns) {
            for line in lines.lines() {
                let _ = rules.check(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use portunus_db::fuzzing::mutations;

    /// Valid inputs to mutate from: the parsers' interesting paths start from them.
    fn seeds() -> Vec<Vec<u8>> {
        // SFTP: INIT, OPEN (write), WRITE, CLOSE from the client; VERSION, HANDLE, STATUS back.
        let mut sftp = Vec::new();
        let packet = |kind: u8, body: &[u8]| {
            let mut p = ((body.len() + 1) as u32).to_be_bytes().to_vec();
            p.push(kind);
            p.extend_from_slice(body);
            p
        };
        let string = |s: &[u8]| {
            let mut v = (s.len() as u32).to_be_bytes().to_vec();
            v.extend_from_slice(s);
            v
        };
        sftp.extend(packet(1, &3u32.to_be_bytes()));
        let mut open = 7u32.to_be_bytes().to_vec();
        open.extend(string(b"/etc/passwd"));
        open.extend(0x1au32.to_be_bytes());
        open.extend(0u32.to_be_bytes());
        sftp.extend(packet(3, &open));
        let mut write = 8u32.to_be_bytes().to_vec();
        write.extend(string(b"h1"));
        write.extend(0u64.to_be_bytes());
        write.extend(string(b"data"));
        sftp.extend(packet(6, &write));
        sftp.push(0);
        sftp.extend(packet(2, &3u32.to_be_bytes()));
        let mut handle = 7u32.to_be_bytes().to_vec();
        handle.extend(string(b"h1"));
        sftp.extend(packet(102, &handle));
        vec![
            b"alice@root@web-01".to_vec(),
            sftp,
            b"$ \xff\x00ls -la\r\xff\x00total 0\r\n$ \xff\x00sudo rm -rf /\r\xff\x00\x00\x84\x30\xff\x00systemctl restart nginx\r".to_vec(),
            b"rm -rf\n/^shutdown/\nsystemctl *\n/(unclosed\0sudo rm -fr /x; ls && echo 'a'\\\nb\nbash -c 'rm -rf /'".to_vec(),
        ]
    }

    #[test]
    fn the_ssh_parsers_survive_random_and_mutated_input() {
        let targets: [fn(&[u8]); 4] = [
            super::login_name,
            super::sftp,
            super::shell,
            super::command_rules,
        ];
        for data in mutations(&seeds(), 0x55e4_0f0f_1234_abcd, 10_000) {
            for target in targets {
                target(&data);
            }
        }
    }
}
