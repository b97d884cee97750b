//! What an inode is, as the MDS stores it and every door sees it: one type
//! for the metadata core, the client library and the doors.

use serde::{Deserialize, Serialize};

#[cfg(feature = "rpc")]
use crate::ClusterError;

/// The kind of an inode. Stored with postcard, which numbers variants in
/// order: a new kind is appended, never inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    // Special files: inodes of the namespace with no content and no key
    // (never S3 objects).
    Fifo,
    Socket,
    CharDev,
    BlockDev,
}

impl NodeKind {
    /// A FIFO, socket or device node: no content, no key.
    pub fn is_special(self) -> bool {
        matches!(
            self,
            NodeKind::Fifo | NodeKind::Socket | NodeKind::CharDev | NodeKind::BlockDev
        )
    }

    /// The kind a wire value names; `None` for UNSPECIFIED, an error for a
    /// value this version does not know.
    #[cfg(feature = "rpc")]
    pub fn from_wire(kind: i32) -> Result<Option<NodeKind>, ClusterError> {
        use cairn_proto::NodeKind as Wire;
        match Wire::try_from(kind) {
            Ok(Wire::Unspecified) => Ok(None),
            Ok(Wire::File) => Ok(Some(NodeKind::File)),
            Ok(Wire::Dir) => Ok(Some(NodeKind::Dir)),
            Ok(Wire::Symlink) => Ok(Some(NodeKind::Symlink)),
            Ok(Wire::Fifo) => Ok(Some(NodeKind::Fifo)),
            Ok(Wire::Socket) => Ok(Some(NodeKind::Socket)),
            Ok(Wire::CharDev) => Ok(Some(NodeKind::CharDev)),
            Ok(Wire::BlockDev) => Ok(Some(NodeKind::BlockDev)),
            Err(_) => Err(ClusterError::Invalid(format!("unknown node kind {kind}"))),
        }
    }
}

#[cfg(feature = "rpc")]
impl From<NodeKind> for cairn_proto::NodeKind {
    fn from(kind: NodeKind) -> Self {
        use cairn_proto::NodeKind as Wire;
        match kind {
            NodeKind::File => Wire::File,
            NodeKind::Dir => Wire::Dir,
            NodeKind::Symlink => Wire::Symlink,
            NodeKind::Fifo => Wire::Fifo,
            NodeKind::Socket => Wire::Socket,
            NodeKind::CharDev => Wire::CharDev,
            NodeKind::BlockDev => Wire::BlockDev,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rpc")]
    #[test]
    fn every_kind_crosses_the_wire_and_back() {
        for kind in [
            NodeKind::File,
            NodeKind::Dir,
            NodeKind::Symlink,
            NodeKind::Fifo,
            NodeKind::Socket,
            NodeKind::CharDev,
            NodeKind::BlockDev,
        ] {
            let wire = cairn_proto::NodeKind::from(kind) as i32;
            assert_eq!(NodeKind::from_wire(wire), Ok(Some(kind)));
        }
        assert_eq!(NodeKind::from_wire(0), Ok(None), "UNSPECIFIED");
        assert!(matches!(
            NodeKind::from_wire(99),
            Err(ClusterError::Invalid(m)) if m.contains("99")
        ));
    }

    #[test]
    fn stored_numbers_do_not_move() {
        // postcard writes a variant's index: these are on every MDS's disk.
        let stored: Vec<u8> = [NodeKind::File, NodeKind::Symlink, NodeKind::BlockDev]
            .iter()
            .flat_map(|k| postcard::to_allocvec(k).expect("encode"))
            .collect();
        assert_eq!(stored, vec![0, 2, 6]);
    }
}
