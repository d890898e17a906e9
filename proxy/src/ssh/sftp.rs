//! An SFTP (version 3) observer: reads the packets of both directions of an `sftp` subsystem
//! and reports file operations — uploads and downloads (with their sizes, at close), renames,
//! removals, directory creation and removal (when the server confirms them).

mod filter;

pub(crate) use filter::{RefusedOp, SftpFilter};

use std::collections::HashMap;

/// One file operation seen in an SFTP stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileOp {
    pub op: &'static str,
    pub path: String,
    pub target_path: Option<String>,
    pub bytes: u64,
}

/// Packets larger than this end the observation (the relay goes on).
const MAX_PACKET: usize = 4 * 1024 * 1024;

const OPEN: u8 = 3;
const CLOSE: u8 = 4;
const READ: u8 = 5;
const WRITE: u8 = 6;
const REMOVE: u8 = 13;
const MKDIR: u8 = 14;
const RMDIR: u8 = 15;
const RENAME: u8 = 18;
const EXTENDED: u8 = 200;
const STATUS: u8 = 101;
const HANDLE: u8 = 102;
const DATA: u8 = 103;
const FLAG_WRITE: u32 = 2;

/// A request waiting for its reply.
enum Pending {
    Open { path: String, write: bool },
    Read { handle: Vec<u8> },
    Done(FileOp),
}

/// A file open on the server.
struct OpenFile {
    path: String,
    write: bool,
    bytes: u64,
}

/// Reassembles the packets of one direction.
#[derive(Default)]
struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Appends `data`; returns the complete packets (type byte first), or None when broken.
    fn push(&mut self, data: &[u8]) -> Option<Vec<Vec<u8>>> {
        self.buf.extend_from_slice(data);
        let mut packets = Vec::new();
        loop {
            let Some(len) = self
                .buf
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            else {
                return Some(packets);
            };
            if len > MAX_PACKET {
                return None;
            }
            if self.buf.len() < 4 + len {
                return Some(packets);
            }
            packets.push(self.buf[4..4 + len].to_vec());
            self.buf.drain(..4 + len);
        }
    }
}

/// Reads SSH wire types from a packet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Observes one SFTP session.
#[derive(Default)]
pub(crate) struct SftpAudit {
    up: Framer,
    down: Framer,
    pending: HashMap<u32, Pending>,
    files: HashMap<Vec<u8>, OpenFile>,
    broken: bool,
}

impl SftpAudit {
    /// Bytes from the client; returns operations complete so far.
    pub fn client(&mut self, data: &[u8]) -> Vec<FileOp> {
        let mut ops = Vec::new();
        for packet in self.frames(data, true) {
            if self.request(&packet, &mut ops).is_none() {
                tracing::debug!("sftp: unparsable request");
            }
        }
        ops
    }

    /// Bytes from the server; returns operations complete so far.
    pub fn server(&mut self, data: &[u8]) -> Vec<FileOp> {
        let mut ops = Vec::new();
        for packet in self.frames(data, false) {
            if self.reply(&packet, &mut ops).is_none() {
                tracing::debug!("sftp: unparsable reply");
            }
        }
        ops
    }

    /// Files still open when the session ends.
    pub fn finish(&mut self) -> Vec<FileOp> {
        self.files.drain().map(|(_, f)| Self::transfer(f)).collect()
    }

    fn frames(&mut self, data: &[u8], up: bool) -> Vec<Vec<u8>> {
        if self.broken {
            return Vec::new();
        }
        let framer = if up { &mut self.up } else { &mut self.down };
        framer.push(data).unwrap_or_else(|| {
            self.broken = true;
            Vec::new()
        })
    }

    fn transfer(f: OpenFile) -> FileOp {
        let op = if f.write { "upload" } else { "download" };
        FileOp {
            op,
            path: f.path,
            target_path: None,
            bytes: f.bytes,
        }
    }

    fn request(&mut self, packet: &[u8], ops: &mut Vec<FileOp>) -> Option<()> {
        let mut r = Reader(packet);
        let kind = r.u8()?;
        if !matches!(
            kind,
            OPEN | CLOSE | READ | WRITE | REMOVE | MKDIR | RMDIR | RENAME | EXTENDED
        ) {
            return Some(());
        }
        let id = r.u32()?;
        let done = |op, path, target_path| {
            Pending::Done(FileOp {
                op,
                path,
                target_path,
                bytes: 0,
            })
        };
        let pending = match kind {
            OPEN => {
                let path = r.string()?;
                Pending::Open {
                    path,
                    write: r.u32()? & FLAG_WRITE != 0,
                }
            }
            CLOSE => {
                if let Some(f) = self.files.remove(r.bytes()?) {
                    ops.push(Self::transfer(f));
                }
                return Some(());
            }
            READ => Pending::Read {
                handle: r.bytes()?.to_vec(),
            },
            WRITE => {
                let handle = r.bytes()?.to_vec();
                r.take(8)?;
                let n = r.bytes()?.len() as u64;
                if let Some(f) = self.files.get_mut(&handle) {
                    f.bytes += n;
                }
                return Some(());
            }
            REMOVE => done("remove", r.string()?, None),
            MKDIR => done("mkdir", r.string()?, None),
            RMDIR => done("rmdir", r.string()?, None),
            RENAME => done("rename", r.string()?, Some(r.string()?)),
            _ => match r.string()?.as_str() {
                "posix-rename@openssh.com" => done("rename", r.string()?, Some(r.string()?)),
                _ => return Some(()),
            },
        };
        self.pending.insert(id, pending);
        Some(())
    }

    fn reply(&mut self, packet: &[u8], ops: &mut Vec<FileOp>) -> Option<()> {
        let mut r = Reader(packet);
        let kind = r.u8()?;
        if !matches!(kind, STATUS | HANDLE | DATA) {
            return Some(());
        }
        let id = r.u32()?;
        let pending = self.pending.remove(&id)?;
        match (kind, pending) {
            (HANDLE, Pending::Open { path, write }) => {
                self.files.insert(
                    r.bytes()?.to_vec(),
                    OpenFile {
                        path,
                        write,
                        bytes: 0,
                    },
                );
            }
            (DATA, Pending::Read { handle }) => {
                let n = r.bytes()?.len() as u64;
                if let Some(f) = self.files.get_mut(&handle) {
                    f.bytes += n;
                }
            }
            (STATUS, Pending::Done(op)) if r.u32()? == 0 => ops.push(op),
            _ => {}
        }
        Some(())
    }
}

#[cfg(test)]
mod tests;
