//! Power loss for node processes. Each node's data directory lives on a small ext4 filesystem
//! of its own (an image file on a loop device). A power cut shuts those filesystems down with
//! `FS_IOC_SHUTDOWN` and `FSOP_GOING_FLAGS_NOLOGFLUSH`: from that instant nothing more reaches
//! their disks, neither the page cache's dirty data nor the journal's uncommitted transactions,
//! exactly what a power loss leaves (a SIGKILL alone leaves the page cache to be written back,
//! so it cannot show a missing fsync). The nodes are then SIGKILLed, the filesystems unmounted
//! and mounted again (ext4 replays its journal), and the nodes can start from what survived.
//!
//! ext4 orders more than POSIX promises (its journal commits every earlier rename and creation
//! with any later fsync on the filesystem), so this catches a missing fsync of file data and a
//! missing directory fsync in a quiet moment, not every ordering a weaker filesystem allows;
//! `docs/crash-consistency.md` describes the stricter FUSE layer meant for that.

use crate::NodeProc;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `FS_IOC_SHUTDOWN` (`_IOR('X', 125, __u32)`), with `FSOP_GOING_FLAGS_NOLOGFLUSH`: shut down
/// without writing the journal back. Issued by `python3` (on every machine the tests run on),
/// every filesystem opened first so that the shutdowns follow each other within microseconds.
const SHUTDOWN: &str = "import fcntl, os, struct, sys
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:]]
for fd in fds:
    fcntl.ioctl(fd, 0x8004587d, struct.pack('I', 2))
";

/// One node's disk: an ext4 image mounted at `mount`.
pub struct Disk {
    pub image: PathBuf,
    pub mount: PathBuf,
    mounted: bool,
}

fn run(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Disk {
    /// A fresh ext4 filesystem of `mib` MiB (a sparse image) mounted at `mount`.
    pub fn new(image: PathBuf, mount: PathBuf, mib: u64) -> Result<Disk> {
        std::fs::File::create(&image)?.set_len(mib << 20)?;
        run(
            "mkfs.ext4",
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"])
                .arg(&image),
        )?;
        std::fs::create_dir_all(&mount)?;
        let mut disk = Disk {
            image,
            mount,
            mounted: false,
        };
        disk.mount()?;
        Ok(disk)
    }

    fn mount(&mut self) -> Result<()> {
        run(
            "mount -o loop",
            Command::new("mount")
                .args(["-t", "ext4", "-o", "loop"])
                .arg(&self.image)
                .arg(&self.mount),
        )?;
        self.mounted = true;
        Ok(())
    }

    /// Unmount (after a shutdown: what reached the disk stays) and mount again, replaying the
    /// journal. Nothing may hold a file open on it.
    pub fn remount(&mut self) -> Result<()> {
        run("umount", Command::new("umount").arg(&self.mount))?;
        self.mounted = false;
        self.mount()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}

/// Shut down the filesystems mounted at `mounts`, as close to at once as one process can.
pub fn shut_down(mounts: &[&Path]) -> Result<()> {
    run(
        "the FS_IOC_SHUTDOWN ioctl (python3)",
        Command::new("python3").arg("-c").arg(SHUTDOWN).args(mounts),
    )
}

/// A disk for each node of a cluster (see [`ProcCluster::on_disks`]).
pub struct Disks {
    // Unmounted before their directory is removed (fields drop in order).
    disks: Vec<Disk>,
    _dir: tempfile::TempDir,
}

impl Disks {
    /// A disk of `mib` MiB for each of `nodes` (none started yet); each node's data directory
    /// is moved onto its disk.
    pub fn under(nodes: &mut [NodeProc], mib: u64) -> Result<Disks> {
        let dir = tempfile::tempdir()?;
        let mut disks = Vec::new();
        for n in nodes {
            if n.pid().is_some() {
                bail!(
                    "node {} is already running: its data cannot move to a disk",
                    n.id
                );
            }
            let disk = Disk::new(
                dir.path().join(format!("node{}.ext4", n.id)),
                dir.path().join(format!("node{}", n.id)),
                mib,
            )?;
            n.data_dir = disk.mount.join("data");
            disks.push(disk);
        }
        Ok(Disks { disks, _dir: dir })
    }

    /// The disk of node `id`.
    pub fn disk(&self, id: u64) -> &Disk {
        &self.disks[id as usize - 1]
    }

    /// Cut the power of nodes `ids` (of `nodes`) at one instant: their filesystems shut down,
    /// then the processes SIGKILLed and their disks mounted again with what had reached them.
    /// The nodes are left stopped.
    pub fn cut(&mut self, nodes: &mut [NodeProc], ids: &[u64]) -> Result<()> {
        let mounts: Vec<&Path> = ids
            .iter()
            .map(|id| self.disks[*id as usize - 1].mount.as_path())
            .collect();
        shut_down(&mounts)?;
        for id in ids {
            nodes[*id as usize - 1].kill();
        }
        for id in ids {
            self.disks[*id as usize - 1].remount()?;
        }
        Ok(())
    }
}
