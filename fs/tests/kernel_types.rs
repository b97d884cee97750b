//! Every file type through the kernel, over a real cluster on loopback
//! (pjdfstest style): a FIFO carries bytes from a writer to a reader, a
//! UNIX socket bound on the mount accepts a connection, a character device
//! keeps its device number; each is renamed, linked and unlinked like a
//! file, and none of them is an S3 object. Also `df`: statfs reports the
//! allocatable space that `cairn stat` shows.

mod common;

use std::{
    ffi::CString,
    io::{Read, Write},
    os::unix::{
        ffi::OsStrExt,
        fs::{FileTypeExt, MetadataExt},
        net::{UnixListener, UnixStream},
    },
    path::Path,
};

use common::{blocking, can_mount, cluster::Cluster, scenarios, Mounted};

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn mknod(p: &Path, mode: u32, dev: libc::dev_t) -> std::io::Result<()> {
    // SAFETY: a valid C string; mknod reads nothing else.
    let rc = unsafe { libc::mknod(c_path(p).as_ptr(), mode, dev) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn special_files(root: &Path) {
    let b = scenarios::bucket(root, "types");

    // A FIFO: a writer and a reader meet through it.
    let fifo = b.join("fifo");
    mknod(&fifo, libc::S_IFIFO | 0o640, 0).expect("mkfifo");
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.mode() & 0o7777, 0o640);
    let f = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        w.write_all(b"through the pipe").unwrap();
    });
    let mut got = String::new();
    std::fs::File::open(&fifo)
        .unwrap()
        .read_to_string(&mut got)
        .unwrap();
    writer.join().unwrap();
    assert_eq!(got, "through the pipe");

    // A UNIX socket bound on the mount, and a connection to it.
    let sock = b.join("sock");
    let listener = UnixListener::bind(&sock).expect("bind on the mount");
    assert!(std::fs::symlink_metadata(&sock)
        .unwrap()
        .file_type()
        .is_socket());
    let s = sock.clone();
    let client = std::thread::spawn(move || {
        let mut c = UnixStream::connect(&s).unwrap();
        c.write_all(b"ping").unwrap();
        let mut answer = [0u8; 4];
        c.read_exact(&mut answer).unwrap();
        answer
    });
    let (mut conn, _) = listener.accept().unwrap();
    let mut ping = [0u8; 4];
    conn.read_exact(&mut ping).unwrap();
    conn.write_all(b"pong").unwrap();
    assert_eq!(&ping, b"ping");
    assert_eq!(&client.join().unwrap(), b"pong");
    drop(listener);

    // Devices keep their numbers (root may make them).
    let dev = libc::makedev(1, 3);
    mknod(&b.join("null"), libc::S_IFCHR | 0o666, dev).expect("mknod c 1 3");
    let m = std::fs::symlink_metadata(b.join("null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), dev);
    let blk = libc::makedev(8, 1);
    mknod(&b.join("disk"), libc::S_IFBLK | 0o600, blk).expect("mknod b 8 1");
    let m = std::fs::symlink_metadata(b.join("disk")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!((m.rdev(), m.len()), (blk, 0));
    // The name is taken.
    let again = mknod(&b.join("null"), libc::S_IFCHR | 0o666, dev);
    assert_eq!(again.unwrap_err().raw_os_error(), Some(libc::EEXIST));

    // rename, link, unlink, as for files.
    std::fs::create_dir(b.join("sub")).unwrap();
    for name in ["fifo", "sock", "null", "disk"] {
        let ino = std::fs::symlink_metadata(b.join(name)).unwrap().ino();
        let moved = b.join("sub").join(name);
        std::fs::rename(b.join(name), &moved).unwrap();
        assert!(!b.join(name).exists());
        std::fs::hard_link(&moved, b.join(format!("{name}.link"))).unwrap();
        let m = std::fs::symlink_metadata(&moved).unwrap();
        assert_eq!((m.ino(), m.nlink()), (ino, 2));
        std::fs::remove_file(&moved).unwrap();
        assert_eq!(
            std::fs::symlink_metadata(b.join(format!("{name}.link")))
                .unwrap()
                .nlink(),
            1
        );
    }
    // Back for the S3 checks.
    std::fs::write(b.join("sub/file"), b"an object").unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["disk.link", "fifo.link", "null.link", "sock.link", "sub"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_file_type_and_statfs_through_the_kernel() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    let cluster = Cluster::start().await;
    let m = Mounted::start(cluster.client()).await;
    let root = m.path();
    let r = root.clone();
    blocking(move || special_files(&r)).await;

    // Through S3 they are not objects: not listed, not found.
    let client = cluster.client();
    let (keys, _) = client.list_objects("types", b"", b"", 1000).await.unwrap();
    let keys: Vec<String> = keys
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect();
    assert_eq!(keys, ["sub/", "sub/file"]);
    for key in ["fifo.link", "sock.link", "null.link", "disk.link"] {
        let e = client
            .head_object("types", key.as_bytes())
            .await
            .unwrap_err();
        assert_eq!(e.errno(), libc::ENOENT, "HEAD {key}");
    }

    // df: the allocatable space over the replica count, as `cairn stat`
    // shows it (three chunk servers of 4 GiB, three replicas).
    let stat = client.stat().await.unwrap();
    assert_eq!(stat.space.replicas, 3);
    assert_eq!(stat.space.total, 4 << 30);
    let r = root.clone();
    let st = blocking(move || {
        // SAFETY: zeroed statvfs is a valid out-parameter.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C path and out-pointer.
        let rc = unsafe { libc::statvfs(c_path(&r).as_ptr(), &mut st) };
        assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
        st
    })
    .await;
    let frsize = st.f_frsize;
    assert_eq!(st.f_blocks * frsize, stat.space.total);
    let avail = st.f_bavail * frsize;
    let allocatable = client.stat().await.unwrap().space.allocatable;
    // Free space moves a little as the disks under the test change.
    let slack = 64 << 20;
    assert!(
        avail.abs_diff(allocatable) < slack,
        "df says {avail} available, cairn stat {allocatable} allocatable"
    );
    assert!(avail <= stat.space.raw_free / 3 + slack);
    assert!(st.f_ffree > 0 && st.f_files >= st.f_ffree);
    assert_eq!(st.f_files - st.f_ffree, stat.inodes.min(st.f_files));

    m.unmount().await;
    cluster.stop().await;
}
