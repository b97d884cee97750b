//! Namespace errors that keep their errno from the moment they are made,
//! across the wire, to the door that answers the user (an errno for FUSE, an
//! S3 error code for the gateway). Never a generic EIO at the boundary.

use thiserror::Error;
use tonic::{metadata::MetadataValue, Code, Status};

/// Metadata key that carries the errno of a namespace error over gRPC.
pub const ERRNO_HEADER: &str = "cairn-errno";

/// Metadata key of a follower MDS's refusal: the leader's address (empty
/// while none is elected). The call was not executed: retry at the leader.
pub const LEADER_HEADER: &str = "cairn-mds-leader";

#[derive(Debug, Clone, Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FsError {
    #[error("no such file, directory, key or bucket: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Exists(String),
    #[error("not a directory: {0}")]
    NotDir(String),
    #[error("is a directory: {0}")]
    IsDir(String),
    #[error("directory not empty: {0}")]
    NotEmpty(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("name too long: {0}")]
    NameTooLong(String),
    #[error("cannot move across buckets: {0}")]
    CrossDevice(String),
    #[error("no space left: {0}")]
    NoSpace(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("too many links: {0}")]
    TooManyLinks(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// Refused whoever asks: a version under retention or legal hold.
    #[error("operation not permitted: {0}")]
    NotPermitted(String),
    #[error("operation not supported: {0}")]
    NotSupported(String),
    /// The target's state forbids the change (a bucket with object lock
    /// cannot suspend versioning).
    #[error("busy: {0}")]
    Conflict(String),
}

impl FsError {
    /// The POSIX errno a filesystem caller expects.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound(_) => libc::ENOENT,
            FsError::Exists(_) => libc::EEXIST,
            FsError::NotDir(_) => libc::ENOTDIR,
            FsError::IsDir(_) => libc::EISDIR,
            FsError::NotEmpty(_) => libc::ENOTEMPTY,
            FsError::Invalid(_) => libc::EINVAL,
            FsError::NameTooLong(_) => libc::ENAMETOOLONG,
            FsError::CrossDevice(_) => libc::EXDEV,
            FsError::NoSpace(_) => libc::ENOSPC,
            FsError::PermissionDenied(_) => libc::EACCES,
            FsError::PreconditionFailed(_) => libc::EAGAIN,
            FsError::TooManyLinks(_) => libc::EMLINK,
            FsError::Io(_) => libc::EIO,
            FsError::Unavailable(_) => libc::EIO,
            FsError::NotPermitted(_) => libc::EPERM,
            FsError::NotSupported(_) => libc::EOPNOTSUPP,
            FsError::Conflict(_) => libc::EBUSY,
        }
    }

    /// The errno's name, as the `cairn-errno` header carries it.
    pub fn tag(&self) -> &'static str {
        match self {
            FsError::NotFound(_) => "ENOENT",
            FsError::Exists(_) => "EEXIST",
            FsError::NotDir(_) => "ENOTDIR",
            FsError::IsDir(_) => "EISDIR",
            FsError::NotEmpty(_) => "ENOTEMPTY",
            FsError::Invalid(_) => "EINVAL",
            FsError::NameTooLong(_) => "ENAMETOOLONG",
            FsError::CrossDevice(_) => "EXDEV",
            FsError::NoSpace(_) => "ENOSPC",
            FsError::PermissionDenied(_) => "EACCES",
            FsError::PreconditionFailed(_) => "PRECONDITION",
            FsError::TooManyLinks(_) => "EMLINK",
            FsError::Io(_) => "EIO",
            FsError::Unavailable(_) => "UNAVAILABLE",
            FsError::NotPermitted(_) => "EPERM",
            FsError::NotSupported(_) => "EOPNOTSUPP",
            FsError::Conflict(_) => "EBUSY",
        }
    }

    /// The message, without the errno's name.
    pub fn detail(&self) -> &str {
        match self {
            FsError::NotFound(s)
            | FsError::Exists(s)
            | FsError::NotDir(s)
            | FsError::IsDir(s)
            | FsError::NotEmpty(s)
            | FsError::Invalid(s)
            | FsError::NameTooLong(s)
            | FsError::CrossDevice(s)
            | FsError::NoSpace(s)
            | FsError::PermissionDenied(s)
            | FsError::PreconditionFailed(s)
            | FsError::TooManyLinks(s)
            | FsError::Io(s)
            | FsError::Unavailable(s)
            | FsError::NotPermitted(s)
            | FsError::NotSupported(s)
            | FsError::Conflict(s) => s,
        }
    }

    /// Rebuilds the error a server sent; a status without the errno header
    /// (a transport failure, a refused credential) becomes `Unavailable` or
    /// `Io` with the status message.
    pub fn from_status(status: &Status) -> FsError {
        let msg = status.message().to_string();
        let tag = status
            .metadata()
            .get(ERRNO_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Some(err) = FsError::from_tag(tag, &msg) {
            return err;
        }
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                FsError::Unavailable(msg)
            }
            Code::Unauthenticated | Code::PermissionDenied => FsError::PermissionDenied(msg),
            Code::NotFound => FsError::NotFound(msg),
            Code::AlreadyExists => FsError::Exists(msg),
            Code::InvalidArgument => FsError::Invalid(msg),
            Code::ResourceExhausted => FsError::NoSpace(msg),
            Code::FailedPrecondition => FsError::PreconditionFailed(msg),
            _ => FsError::Io(msg),
        }
    }

    /// The error of errno tag `tag` (as [`FsError::tag`] names it) with
    /// message `msg`; None for a tag that names none.
    pub fn from_tag(tag: &str, msg: &str) -> Option<FsError> {
        let msg = msg.to_string();
        Some(match tag {
            "ENOENT" => FsError::NotFound(msg),
            "EEXIST" => FsError::Exists(msg),
            "ENOTDIR" => FsError::NotDir(msg),
            "EISDIR" => FsError::IsDir(msg),
            "ENOTEMPTY" => FsError::NotEmpty(msg),
            "EINVAL" => FsError::Invalid(msg),
            "ENAMETOOLONG" => FsError::NameTooLong(msg),
            "EXDEV" => FsError::CrossDevice(msg),
            "ENOSPC" => FsError::NoSpace(msg),
            "EACCES" => FsError::PermissionDenied(msg),
            "PRECONDITION" => FsError::PreconditionFailed(msg),
            "EMLINK" => FsError::TooManyLinks(msg),
            "EIO" => FsError::Io(msg),
            "UNAVAILABLE" => FsError::Unavailable(msg),
            "EPERM" => FsError::NotPermitted(msg),
            "EOPNOTSUPP" => FsError::NotSupported(msg),
            "EBUSY" => FsError::Conflict(msg),
            _ => return None,
        })
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

impl From<FsError> for Status {
    fn from(err: FsError) -> Status {
        let code = match &err {
            FsError::NotFound(_) => Code::NotFound,
            FsError::Exists(_) => Code::AlreadyExists,
            FsError::NoSpace(_) => Code::ResourceExhausted,
            FsError::PermissionDenied(_) | FsError::NotPermitted(_) => Code::PermissionDenied,
            FsError::NotSupported(_) => Code::Unimplemented,
            FsError::Conflict(_) => Code::FailedPrecondition,
            FsError::PreconditionFailed(_) => Code::FailedPrecondition,
            FsError::Io(_) => Code::Internal,
            FsError::Unavailable(_) => Code::Unavailable,
            _ => Code::InvalidArgument,
        };
        let mut status = Status::new(code, err.detail().to_string());
        status
            .metadata_mut()
            .insert(ERRNO_HEADER, MetadataValue::from_static(err.tag()));
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_over_status() {
        for err in [
            FsError::NotFound("a".into()),
            FsError::NotEmpty("b".into()),
            FsError::CrossDevice("c".into()),
            FsError::PreconditionFailed("d".into()),
            FsError::NotPermitted("e".into()),
            FsError::NotSupported("f".into()),
            FsError::Conflict("g".into()),
        ] {
            let status: Status = err.clone().into();
            assert_eq!(FsError::from_status(&status), err);
        }
        assert_eq!(FsError::NotEmpty(String::new()).errno(), libc::ENOTEMPTY);
    }

    #[test]
    fn tags_name_the_kind_back() {
        let full = FsError::NoSpace("chunk server 3 is full".into());
        assert_eq!(FsError::from_tag(full.tag(), full.detail()), Some(full));
        let gone = FsError::Unavailable("no answer in time".into());
        assert_eq!(FsError::from_tag(gone.tag(), gone.detail()), Some(gone));
        assert_eq!(FsError::from_tag("", "from an older peer"), None);
    }

    #[test]
    fn only_transport_codes_without_an_errno_are_transport_failures() {
        assert!(is_transport_failure(&Status::unavailable(
            "connect refused"
        )));
        assert!(is_transport_failure(&Status::cancelled("h2 reset")));
        assert!(!is_transport_failure(&Status::resource_exhausted("full")));
        let answered: Status = FsError::Unavailable("no leader".into()).into();
        assert!(!is_transport_failure(&answered));
    }
}
