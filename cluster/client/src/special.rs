//! Calls of issue 19's mount features: special files (mknod, mkfifo,
//! bind), holes (fallocate's PUNCH_HOLE and ZERO_RANGE) and ranges cloned
//! by sharing chunks (copy_file_range).

use cairn_common::ClusterError;
use cairn_proto as pb;

use crate::{namespace::name_error, retry::Retry, Client, Node, NodeKind};

impl Client {
    /// Makes a FIFO, socket or device node (`rdev`: the device number of
    /// a device, else 0). Exclusive: EEXIST if the name exists.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_special(
        &self,
        parent: u64,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        rdev: u64,
    ) -> Result<Node, ClusterError> {
        name_error("name")(name)?;
        if !kind.is_special() {
            return Err(ClusterError::Invalid(format!(
                "{kind:?} is not a FIFO, socket or device node"
            )));
        }
        let req = pb::CreateRequest {
            parent,
            name: name.to_vec(),
            kind: pb::NodeKind::from(kind) as i32,
            mode,
            uid,
            gid,
            symlink_target: Vec::new(),
            exclusive: true,
            rdev,
            session: String::new(),
        };
        self.inner
            .mds
            .metadata(
                Retry::Once,
                req,
                |mut m, r| async move { m.create(r).await },
            )
            .await
            .map(Node::from)
    }

    /// Drops bytes `[offset, offset + length)` of file `ino` from its
    /// layout: they read as zeros; chunks no extent names any more go
    /// back to the cluster. The size stays. Idempotent: a retry punches
    /// the same hole.
    pub async fn punch_hole(
        &self,
        ino: u64,
        offset: u64,
        length: u64,
    ) -> Result<Node, ClusterError> {
        let req = pb::PunchHoleRequest {
            ino,
            offset,
            length,
            session: self.session(),
        };
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.punch_hole(r).await
            })
            .await
            .map(Node::from)
    }

    /// Bytes `[src_offset, src_offset + length)` of file `src` (clamped to
    /// its size) become bytes from `dst_offset` of file `dst`, sharing the
    /// source's chunks (`copy_file_range`). Idempotent: a retry makes the
    /// same layout. Answers the destination.
    pub async fn clone_range(
        &self,
        src: u64,
        src_offset: u64,
        dst: u64,
        dst_offset: u64,
        length: u64,
    ) -> Result<Node, ClusterError> {
        let req = pb::CloneRangeRequest {
            src,
            src_offset,
            dst,
            dst_offset,
            length,
            session: self.session(),
        };
        self.inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.clone_range(r).await
            })
            .await
            .map(Node::from)
    }
}
