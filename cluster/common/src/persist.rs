//! How far a metadata change must reach before the MDS answers it.
//!
//! The S3 door promises that an acknowledged write is on stable storage, so
//! its changes wait for the fsync of the MDS log ([`Persist::Disk`], the
//! default). The FUSE door follows POSIX and MooseFS instead: create,
//! unlink or close does not force anything to disk, fsync does. Its
//! changes are answered once written to the OS on a majority of the MDS
//! ([`Persist::Os`]): they survive a `kill -9` of any process and reach the
//! disk within a second; a file's fsync then asks for a barrier that waits
//! for [`Persist::Disk`].

/// The gRPC header a client sets to ask for [`Persist::Os`]; a call
/// without it gets [`Persist::Disk`].
pub const PERSIST_HEADER: &str = "cairn-persist";

/// The header's value for [`Persist::Os`].
pub const PERSIST_OS: &str = "os";

/// Where a metadata change must be before the MDS answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Persist {
    /// Fsynced on a majority of the MDS: survives a power loss.
    #[default]
    Disk,
    /// Written to the OS on a majority of the MDS: survives a kill of any
    /// one process; fsynced within a second.
    Os,
}

impl Persist {
    /// What a call's `cairn-persist` header value asks for.
    pub fn from_header(value: Option<&[u8]>) -> Persist {
        match value {
            Some(v) if v == PERSIST_OS.as_bytes() => Persist::Os,
            _ => Persist::Disk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_os_value_relaxes() {
        assert_eq!(Persist::from_header(None), Persist::Disk);
        assert_eq!(Persist::from_header(Some(b"os")), Persist::Os);
        assert_eq!(Persist::from_header(Some(b"OS")), Persist::Disk);
        assert_eq!(Persist::from_header(Some(b"disk")), Persist::Disk);
    }
}
