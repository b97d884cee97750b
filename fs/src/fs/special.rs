//! mknod: regular files, and the special files a container's root
//! filesystem holds (FIFOs from mkfifo, UNIX sockets from bind, character
//! and block devices). A special file is an inode of the namespace with
//! its mode, owner and device number, and nothing else: the kernel itself
//! runs the pipe, the socket or the driver behind it, so no open, read or
//! write of one reaches the mount. Through S3 they are not objects.

use super::*;

/// The node kind `mknod`'s mode asks for (its `S_IFMT` bits; none: a
/// regular file).
pub fn kind_of_mode(mode: u32) -> Result<NodeKind> {
    match mode & libc::S_IFMT {
        0 | libc::S_IFREG => Ok(NodeKind::File),
        libc::S_IFIFO => Ok(NodeKind::Fifo),
        libc::S_IFSOCK => Ok(NodeKind::Socket),
        libc::S_IFCHR => Ok(NodeKind::CharDev),
        libc::S_IFBLK => Ok(NodeKind::BlockDev),
        other => Err(ClusterError::Invalid(format!(
            "mknod of file type {other:#o}: regular files, FIFOs, sockets and devices only"
        ))
        .into()),
    }
}

impl<B: Backend> Fs<B> {
    /// mknod (and mkfifo, and bind of a UNIX socket); `rdev` is kept for
    /// devices only.
    pub async fn mknod(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        rdev: u64,
        uid: u32,
        gid: u32,
    ) -> Result<Node> {
        self.refuse_virtual(parent)?;
        let kind = kind_of_mode(mode)?;
        let device = matches!(kind, NodeKind::CharDev | NodeKind::BlockDev);
        self.make_node(NewNode {
            parent,
            name,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            target: b"",
            exclusive: true,
            rdev: if device { rdev } else { 0 },
        })
        .await
    }
}
