//! SFTP protocol control: the operations a control policy refuses (upload, download, mkdir,
//! remove, rename, rmdir) never reach the server. A refused request is replaced by an
//! extended request the server does not know, with the same id, so the server's answers stay
//! in order; the server's answer to it is replaced by a "permission denied" status carrying
//! the policy's words. Sans I/O: fed each direction's bytes, it returns the bytes to send on.
//!
//! Requests are framed whole before they go on (a refusal is decided on the whole request);
//! the server's answers stream through, only their headers looked at.

use std::collections::HashMap;

use super::{Framer, Reader, CLOSE, EXTENDED, MKDIR, OPEN, REMOVE, RENAME, RMDIR, STATUS};
use crate::gate::Controls;

const SYMLINK: u8 = 20;
/// SSH_FX_PERMISSION_DENIED.
const PERMISSION_DENIED: u32 = 3;
/// What a refused request becomes: an extension no server implements.
const REFUSED_EXTENSION: &[u8] = b"refused@portunus";
/// Open flags that write: WRITE, APPEND, CREAT, TRUNC.
const WRITING: u32 = 0x02 | 0x04 | 0x08 | 0x10;
const READING: u32 = 0x01;
/// The header of a server packet: length, type, id.
const HEADER: usize = 9;

/// A refused request: what it was, on what, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefusedOp {
    pub action: String,
    pub path: String,
    pub reason: String,
}

/// The framing of a request stream broke (a packet over the size limit): the session must end,
/// since what follows can no longer be checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Broken;

pub(crate) struct SftpFilter {
    controls: Controls,
    up: Framer,
    /// Ids of refused requests -> the words their answer carries.
    refused: HashMap<u32, String>,
    header: Vec<u8>,
    /// Bytes of the current server packet still to pass, or (when `dropping`) to drop.
    remaining: usize,
    dropping: bool,
}

impl SftpFilter {
    /// A filter for an SFTP channel; None when the policy allows every operation.
    pub fn new(controls: &Controls) -> Option<Self> {
        if controls.sftp_ops == crate::gate::SftpOps::ALL {
            return None;
        }
        Some(Self {
            controls: controls.clone(),
            up: Framer::default(),
            refused: HashMap::new(),
            header: Vec::new(),
            remaining: 0,
            dropping: false,
        })
    }

    /// The client's bytes: the whole requests ready, with refused ones replaced.
    pub fn client(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<RefusedOp>), Broken> {
        let packets = self.up.push(data).ok_or(Broken)?;
        let mut out = Vec::with_capacity(data.len());
        let mut refused = Vec::new();
        for p in packets {
            let body = match self.check(&p) {
                None => p,
                Some((id, op)) => {
                    self.refused.insert(id, op.reason.clone());
                    refused.push(op);
                    let mut b = vec![EXTENDED];
                    b.extend_from_slice(&id.to_be_bytes());
                    put_string(&mut b, REFUSED_EXTENSION);
                    b
                }
            };
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(&body);
        }
        Ok((out, refused))
    }

    /// The server's bytes, with the answers to refused requests replaced.
    pub fn server(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut rest = data;
        while !rest.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(rest.len());
                if !self.dropping {
                    out.extend_from_slice(&rest[..n]);
                }
                self.remaining -= n;
                rest = &rest[n..];
                continue;
            }
            let n = (HEADER - self.header.len()).min(rest.len());
            self.header.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.header.len() < HEADER {
                continue;
            }
            self.start_packet(&mut out);
        }
        out
    }

    /// A server packet's header is complete: pass it on, or drop the packet for a refusal.
    fn start_packet(&mut self, out: &mut Vec<u8>) {
        let h = std::mem::take(&mut self.header);
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let id = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        let words = (h[4] == STATUS && len >= HEADER - 4)
            .then(|| self.refused.remove(&id))
            .flatten();
        self.remaining = (4 + len).saturating_sub(HEADER);
        self.dropping = words.is_some();
        match words {
            Some(words) => out.extend_from_slice(&denied(id, &words)),
            None => out.extend_from_slice(&h),
        }
    }

    /// Whether a request is refused: its id and what it was.
    fn check(&self, packet: &[u8]) -> Option<(u32, RefusedOp)> {
        let mut r = Reader(packet);
        let kind = r.u8()?;
        if kind == CLOSE {
            return None;
        }
        let id = r.u32()?;
        let ops = self.controls.sftp_ops;
        let (action, allowed, path) = match kind {
            OPEN => {
                let path = r.string()?;
                let flags = r.u32()?;
                let writes = flags & WRITING != 0;
                let reads = flags & READING != 0 || !writes;
                let allowed = (!writes || ops.upload) && (!reads || ops.download);
                let action = if writes {
                    "sftp upload"
                } else {
                    "sftp download"
                };
                (action, allowed, path)
            }
            REMOVE => ("sftp remove", ops.remove, r.string()?),
            MKDIR => ("sftp mkdir", ops.mkdir, r.string()?),
            RMDIR => ("sftp rmdir", ops.rmdir, r.string()?),
            RENAME => ("sftp rename", ops.rename, r.string()?),
            SYMLINK => ("sftp upload", ops.upload, r.string()?),
            EXTENDED => match r.string()?.as_str() {
                "posix-rename@openssh.com" => ("sftp rename", ops.rename, r.string()?),
                "hardlink@openssh.com" | "copy-data" => {
                    ("sftp upload", ops.upload, r.string().unwrap_or_default())
                }
                _ => return None,
            },
            _ => return None,
        };
        if allowed {
            return None;
        }
        let what = format!("{} of {path}", action.trim_start_matches("sftp "));
        let reason = self.controls.refusal(&format!("SFTP {what}")).message;
        Some((
            id,
            RefusedOp {
                action: action.to_string(),
                path,
                reason,
            },
        ))
    }
}

fn put_string(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as u32).to_be_bytes());
    b.extend_from_slice(s);
}

/// A whole "permission denied" status packet for request `id`.
fn denied(id: u32, words: &str) -> Vec<u8> {
    let mut body = vec![STATUS];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&PERMISSION_DENIED.to_be_bytes());
    put_string(&mut body, words.as_bytes());
    put_string(&mut body, b"en");
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::SftpOps;

    fn string(v: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        put_string(&mut b, v);
        b
    }

    fn packet(kind: u8, id: u32, fields: &[&[u8]]) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(&id.to_be_bytes());
        for f in fields {
            body.extend_from_slice(f);
        }
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    fn filter(ops: SftpOps) -> SftpFilter {
        let controls = Controls {
            policy: Some("no-uploads".into()),
            sftp_ops: ops,
            ..Controls::default()
        };
        SftpFilter::new(&controls).unwrap()
    }

    #[test]
    fn a_refused_upload_never_reaches_the_server_and_its_answer_says_why() {
        let mut f = filter(SftpOps {
            upload: false,
            ..SftpOps::ALL
        });
        let upload = packet(
            OPEN,
            7,
            &[&string(b"/tmp/x"), &0x1au32.to_be_bytes(), &[0; 4]],
        );
        let download = packet(
            OPEN,
            8,
            &[&string(b"/etc/hosts"), &1u32.to_be_bytes(), &[0; 4]],
        );
        let mut both = upload.clone();
        both.extend_from_slice(&download);
        // Split anywhere: nothing goes on until a request is whole.
        let (first, refused) = f.client(&both[..5]).unwrap();
        assert!(first.is_empty() && refused.is_empty());
        let (out, refused) = f.client(&both[5..]).unwrap();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].action, "sftp upload");
        assert_eq!(refused[0].path, "/tmp/x");
        assert!(
            refused[0].reason.contains("no-uploads"),
            "{}",
            refused[0].reason
        );
        let replaced = packet(EXTENDED, 7, &[&string(REFUSED_EXTENSION)]);
        let mut expected = replaced;
        expected.extend_from_slice(&download);
        assert_eq!(out, expected);
        // The server answers the unknown extension, then the download's open; byte by byte.
        let mut answers = packet(
            STATUS,
            7,
            &[&8u32.to_be_bytes(), &string(b"unsupported"), &string(b"")],
        );
        let handle = packet(102, 8, &[&string(b"h")]);
        answers.extend_from_slice(&handle);
        let mut shown = Vec::new();
        for b in &answers {
            shown.extend(f.server(&[*b]));
        }
        let mut expected = denied(7, &refused[0].reason);
        expected.extend_from_slice(&handle);
        assert_eq!(shown, expected);
    }

    #[test]
    fn each_operation_is_refused_only_when_its_option_is_off() {
        let none = SftpOps {
            upload: false,
            download: false,
            mkdir: false,
            remove: false,
            rename: false,
            rmdir: false,
        };
        let p = string(b"/x");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (packet(MKDIR, 1, &[&p, &[0; 4]]), "sftp mkdir"),
            (packet(RMDIR, 2, &[&p]), "sftp rmdir"),
            (packet(REMOVE, 3, &[&p]), "sftp remove"),
            (packet(RENAME, 4, &[&p, &string(b"/y")]), "sftp rename"),
            (
                packet(
                    EXTENDED,
                    5,
                    &[&string(b"posix-rename@openssh.com"), &p, &string(b"/y")],
                ),
                "sftp rename",
            ),
            (
                packet(OPEN, 6, &[&p, &1u32.to_be_bytes(), &[0; 4]]),
                "sftp download",
            ),
        ];
        for (req, action) in &cases {
            let (_, refused) = filter(none).client(req).unwrap();
            assert_eq!(refused.first().map(|r| r.action.as_str()), Some(*action));
            let (out, refused) = filter(SftpOps {
                upload: false,
                ..SftpOps::ALL
            })
            .client(req)
            .unwrap();
            assert!(refused.is_empty(), "{action}");
            assert_eq!(&out, req);
        }
        assert!(SftpFilter::new(&Controls::default()).is_none());
    }

    #[test]
    fn an_oversized_request_breaks_the_filter() {
        let mut f = filter(SftpOps {
            upload: false,
            ..SftpOps::ALL
        });
        assert_eq!(f.client(&u32::MAX.to_be_bytes()).map(|_| ()), Err(Broken));
    }
}
