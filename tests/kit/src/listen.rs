//! Daemons on ports the system chooses: a `cairn` daemon started with
//! `CAIRN_LISTEN_FILE` set appends `ROLE ADDR` to that file for every
//! listener it binds (`mds`, `cs`, `s3`, `metrics`); a test passes port 0
//! and reads the port back here, instead of picking a free port and hoping
//! nobody takes it first.
//!
//! A port is still reserved ahead ([`reserve_port`]) only for an address
//! that must be known before its process starts: an MDS's (`make-mds -a`
//! writes it into the cluster config and the raft group before `cairn
//! mds` runs; `cairn up`, which runs its MDS itself, binds first and
//! records the bound address instead), a peer of the benchmarks that
//! cannot announce its listeners (Garage), and an address a test wants
//! nothing to answer on. The launcher then checks, through the listen
//! file, that the MDS itself bound it (not some other process), and a
//! collision fails with the MDS's own "cannot listen" error instead of a
//! hang.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command},
    time::Duration,
};

use crate::wait::eventually;

/// The variable the daemons read (see `cairn`'s `cmd::announce`).
pub const LISTEN_FILE_ENV: &str = "CAIRN_LISTEN_FILE";

/// Points `cmd`'s listen file at `file`, emptied first (so that a restart
/// reports afresh).
pub fn listen_into(cmd: &mut Command, file: &Path) {
    let _ = std::fs::remove_file(file);
    cmd.env(LISTEN_FILE_ENV, file);
}

/// The last `role` address in `file`, if any.
pub fn read_bound(file: &Path, role: &str) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(r, _)| *r == role)
        .filter_map(|(_, a)| a.trim().parse().ok())
        .next_back()
}

/// Waits until `child` says in `file` where it listens as `role`, at most
/// `limit`; fails at once if `child` exits first.
pub fn bound(file: &Path, role: &str, child: &mut Child, limit: Duration) -> SocketAddr {
    eventually(
        limit,
        &format!("process {} to listen as `{role}`", child.id()),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "process {} exited with {status} before it listened as `{role}`",
                    child.id()
                );
            }
            read_bound(file, role)
        },
    )
}

/// Why [`announced`] has no address.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("process {pid} exited with {status} before it listened as `{role}`")]
    Exited {
        pid: u32,
        status: std::process::ExitStatus,
        role: String,
    },
    #[error(transparent)]
    TimedOut(#[from] crate::wait::TimedOut),
}

/// As [`bound`] for async callers that report rather than panic (the
/// benchmark harness): the address `child` announced as `role` in
/// `file`, within `limit`.
pub async fn announced(
    file: &Path,
    role: &str,
    child: &mut Child,
    limit: Duration,
) -> Result<SocketAddr, ListenError> {
    let pid = child.id();
    let what = format!("process {pid} to listen as `{role}`");
    let found = crate::wait::until(limit, Duration::from_millis(50), &what, || {
        let status = child.try_wait().ok().flatten();
        let addr = read_bound(file, role);
        async move {
            match (addr, status) {
                (Some(a), _) => Ok(Ok(a)),
                (None, Some(exit)) => Ok(Err(exit)),
                (None, None) => Err(String::new()),
            }
        }
    })
    .await?;
    found.map_err(|status| ListenError::Exited {
        pid,
        status,
        role: role.to_string(),
    })
}

/// A port on 127.0.0.1 free right now, for an address that must be known
/// before its process starts (an MDS's made by `make-mds`, a benchmark
/// peer's); see the module documentation. Anything that can bind port 0
/// and announce what it bound does that instead.
pub fn reserve_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_the_role_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("x.listen");
        std::fs::write(
            &f,
            "metrics 127.0.0.1:1\ns3 127.0.0.1:2\nbad\ns3 127.0.0.1:3\n",
        )
        .expect("write");
        assert_eq!(
            read_bound(&f, "s3"),
            Some("127.0.0.1:3".parse().expect("addr"))
        );
        assert_eq!(read_bound(&f, "mds"), None);
    }
}
