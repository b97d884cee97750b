//! [`ClusterError`]: the error of every call into the cluster (namespace,
//! objects, chunks), which keeps its errno from the moment it is made,
//! across the wire, to the door that answers the user (an errno for FUSE, an
//! S3 error code for the gateway). Never a generic EIO at the boundary.

use thiserror::Error;

#[cfg(feature = "rpc")]
pub use self::rpc::is_transport_failure;

/// Metadata key that carries the errno of a namespace error over gRPC.
pub const ERRNO_HEADER: &str = "cairn-errno";

/// Metadata key of a follower MDS's refusal: the leader's address (empty
/// while none is elected). The call was not executed: retry at the leader.
pub const LEADER_HEADER: &str = "cairn-mds-leader";

/// Declares [`ClusterError`] and everything derived from its kinds, from one
/// table: each kind's errno (for FUSE), its tag (the `cairn-errno` header
/// that carries it over gRPC), the gRPC code a server answers with, and
/// its message. A kind added here is complete everywhere; the S3 code of
/// each kind is chosen in one place too (`cairn-gateway`'s `cluster_error`).
macro_rules! cluster_errors {
    ($(
        $(#[$doc:meta])*
        $kind:ident => ($errno:ident, $tag:literal, $code:ident, $what:literal),
    )*) => {
        #[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum ClusterError {
            $(
                $(#[$doc])*
                #[error("{what}: {0}", what = $what)]
                $kind(String),
            )*
        }

        impl ClusterError {
            /// The POSIX errno a filesystem caller expects.
            pub fn errno(&self) -> i32 {
                match self {
                    $(ClusterError::$kind(_) => libc::$errno,)*
                }
            }

            /// The errno's name, as the `cairn-errno` header carries it.
            pub fn tag(&self) -> &'static str {
                match self {
                    $(ClusterError::$kind(_) => $tag,)*
                }
            }

            /// The message, without the errno's name.
            pub fn detail(&self) -> &str {
                match self {
                    $(ClusterError::$kind(s) => s,)*
                }
            }

            /// The gRPC code a server answers this error with.
            #[cfg(feature = "rpc")]
            fn code(&self) -> tonic::Code {
                match self {
                    $(ClusterError::$kind(_) => tonic::Code::$code,)*
                }
            }

            /// The error of errno tag `tag` (as [`ClusterError::tag`] names it)
            /// with message `msg`; None for a tag that names none.
            pub fn from_tag(tag: &str, msg: &str) -> Option<ClusterError> {
                match tag {
                    $($tag => Some(ClusterError::$kind(msg.to_string())),)*
                    _ => None,
                }
            }
        }
    };
}

cluster_errors! {
    NotFound => (ENOENT, "ENOENT", NotFound, "no such file, directory, key or bucket"),
    Exists => (EEXIST, "EEXIST", AlreadyExists, "already exists"),
    NotDir => (ENOTDIR, "ENOTDIR", InvalidArgument, "not a directory"),
    IsDir => (EISDIR, "EISDIR", InvalidArgument, "is a directory"),
    NotEmpty => (ENOTEMPTY, "ENOTEMPTY", InvalidArgument, "directory not empty"),
    Invalid => (EINVAL, "EINVAL", InvalidArgument, "invalid argument"),
    NameTooLong => (ENAMETOOLONG, "ENAMETOOLONG", InvalidArgument, "name too long"),
    CrossDevice => (EXDEV, "EXDEV", InvalidArgument, "cannot move across buckets"),
    NoSpace => (ENOSPC, "ENOSPC", ResourceExhausted, "no space left"),
    PermissionDenied => (EACCES, "EACCES", PermissionDenied, "permission denied"),
    /// A condition of the request (an ETag, an existing name) does not hold.
    PreconditionFailed => (EAGAIN, "PRECONDITION", FailedPrecondition, "precondition failed"),
    TooManyLinks => (EMLINK, "EMLINK", InvalidArgument, "too many links"),
    Io => (EIO, "EIO", Internal, "I/O error"),
    /// Not enough of the cluster reachable (no MDS leader, too few hosts):
    /// worth a retry.
    Unavailable => (EIO, "UNAVAILABLE", Unavailable, "cluster unavailable"),
    /// Refused whoever asks: a version under retention or legal hold.
    NotPermitted => (EPERM, "EPERM", PermissionDenied, "operation not permitted"),
    NotSupported => (EOPNOTSUPP, "EOPNOTSUPP", Unimplemented, "operation not supported"),
    /// The target's state forbids the change (a bucket with object lock
    /// cannot suspend versioning).
    Conflict => (EBUSY, "EBUSY", FailedPrecondition, "busy"),
    /// A lock another owner holds is in the way (`F_SETLK`).
    WouldBlock => (EAGAIN, "EAGAIN", FailedPrecondition, "resource temporarily unavailable"),
    /// Waiting for the lock would close a cycle of waiters (`F_SETLKW`).
    Deadlock => (EDEADLK, "EDEADLK", FailedPrecondition, "resource deadlock avoided"),
    /// The caller gave up while waiting (a signal): `EINTR`.
    Interrupted => (EINTR, "EINTR", Cancelled, "interrupted"),
}

/// An error's trip over gRPC: only RPC processes build it (the metadata
/// core makes and matches `ClusterError`s without tonic).
#[cfg(feature = "rpc")]
mod rpc {
    use tonic::{metadata::MetadataValue, Code, Status};

    use super::{ClusterError, ERRNO_HEADER};

    impl ClusterError {
        /// Rebuilds the error a server sent; a status without the errno header
        /// (a transport failure, a refused credential) becomes `Unavailable` or
        /// `Io` with the status message.
        pub fn from_status(status: &Status) -> ClusterError {
            let msg = status.message().to_string();
            let tag = status
                .metadata()
                .get(ERRNO_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if let Some(err) = ClusterError::from_tag(tag, &msg) {
                return err;
            }
            match status.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                    ClusterError::Unavailable(msg)
                }
                Code::Unauthenticated | Code::PermissionDenied => {
                    ClusterError::PermissionDenied(msg)
                }
                Code::NotFound => ClusterError::NotFound(msg),
                Code::AlreadyExists => ClusterError::Exists(msg),
                Code::InvalidArgument => ClusterError::Invalid(msg),
                Code::ResourceExhausted => ClusterError::NoSpace(msg),
                Code::FailedPrecondition => ClusterError::PreconditionFailed(msg),
                _ => ClusterError::Io(msg),
            }
        }
    }

    /// A status that says the peer was not reached or did not answer (no
    /// handler made it: no errno header, and a code only the transport uses).
    pub fn is_transport_failure(status: &Status) -> bool {
        status.metadata().get(ERRNO_HEADER).is_none()
            && matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
            )
    }

    impl From<ClusterError> for Status {
        fn from(err: ClusterError) -> Status {
            let code = err.code();
            let mut status = Status::new(code, err.detail().to_string());
            status
                .metadata_mut()
                .insert(ERRNO_HEADER, MetadataValue::from_static(err.tag()));
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rpc")]
    #[test]
    fn round_trips_over_status() {
        use tonic::Status;
        for err in [
            ClusterError::NotFound("a".into()),
            ClusterError::NotEmpty("b".into()),
            ClusterError::CrossDevice("c".into()),
            ClusterError::PreconditionFailed("d".into()),
            ClusterError::NotPermitted("e".into()),
            ClusterError::NotSupported("f".into()),
            ClusterError::Conflict("g".into()),
            ClusterError::WouldBlock("h".into()),
            ClusterError::Deadlock("i".into()),
        ] {
            let status: Status = err.clone().into();
            assert_eq!(ClusterError::from_status(&status), err);
        }
    }

    #[test]
    fn tags_name_the_kind_back() {
        let full = ClusterError::NoSpace("chunk server 3 is full".into());
        assert_eq!(
            ClusterError::from_tag(full.tag(), full.detail()),
            Some(full)
        );
        let gone = ClusterError::Unavailable("no answer in time".into());
        assert_eq!(
            ClusterError::from_tag(gone.tag(), gone.detail()),
            Some(gone)
        );
        assert_eq!(ClusterError::from_tag("", "from an older peer"), None);
        assert_eq!(
            ClusterError::NotEmpty(String::new()).errno(),
            libc::ENOTEMPTY
        );
    }

    #[cfg(feature = "rpc")]
    #[test]
    fn only_transport_codes_without_an_errno_are_transport_failures() {
        use tonic::Status;
        assert!(is_transport_failure(&Status::unavailable(
            "connect refused"
        )));
        assert!(is_transport_failure(&Status::cancelled("h2 reset")));
        assert!(!is_transport_failure(&Status::resource_exhausted("full")));
        let answered: Status = ClusterError::Unavailable("no leader".into()).into();
        assert!(!is_transport_failure(&answered));
    }
}
