//! The filesystem's errors. Each one knows its errno from the moment it is
//! made: the cluster's own errors ([`ClusterError`]) keep theirs, and the few
//! that only a filesystem has (no such attribute, buffer too small, ...)
//! are named here. The FUSE adapter only ever calls [`Error::errno`].

use cairn_common::ClusterError;
use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Error {
    /// An error of the cluster or of the namespace, with its errno.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// getxattr/removexattr of an attribute that is not set.
    #[error("no such extended attribute: {0}")]
    NoAttr(String),
    /// The caller's buffer cannot hold the answer.
    #[error("buffer too small: {0}")]
    Range(String),
    /// An operation this filesystem does not do (xattrs outside `user.`,
    /// fallocate modes other than those of `fs::fallocate`).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// An operation the namespace forbids (files at the top level, where
    /// only buckets live).
    #[error("operation not permitted: {0}")]
    NotPermitted(String),
    /// A file handle that this mount did not hand out.
    /// A change inside the read-only `.versions` tree.
    #[error("read-only: {0}")]
    ReadOnly(String),
    #[error("bad file handle {0}")]
    BadHandle(u64),
    /// An extended attribute value or name over the limit.
    #[error("too large: {0}")]
    TooBig(String),
    /// A write beyond the largest file size.
    #[error("file too large: {0}")]
    FileTooBig(String),
    /// lseek SEEK_DATA/SEEK_HOLE at or past the end, or no data after it.
    #[error("no such offset: {0}")]
    NoSuchOffset(String),
    /// The cluster did not answer in time: the kernel gets EIO rather than
    /// a hung mount.
    #[error("timed out after {secs}s: {what}")]
    TimedOut { what: String, secs: u64 },
}

impl Error {
    /// The errno the kernel passes on to the caller.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Cluster(e) => e.errno(),
            Error::NoAttr(_) => libc::ENODATA,
            Error::Range(_) => libc::ERANGE,
            Error::NotSupported(_) => libc::EOPNOTSUPP,
            Error::NotPermitted(_) => libc::EPERM,
            Error::ReadOnly(_) => libc::EROFS,
            Error::BadHandle(_) => libc::EBADF,
            Error::TooBig(_) => libc::E2BIG,
            Error::FileTooBig(_) => libc::EFBIG,
            Error::TimedOut { .. } => libc::EIO,
            Error::NoSuchOffset(_) => libc::ENXIO,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_kept() {
        assert_eq!(
            Error::from(ClusterError::NotEmpty("d".into())).errno(),
            libc::ENOTEMPTY
        );
        assert_eq!(
            Error::from(ClusterError::CrossDevice("b".into())).errno(),
            libc::EXDEV
        );
        assert_eq!(Error::NoAttr("user.x".into()).errno(), libc::ENODATA);
        assert_eq!(Error::Range("user.x".into()).errno(), libc::ERANGE);
        assert_eq!(
            Error::TimedOut {
                what: "lookup".into(),
                secs: 1
            }
            .errno(),
            libc::EIO
        );
    }
}
