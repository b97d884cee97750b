//! Namespace calls: names, attributes, directories, links, and the
//! commit of a file's writes (the FUSE door's side of the tree).

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::{retry::Retry, Client, Commit, NamedInode, Node, NodeKind, WrittenData};

/// Attribute changes for [`Client::setattr`]; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime_ns: Option<i64>,
    pub mtime_ns: Option<i64>,
    pub replicas: Option<u32>,
    /// Fewest replicas a write may go on with (0: the default for the
    /// replica count).
    pub min_replicas: Option<u32>,
    pub tier: Option<u32>,
    pub set_xattrs: Vec<(String, Vec<u8>)>,
    pub remove_xattrs: Vec<String>,
}

pub(crate) fn name_error(what: &str) -> impl Fn(&[u8]) -> Result<(), ClusterError> + '_ {
    move |name: &[u8]| {
        if name.is_empty() {
            Err(ClusterError::Invalid(format!("empty {what}")))
        } else {
            Ok(())
        }
    }
}

impl Client {
    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, ClusterError> {
        let req = pb::LookupRequest {
            parent,
            name: name.to_vec(),
        };
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.lookup(r).await
            })
            .await
            .map(Node::from)
    }

    pub async fn getattr(&self, ino: u64) -> Result<Node, ClusterError> {
        self.inner
            .mds
            .metadata(
                Retry::Idempotent,
                pb::InoRequest { ino },
                |mut m, r| async move { m.get_attr(r).await },
            )
            .await
            .map(Node::from)
    }

    pub async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, ClusterError> {
        let req = pb::SetAttrRequest {
            ino,
            mode: attr.mode,
            uid: attr.uid,
            gid: attr.gid,
            size: attr.size,
            atime_ns: attr.atime_ns,
            mtime_ns: attr.mtime_ns,
            replicas: attr.replicas,
            min_replicas: attr.min_replicas,
            tier: attr.tier,
            set_xattrs: attr.set_xattrs.into_iter().collect(),
            remove_xattrs: attr.remove_xattrs,
            session: self.session(),
        };
        self.inner
            .mds
            .metadata(
                Retry::Once,
                req,
                |mut m, r| async move { m.set_attr(r).await },
            )
            .await
            .map(Node::from)
    }

    /// Creates a file, directory or symlink (`target` for a symlink).
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        parent: u64,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        target: &[u8],
        exclusive: bool,
    ) -> Result<Node, ClusterError> {
        name_error("name")(name)?;
        let req = pb::CreateRequest {
            parent,
            name: name.to_vec(),
            kind: pb::NodeKind::from(kind) as i32,
            mode,
            uid,
            gid,
            symlink_target: target.to_vec(),
            exclusive,
            rdev: 0,
            session: self.session(),
        };
        let node = self
            .inner
            .mds
            .metadata(
                Retry::Once,
                req,
                |mut m, r| async move { m.create(r).await },
            )
            .await
            .map(Node::from)?;
        if node.kind == NodeKind::File {
            self.leased_at_create(node.ino);
        }
        Ok(node)
    }

    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        let req = pb::UnlinkRequest {
            parent,
            name: name.to_vec(),
            ino: 0,
        };
        self.inner
            .mds
            .metadata(
                Retry::Once,
                req,
                |mut m, r| async move { m.unlink(r).await },
            )
            .await
            .map(|_| ())
    }

    /// Makes `unlinks`, each conditional on its inode, in one call and one
    /// group commit; one outcome each, in order. The call as a whole fails
    /// only when the MDS could not be asked (it is retried until the
    /// timeout, since every unlink in it is safe to retry).
    pub async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), ClusterError>>, ClusterError> {
        let req = pb::UnlinkManyRequest {
            unlinks: unlinks
                .iter()
                .map(|u| pb::UnlinkRequest {
                    parent: u.parent,
                    name: u.name.clone(),
                    ino: u.ino,
                })
                .collect(),
        };
        let reply = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.unlink_many(r).await
            })
            .await?;
        if reply.outcomes.len() != unlinks.len() {
            return Err(ClusterError::Io(format!(
                "the MDS answered {} outcomes for {} unlinks",
                reply.outcomes.len(),
                unlinks.len()
            )));
        }
        Ok(reply
            .outcomes
            .into_iter()
            .map(|o| match o.errno.as_str() {
                "" => Ok(()),
                tag => Err(ClusterError::from_tag(tag, &o.message)
                    .unwrap_or_else(|| ClusterError::Io(format!("{tag}: {}", o.message)))),
            })
            .collect())
    }

    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), ClusterError> {
        let req = pb::NameRequest {
            parent,
            name: name.to_vec(),
        };
        self.inner
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move { m.rmdir(r).await })
            .await
            .map(|_| ())
    }

    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), ClusterError> {
        let req = pb::RenameRequest {
            parent,
            name: name.to_vec(),
            new_parent,
            new_name: new_name.to_vec(),
            no_replace,
        };
        self.inner
            .mds
            .metadata(
                Retry::Once,
                req,
                |mut m, r| async move { m.rename(r).await },
            )
            .await
            .map(|_| ())
    }

    pub async fn link(
        &self,
        ino: u64,
        new_parent: u64,
        new_name: &[u8],
    ) -> Result<Node, ClusterError> {
        let req = pb::LinkRequest {
            ino,
            new_parent,
            new_name: new_name.to_vec(),
        };
        self.inner
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move { m.link(r).await })
            .await
            .map(Node::from)
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>, ClusterError> {
        self.inner
            .mds
            .metadata(
                Retry::Idempotent,
                pb::InoRequest { ino },
                |mut m, r| async move { m.readlink(r).await },
            )
            .await
            .map(|r| r.target)
    }

    /// One page of a directory, names after `after`; `more` is true when
    /// another page follows.
    pub async fn readdir(
        &self,
        ino: u64,
        after: &[u8],
        limit: u32,
    ) -> Result<(Vec<(Vec<u8>, Node)>, bool), ClusterError> {
        let req = pb::ReaddirRequest {
            ino,
            after: after.to_vec(),
            limit,
        };
        let reply = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.readdir(r).await
            })
            .await?;
        let entries = reply
            .entries
            .into_iter()
            .map(|e| (e.name, e.node.map(Node::from)))
            .filter_map(|(name, node)| node.map(|n| (name, n)))
            .collect();
        Ok((entries, reply.more))
    }

    /// Answers once every metadata change this client was answered is on
    /// stable storage on a majority of the MDS: what fsync adds for a
    /// client whose changes ask for [`Persist::Os`].
    pub async fn sync_metadata(&self) -> Result<(), ClusterError> {
        self.inner
            .mds
            .metadata(Retry::Idempotent, pb::Empty {}, |mut m, r| async move {
                m.sync_metadata(r).await
            })
            .await
            .map(|_| ())
    }

    /// Says that bytes of file `ino` in `chunk_ids` were written in place
    /// and synced with no commit (see the MDS's `WroteInPlace`).
    pub async fn wrote_in_place(&self, ino: u64, chunk_ids: &[u64]) -> Result<(), ClusterError> {
        let req = pb::WroteInPlaceRequest {
            session: self.session(),
            ino,
            chunk_ids: chunk_ids.to_vec(),
        };
        // Saying it twice only wakes the other mounts twice.
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.wrote_in_place(r).await
            })
            .await
            .map(|_| ())
    }

    /// Applies a write to a file's layout (the FUSE door's commit).
    pub async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, ClusterError> {
        let req = pb::CommitWriteRequest {
            ino,
            extents: written
                .extents
                .iter()
                .copied()
                .map(pb::Extent::from)
                .collect(),
            size: commit.size,
            etag: commit.etag.into(),
            mtime_ns: commit.mtime_ns,
            chunk_lengths: written.chunk_lengths_pb(),
            replace_layout: commit.replace_layout,
            continues_version: commit.continues_version.into(),
            session: self.session(),
            mode: commit.attrs.mode,
            uid: commit.attrs.uid,
            gid: commit.attrs.gid,
            atime_ns: commit.attrs.atime_ns,
        };
        self.inner
            .mds
            .metadata(Retry::Once, req, |mut m, r| async move {
                m.commit_write(r).await
            })
            .await
            .map(Node::from)
    }
}
