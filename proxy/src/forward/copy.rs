//! The portable forwarding path: a user-space copy through one 256 KiB buffer per direction.

use std::io;
use std::sync::atomic::Ordering;

use tokio::net::TcpStream;

use super::{shutdown_write, Counters, Direction, ForwardPath, ForwardStats};

/// Size of the buffer each direction copies through.
pub(super) const BUF_SIZE: usize = 256 * 1024;

/// Relays both directions with copies; see the parent module for the semantics.
pub(super) async fn forward(
    client: &TcpStream,
    server: &TcpStream,
    counters: &Counters,
) -> io::Result<ForwardStats> {
    let (up, down) = tokio::try_join!(
        pump(client, server, counters, Direction::Up),
        pump(server, client, counters, Direction::Down),
    )?;
    Ok(ForwardStats {
        up,
        down,
        path: ForwardPath::Copy,
    })
}

/// Copies `src` to `dst` until EOF, then shuts down writing on `dst`.
///
/// Driven by readiness on shared references, so both directions of one socket run at once.
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    counters: &Counters,
    dir: Direction,
) -> io::Result<u64> {
    let counter = counters.counter(dir);
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = read(src, &mut buf).await?;
        if n == 0 {
            shutdown_write(dst)?;
            return Ok(total);
        }
        write_all(dst, &buf[..n]).await?;
        total += n as u64;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

async fn read(src: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        src.readable().await?;
        match src.try_read(buf) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        dst.writable().await?;
        match dst.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
