//! A writer's commit: the layout, size, ETag and mtime its batch made; in
//! a versioned bucket, into the version its window made or a new one
//! (`versions::before_rewrite`); and with `CommitWriteAttrs`, the mode,
//! owner and atime set on the open file since its last commit, applied
//! after the write as the chmod, chown or utimens came after it.

use cairn_common::ClusterError;

use super::{chunks, namespace, versions, Tables};
use crate::command::{AttrChange, Command, CommandReply};

pub(super) fn apply(t: &mut Tables, command: &Command) -> Result<CommandReply, ClusterError> {
    let (write, continues, attrs, now_ns) = match command {
        Command::CommitWrite {
            ino,
            extents,
            size,
            etag,
            mtime_ns,
            chunk_lengths,
            replace_layout,
            now_ns,
        } => (
            chunks::Write {
                ino: *ino,
                extents,
                size: *size,
                etag,
                mtime_ns: *mtime_ns,
                chunk_lengths,
                replace_layout: *replace_layout,
            },
            "",
            None,
            *now_ns,
        ),
        Command::CommitWriteIn {
            ino,
            extents,
            size,
            etag,
            mtime_ns,
            chunk_lengths,
            replace_layout,
            continues,
            now_ns,
        } => (
            chunks::Write {
                ino: *ino,
                extents,
                size: *size,
                etag,
                mtime_ns: *mtime_ns,
                chunk_lengths,
                replace_layout: *replace_layout,
            },
            continues.as_str(),
            None,
            *now_ns,
        ),
        Command::CommitWriteAttrs {
            write: w,
            attrs,
            now_ns,
        } => (
            chunks::Write {
                ino: w.ino,
                extents: &w.extents,
                size: w.size,
                etag: &w.etag,
                mtime_ns: w.mtime_ns,
                chunk_lengths: &w.chunk_lengths,
                replace_layout: w.replace_layout,
            },
            w.continues.as_str(),
            Some(attrs),
            *now_ns,
        ),
        other => {
            return Err(ClusterError::Invalid(format!(
                "{} is not a commit",
                other.name()
            )))
        }
    };
    let ino = write.ino;
    if let Some(attrs) = attrs {
        only_folded(attrs)?;
    }
    versions::before_rewrite(t, ino, continues, now_ns)?;
    let reply = chunks::commit_write(t, write, now_ns)?;
    match attrs {
        Some(attrs) if *attrs != AttrChange::default() => {
            namespace::set_attr(t, ino, attrs, None, now_ns)
        }
        _ => Ok(reply),
    }
}

/// A commit carries only what a mount folds into it: a size is the
/// commit's own, and replicas, tier and xattrs are asked on their own.
fn only_folded(attrs: &AttrChange) -> Result<(), ClusterError> {
    let folded = AttrChange {
        mode: attrs.mode,
        uid: attrs.uid,
        gid: attrs.gid,
        atime_ns: attrs.atime_ns,
        ..AttrChange::default()
    };
    if *attrs == folded {
        Ok(())
    } else {
        Err(ClusterError::Invalid(
            "a commit carries only mode, owner and atime".into(),
        ))
    }
}
