//! Where a daemon tells which addresses it listens on, for the programs
//! that started it: when `CAIRN_LISTEN_FILE` names a file, every listener
//! bound appends one line `ROLE ADDR` to it (`mds`, `cs`, `s3`,
//! `s3-plain`, `metrics`; `cairn up` writes one for each of its parts),
//! once it is bound and before it serves. So a caller can ask
//! for port 0 and read the port the system chose, with no guessing and no
//! race. Without the variable nothing is written.
//!
//! Invariant: a line is written whole with one `write` on a file opened
//! for appending, so concurrent listeners of one process never interleave.

use std::{io::Write, net::SocketAddr};

/// The variable that names the file.
pub const LISTEN_FILE_ENV: &str = "CAIRN_LISTEN_FILE";

/// Appends `ROLE ADDR` to the listen file, if one is named. A failure is
/// logged, never fatal: the daemon serves all the same.
pub fn announce(role: &str, addr: SocketAddr) {
    let Some(path) = std::env::var_os(LISTEN_FILE_ENV) else {
        return;
    };
    let line = format!("{role} {addr}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(file = ?path, error = %e, "cannot write the listen file");
    }
}
