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

impl Disk {
    /// The block device under the mount, as `major:minor` (from `/proc/self/mountinfo`).
    pub fn device(&self) -> Result<String> {
        let mount = self.mount.canonicalize()?;
        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
        info.lines()
            .rev()
            .find_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() > 4 && Path::new(f[4]) == mount).then(|| f[2].to_string())
            })
            .with_context(|| format!("{} is not in /proc/self/mountinfo", mount.display()))
    }

    /// Fill the filesystem until not even root can allocate 64 KiB more (ext4 keeps a few
    /// clusters for itself), with files named `filler*` at its top; [`Disk::unfill`] removes
    /// them.
    pub fn fill(&self) -> Result<()> {
        for k in 0..64 {
            let free = free_bytes(&self.mount)?;
            let filler = self.mount.join(format!("filler{k}"));
            // Extents need blocks of their own: ask for all, then half, ... until one fits.
            let mut want = free;
            let mut placed = false;
            while want >= 64 << 10 && !placed {
                placed = Command::new("fallocate")
                    .arg("-l")
                    .arg(want.to_string())
                    .arg(&filler)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .context("running fallocate")?
                    .success();
                want /= 2;
            }
            if !placed {
                return Ok(());
            }
        }
        bail!("{} still has room after 64 fillers", self.mount.display())
    }

    /// Remove what [`Disk::fill`] wrote.
    pub fn unfill(&self) -> Result<()> {
        for e in std::fs::read_dir(&self.mount)? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with("filler") {
                std::fs::remove_file(e.path())?;
            }
        }
        Ok(())
    }

    /// Make the disk slow for process `pid`: at most `iops` reads and `iops` writes a second
    /// reach the device from it (a blkio cgroup of its own, cgroup v1), until the throttle
    /// returned is undone or dropped.
    pub fn throttle(&self, pid: u32, iops: u32) -> Result<Throttle> {
        let root = Path::new(BLKIO);
        anyhow::ensure!(
            root.join("blkio.throttle.write_iops_device").exists(),
            "{BLKIO} (cgroup v1 blkio throttling) is not available: a slow disk cannot be made"
        );
        let group = root.join(format!(
            "portunus-test-{}-{}",
            std::process::id(),
            self.mount.file_name().unwrap_or_default().to_string_lossy()
        ));
        let device = self.device()?;
        let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let was = proc_cgroup
            .lines()
            .find_map(|l| {
                let (_, rest) = l.split_once(':')?;
                let (controllers, path) = rest.split_once(':')?;
                controllers
                    .split(',')
                    .any(|c| c == "blkio")
                    .then(|| root.join(path.trim_start_matches('/')))
            })
            .context("the process has no blkio cgroup")?;
        std::fs::create_dir_all(&group)?;
        let throttle = Throttle { group, was, pid };
        for knob in [
            "blkio.throttle.write_iops_device",
            "blkio.throttle.read_iops_device",
        ] {
            std::fs::write(throttle.group.join(knob), format!("{device} {iops}"))
                .with_context(|| format!("setting {knob}"))?;
        }
        std::fs::write(throttle.group.join("cgroup.procs"), pid.to_string())
            .context("moving the node into its blkio cgroup")?;
        Ok(throttle)
    }
}

const BLKIO: &str = "/sys/fs/cgroup/blkio";

/// Free bytes of the filesystem at `path`, the blocks reserved for root included.
fn free_bytes(path: &Path) -> Result<u64> {
    let out = Command::new("stat")
        .args(["-f", "-c", "%f %S"])
        .arg(path)
        .output()
        .context("running stat -f")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace().map(|v| v.parse::<u64>());
    match (f.next(), f.next()) {
        (Some(Ok(blocks)), Some(Ok(size))) => Ok(blocks * size),
        _ => bail!("stat -f {} answered {text:?}", path.display()),
    }
}

/// A process's slow disk (see [`Disk::throttle`]); dropping it gives the process its disk's
/// speed back.
pub struct Throttle {
    group: PathBuf,
    was: PathBuf,
    pid: u32,
}

impl Throttle {
    /// Move the process back to the cgroup it came from and remove the throttling one. A
    /// process that has exited meanwhile is no error.
    pub fn undo(&mut self) -> Result<()> {
        if std::path::Path::new(&format!("/proc/{}", self.pid)).exists() {
            if let Err(e) = std::fs::write(self.was.join("cgroup.procs"), self.pid.to_string()) {
                if e.raw_os_error() != Some(3) {
                    return Err(e).context("moving the node out of its blkio cgroup");
                }
            }
        }
        if self.group.exists() {
            std::fs::remove_dir(&self.group)
                .with_context(|| format!("removing {}", self.group.display()))?;
        }
        Ok(())
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        let _ = self.undo();
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

    /// The disk of node `id`, to remount.
    pub fn disk_mut(&mut self, id: u64) -> &mut Disk {
        &mut self.disks[id as usize - 1]
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
