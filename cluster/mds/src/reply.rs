//! Typed command replies: a caller names the reply it expects
//! (`state.submit_for::<Inode>(command)`), and a reply of another shape
//! becomes one error here instead of a match arm at every call site.

use crate::command::{CommandReply, ReplicaRef};
use crate::schema::{AccessKeyInfo, BucketInfo, ChunkInfo, Inode, UploadInfo};

/// A reply shape: `take` says what came instead when it is another shape.
pub(crate) trait ReplyOf: Sized {
    fn take(reply: CommandReply) -> Result<Self, String>;
}

/// One new chunk: its id and record.
pub(crate) struct NewChunk(pub u64, pub ChunkInfo);

/// The id a new chunk server was given.
pub(crate) struct CsRegistered(pub u32);

/// Chunks a forced removal left without any replica.
pub(crate) struct CsRemoved(pub u64);

/// What a DeleteObject removed or made.
pub(crate) struct ObjectDeleted {
    pub version_id: String,
    pub delete_marker: bool,
}

/// What a chunk server's report changed: replicas it must delete, and
/// replicas to bring to their chunk's version (chunk, old, new).
pub(crate) struct Reconciled {
    pub deletes: Vec<ReplicaRef>,
    pub set_versions: Vec<(u64, u64, u64)>,
}

macro_rules! reply_of {
    ($t:ty, $pat:pat => $value:expr) => {
        impl ReplyOf for $t {
            fn take(reply: CommandReply) -> Result<Self, String> {
                match reply {
                    $pat => Ok($value),
                    other => Err(format!("{other:?}")),
                }
            }
        }
    };
}

reply_of!(Inode, CommandReply::Node(n) => n);
reply_of!(BucketInfo, CommandReply::Bucket(b) => b);
reply_of!(AccessKeyInfo, CommandReply::AccessKey(k) => k);
reply_of!(UploadInfo, CommandReply::Upload(u) => u);
reply_of!(Vec<(u64, ChunkInfo)>, CommandReply::Chunks(c) => c);
reply_of!(NewChunk, CommandReply::Chunk { chunk_id, chunk } => NewChunk(chunk_id, chunk));
reply_of!(CsRegistered, CommandReply::CsRegistered { cs_id } => CsRegistered(cs_id));
reply_of!(CsRemoved, CommandReply::CsRemoved { chunks_lost } => CsRemoved(chunks_lost));
reply_of!(
    ObjectDeleted,
    CommandReply::Deleted { version_id, delete_marker } => ObjectDeleted { version_id, delete_marker }
);

impl ReplyOf for Reconciled {
    fn take(reply: CommandReply) -> Result<Self, String> {
        match reply {
            CommandReply::Deletes(deletes) => Ok(Reconciled {
                deletes,
                set_versions: Vec::new(),
            }),
            CommandReply::Reconciled {
                deletes,
                set_versions,
            } => Ok(Reconciled {
                deletes,
                set_versions,
            }),
            other => Err(format!("{other:?}")),
        }
    }
}
