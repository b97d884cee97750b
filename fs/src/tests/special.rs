//! mknod of every file type through the filesystem logic (pjdfstest
//! style): kind, mode and device number kept, then unlink, rename and
//! link as for files.

use cairn_client::NodeKind;

use super::{bucket, small_fs};
use crate::attr::file_attr;

const TYPES: [(u32, NodeKind, u64); 4] = [
    (libc::S_IFIFO, NodeKind::Fifo, 0),
    (libc::S_IFSOCK, NodeKind::Socket, 0),
    (libc::S_IFCHR, NodeKind::CharDev, 0x0103),
    (libc::S_IFBLK, NodeKind::BlockDev, 0x0801),
];

#[tokio::test]
async fn mknod_of_every_type_then_rename_link_and_unlink() {
    let (fs, _cluster) = small_fs();
    let b = bucket(&fs, "bkt").await;
    for (i, (fmt, kind, rdev)) in TYPES.into_iter().enumerate() {
        let name = format!("n{i}");
        let n = fs
            .mknod(b.ino, name.as_bytes(), fmt | 0o640, rdev, 5, 6)
            .await
            .unwrap();
        let attr = file_attr(&fs.getattr(n.ino).await.unwrap());
        assert_eq!(attr.kind, crate::attr::file_type(kind));
        assert_eq!((attr.perm, attr.uid, attr.gid), (0o640, 5, 6));
        assert_eq!((u64::from(attr.rdev), attr.size, attr.nlink), (rdev, 0, 1));
        // The name is taken.
        let again = fs.mknod(b.ino, name.as_bytes(), fmt | 0o640, rdev, 5, 6);
        assert_eq!(again.await.unwrap_err().errno(), libc::EEXIST);
        // rename, link, unlink.
        fs.rename(b.ino, name.as_bytes(), b.ino, b"moved", false)
            .await
            .unwrap();
        let l = fs.link(n.ino, b.ino, b"linked").await.unwrap();
        assert_eq!((l.ino, l.nlink), (n.ino, 2));
        fs.unlink(b.ino, b"moved").await.unwrap();
        assert_eq!(fs.lookup(b.ino, b"linked").await.unwrap().nlink, 1);
        fs.unlink(b.ino, b"linked").await.unwrap();
        let gone = fs.lookup(b.ino, b"linked").await.unwrap_err();
        assert_eq!(gone.errno(), libc::ENOENT);
    }
    // A device number only sticks to devices; a directory is no mknod.
    let fifo = fs
        .mknod(b.ino, b"p", libc::S_IFIFO | 0o600, 77, 0, 0)
        .await
        .unwrap();
    assert_eq!(fifo.rdev, 0);
    let dir = fs.mknod(b.ino, b"d", libc::S_IFDIR | 0o700, 0, 0, 0).await;
    assert_eq!(dir.unwrap_err().errno(), libc::EINVAL);
    // Not at the top level.
    let top = fs.mknod(1, b"p", libc::S_IFIFO | 0o600, 0, 0, 0).await;
    assert_eq!(top.unwrap_err().errno(), libc::EPERM);
}
