//! The namespace operations and the rules of the projection.

use cairn_client::{NodeKind, SetAttr};
use cairn_common::ROOT_INO;

use super::{bucket, small_fs};
use crate::fs::{xattr_reply, XattrReply, XATTR_CREATE, XATTR_REPLACE};

#[tokio::test]
async fn top_level_is_buckets_only() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "alpha").await;
    assert_eq!(b.kind, NodeKind::Dir);
    // Owned by the mount's --owner key: closed to other S3 keys.
    assert_eq!(cluster.bucket_owner("alpha").as_deref(), Some("AKTEST"));
    assert_eq!(fs.lookup(ROOT_INO, b"alpha").await.unwrap().ino, b.ino);
    // Bad bucket names and files at the top level are refused with an errno.
    let e = fs
        .mkdir(ROOT_INO, b"No_Caps", 0o755, 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL);
    let e = fs
        .create(ROOT_INO, b"file", 0o644, 0, 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EPERM);
    let e = fs.symlink(ROOT_INO, b"l", b"x", 0, 0).await.unwrap_err();
    assert_eq!(e.errno(), libc::EPERM);
    // rmdir of a non-empty bucket, then of the empty one.
    fs.mkdir(b.ino, b"d", 0o755, 0, 0).await.unwrap();
    let e = fs.rmdir(ROOT_INO, b"alpha").await.unwrap_err();
    assert_eq!(e.errno(), libc::ENOTEMPTY);
    fs.rmdir(b.ino, b"d").await.unwrap();
    fs.rmdir(ROOT_INO, b"alpha").await.unwrap();
    assert_eq!(
        fs.lookup(ROOT_INO, b"alpha").await.unwrap_err().errno(),
        libc::ENOENT
    );
}

#[tokio::test]
async fn rename_replaces_and_refuses_across_buckets() {
    let (fs, _) = small_fs();
    let a = bucket(&fs, "aaa").await;
    let b = bucket(&fs, "bbb").await;
    let (f1, h1) = fs.create(a.ino, b"one", 0o644, 0, 0, 0).await.unwrap();
    fs.release(h1).await.unwrap();
    let (f2, h2) = fs.create(a.ino, b"two", 0o644, 0, 0, 0).await.unwrap();
    fs.release(h2).await.unwrap();
    // no_replace refuses, a plain rename replaces.
    let e = fs
        .rename(a.ino, b"one", a.ino, b"two", true)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST);
    fs.rename(a.ino, b"one", a.ino, b"two", false)
        .await
        .unwrap();
    assert_eq!(fs.lookup(a.ino, b"two").await.unwrap().ino, f1.ino);
    assert!(
        fs.getattr(f2.ino).await.is_err(),
        "the replaced file is gone"
    );
    let e = fs
        .rename(a.ino, b"two", b.ino, b"two", false)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EXDEV);
    let e = fs
        .rename(ROOT_INO, b"aaa", ROOT_INO, b"ccc", false)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EXDEV);
    // A directory over a non-empty directory.
    let d1 = fs.mkdir(a.ino, b"d1", 0o755, 0, 0).await.unwrap();
    let d2 = fs.mkdir(a.ino, b"d2", 0o755, 0, 0).await.unwrap();
    fs.mkdir(d2.ino, b"x", 0o755, 0, 0).await.unwrap();
    let e = fs
        .rename(a.ino, b"d1", a.ino, b"d2", false)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::ENOTEMPTY);
    fs.rename(a.ino, b"d2", d1.ino, b"moved", false)
        .await
        .unwrap();
    assert_eq!(fs.lookup(d1.ino, b"moved").await.unwrap().ino, d2.ino);
}

#[tokio::test]
async fn hard_links_and_symlinks() {
    let (fs, _) = small_fs();
    let b = bucket(&fs, "links").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, bytes::Bytes::from_static(b"shared"))
        .await
        .unwrap();
    fs.release(h).await.unwrap();
    let l = fs.link(f.ino, b.ino, b"g").await.unwrap();
    assert_eq!(l.ino, f.ino);
    assert_eq!(l.nlink, 2);
    fs.unlink(b.ino, b"f").await.unwrap();
    let h = fs.open(f.ino, libc::O_RDONLY).await.unwrap();
    assert_eq!(fs.read(h, 0, 100).await.unwrap(), b"shared");
    fs.release(h).await.unwrap();
    assert_eq!(fs.lookup(b.ino, b"g").await.unwrap().nlink, 1);
    let s = fs.symlink(b.ino, b"sym", b"g", 0, 0).await.unwrap();
    assert_eq!(s.kind, NodeKind::Symlink);
    assert_eq!(fs.readlink(s.ino).await.unwrap(), b"g");
    let e = fs.link(f.ino, ROOT_INO, b"x").await.unwrap_err();
    assert_eq!(e.errno(), libc::EPERM);
}

#[tokio::test]
async fn exclusive_create_and_unsupported_special_files() {
    let (fs, _) = small_fs();
    let b = bucket(&fs, "excl").await;
    let (_, h) = fs
        .create(b.ino, b"f", 0o600, 7, 8, libc::O_EXCL)
        .await
        .unwrap();
    fs.release(h).await.unwrap();
    let e = fs
        .create(b.ino, b"f", 0o600, 0, 0, libc::O_EXCL)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST);
    // Without O_EXCL the existing file is opened.
    let (n, h) = fs.create(b.ino, b"f", 0o600, 0, 0, 0).await.unwrap();
    assert_eq!((n.uid, n.gid, n.mode), (7, 8, 0o600));
    fs.release(h).await.unwrap();
    let n = fs
        .mknod(b.ino, b"fifo", libc::S_IFIFO | 0o644, 0, 0, 0)
        .await
        .unwrap();
    assert_eq!((n.kind, n.mode), (NodeKind::Fifo, 0o644));
    let n = fs
        .mknod(b.ino, b"reg", libc::S_IFREG | 0o640, 0, 0, 0)
        .await
        .unwrap();
    assert_eq!((n.kind, n.mode), (NodeKind::File, 0o640));
    let e = fs
        .mkdir(b.ino, &[b'x'; 256], 0o755, 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::ENAMETOOLONG);
}

#[tokio::test]
async fn readdir_pages_offsets_and_hidden_names() {
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "many").await;
    for i in 0..2500u32 {
        let name = format!("f{i:05}");
        let (_, h) = fs
            .create(b.ino, name.as_bytes(), 0o644, 0, 0, 0)
            .await
            .unwrap();
        fs.release(h).await.unwrap();
    }
    // A key that is not a POSIX name (made through S3) is left out.
    let odd = cluster.put_key("many", b"a//b", b"x");
    assert_eq!(cluster.content(odd.ino), b"x", "the key holds its object");
    let dh = fs.opendir(b.ino).await.unwrap();
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let page = fs.readdir(dh, offset, 300).await.unwrap();
        let Some(last) = page.last() else { break };
        offset = last.next;
        names.extend(page.into_iter().map(|e| e.name));
    }
    fs.releasedir(dh).unwrap();
    assert_eq!(names.len(), 2 + 2500);
    assert_eq!(names[0], b".");
    assert_eq!(names[1], b"..");
    assert_eq!(names[2], b"f00000");
    assert_eq!(names[2501], b"f02499");
    assert!(!names.iter().any(|n| n.starts_with(b"a")));
    assert_eq!(
        fs.readdir(dh, 0, 10).await.unwrap_err().errno(),
        libc::EBADF
    );
}

#[tokio::test]
async fn user_xattrs() {
    let (fs, _) = small_fs();
    let b = bucket(&fs, "xattr").await;
    let ino = b.ino;
    fs.setxattr(ino, "user.color", b"blue", 0).await.unwrap();
    assert_eq!(fs.getxattr(ino, "user.color").await.unwrap(), b"blue");
    let e = fs
        .setxattr(ino, "user.color", b"red", XATTR_CREATE)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST);
    let e = fs
        .setxattr(ino, "user.size", b"1", XATTR_REPLACE)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::ENODATA);
    fs.setxattr(ino, "user.size", b"1", XATTR_CREATE)
        .await
        .unwrap();
    assert_eq!(fs.listxattr(ino).await.unwrap(), b"user.color\0user.size\0");
    let e = fs.setxattr(ino, "trusted.x", b"1", 0).await.unwrap_err();
    assert_eq!(e.errno(), libc::EOPNOTSUPP);
    let e = fs.getxattr(ino, "security.selinux").await.unwrap_err();
    assert_eq!(e.errno(), libc::ENODATA);
    let e = fs
        .setxattr(ino, "user.big", &vec![0; 70_000], 0)
        .await
        .unwrap_err();
    assert_eq!(e.errno(), libc::E2BIG);
    fs.removexattr(ino, "user.color").await.unwrap();
    let e = fs.removexattr(ino, "user.color").await.unwrap_err();
    assert_eq!(e.errno(), libc::ENODATA);
    assert_eq!(
        xattr_reply(b"abc".to_vec(), 0).unwrap(),
        XattrReply::Size(3)
    );
    assert_eq!(
        xattr_reply(b"abc".to_vec(), 2).unwrap_err().errno(),
        libc::ERANGE
    );
    assert_eq!(
        xattr_reply(b"abc".to_vec(), 3).unwrap(),
        XattrReply::Data(b"abc".to_vec())
    );
}

#[tokio::test]
async fn chmod_chown_utimens_and_statfs() {
    let (fs, _) = small_fs();
    let b = bucket(&fs, "attrs").await;
    let (f, h) = fs.create(b.ino, b"f", 0o644, 0, 0, 0).await.unwrap();
    fs.write(h, 0, bytes::Bytes::from_static(b"data"))
        .await
        .unwrap();
    // utimens after a write and before close: the time set stays.
    let n = fs
        .setattr(
            f.ino,
            SetAttr {
                mode: Some(0o600),
                uid: Some(1000),
                gid: Some(1000),
                mtime_ns: Some(1_000_000_000),
                ..SetAttr::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((n.mode, n.uid, n.gid, n.size), (0o600, 1000, 1000, 4));
    fs.flush(h).await.unwrap();
    fs.release(h).await.unwrap();
    let n = fs.getattr(f.ino).await.unwrap();
    assert_eq!(n.mtime_ns, 1_000_000_000);
    assert_eq!(n.size, 4);
    let st = fs.statfs().await.unwrap();
    assert_eq!(st.blocks, (3u64 << 30) / 4096);
    assert_eq!(st.bfree, (2u64 << 30) / 4096);
    assert_eq!(st.namelen, 255);
}
