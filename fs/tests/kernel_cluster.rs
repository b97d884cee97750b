//! The mount over a real cluster started in this process (MDS + three
//! chunk servers on loopback, 1 MiB chunks): the POSIX scenarios and fsx
//! through the kernel, cross-checked with what the client library (the S3
//! door's path) sees.

mod common;

use std::time::Duration;

use common::{blocking, can_mount, cluster::Cluster, fsx, scenarios, Mounted};
use md5::{Digest, Md5};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posix_scenarios_and_fsx_over_a_real_cluster() {
    common::init_logs();
    if !can_mount() {
        return;
    }
    let mut cluster = Cluster::start().await;
    let m = Mounted::start(cluster.client()).await;
    let root = m.path();
    let r = root.clone();
    blocking(move || {
        scenarios::sequential(&r);
        scenarios::sparse_truncate_flags(&r);
        scenarios::namespace(&r);
        scenarios::unlink_open(&r);
        scenarios::xattrs(&r);
        scenarios::permissions(&r);
        scenarios::statfs(&r);
        scenarios::times(&r);
        scenarios::tarball(&r);
    })
    .await;

    // A file written through the mount is at once an object with the
    // MD5 of its bytes as ETag.
    let r = root.clone();
    let data = scenarios::pattern(9, (2 << 20) + 12345);
    let d = data.clone();
    blocking(move || {
        let b = scenarios::bucket(&r, "crossdoor");
        std::fs::write(b.join("obj"), &d).unwrap();
    })
    .await;
    let client = cluster.client();
    let head = client.head_object("crossdoor", b"obj").await.unwrap();
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(head.etag, hex::encode(Md5::digest(&data)));

    // A copy shares the file's chunks (as CopyObject does); writing the
    // file in place through the mount afterwards must leave the copy's
    // bytes alone (copy on write), both inside a chunk and across a chunk
    // boundary.
    let copy = client
        .put_key("crossdoor", b"copy", &head, Default::default())
        .await
        .unwrap();
    let r = root.clone();
    let patch = vec![0xA5u8; 8192];
    let p = patch.clone();
    blocking(move || {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(r.join("crossdoor/obj"))
            .unwrap();
        f.write_all_at(&p, 100).unwrap();
        f.write_all_at(&p, (1 << 20) - 4096).unwrap();
        f.sync_all().unwrap();
    })
    .await;
    let read_all = |node: cairn_client::Node| {
        let client = cluster.client();
        async move {
            let mut out = Vec::new();
            let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
            while let Some(piece) = futures::StreamExt::next(&mut stream).await {
                out.extend_from_slice(&piece.unwrap());
            }
            out
        }
    };
    assert!(read_all(copy).await == data, "the copy kept its bytes");
    let mut patched = data.clone();
    patched[100..100 + 8192].copy_from_slice(&patch);
    let at = (1 << 20) - 4096;
    patched[at..at + 8192].copy_from_slice(&patch);
    let file = client.head_object("crossdoor", b"obj").await.unwrap();
    assert!(
        read_all(file).await == patched,
        "the file has its new bytes"
    );

    // An object put through the key index shows up in the mount, and a
    // delete makes it disappear, within the entry TTL (1 s).
    client
        .put_object(
            "crossdoor",
            b"dir/put",
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"from s3",
            ))]),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let r = root.clone();
    let got = blocking(move || {
        common::eventually(
            Duration::from_secs(3),
            "the object put over S3 to show",
            || std::fs::read(r.join("crossdoor/dir/put")).ok(),
        )
    })
    .await;
    assert_eq!(got, b"from s3");
    client.delete_object("crossdoor", b"dir/put").await.unwrap();
    let r = root.clone();
    blocking(move || {
        common::eventually(Duration::from_secs(3), "the deleted object to go", || {
            (!r.join("crossdoor/dir/put").exists()).then_some(())
        })
    })
    .await;

    // Files removed through the mount: each unlink is answered at once and
    // queued; the objects are gone from the key index within moments, and
    // the directory can be removed at once.
    let queued_before = m.stats().queued_unlinks;
    let r = root.clone();
    let n = 200;
    blocking(move || {
        let d = r.join("crossdoor/many");
        std::fs::create_dir(&d).unwrap();
        for i in 0..n {
            std::fs::write(d.join(format!("f{i:03}")), b"x").unwrap();
        }
        for i in 0..n {
            std::fs::remove_file(d.join(format!("f{i:03}"))).unwrap();
        }
        assert!(!d.join("f000").exists(), "an unlinked name still shows");
        std::fs::remove_dir(&d).unwrap();
    })
    .await;
    let queued = m.stats().queued_unlinks - queued_before;
    assert!(queued > 0, "no unlink was queued");
    for i in 0..n {
        let key = format!("many/f{i:03}");
        let e = client.head_object("crossdoor", key.as_bytes()).await;
        assert!(
            matches!(e, Err(cairn_common::ClusterError::NotFound(_))),
            "{key} is still an object after its unlink: {e:?}"
        );
    }
    assert!(matches!(
        client.head_object("crossdoor", b"many/").await,
        Err(cairn_common::ClusterError::NotFound(_))
    ));

    let r = root.clone();
    blocking(move || {
        let b = scenarios::bucket(&r, "fsx");
        let local = tempfile::tempdir().unwrap();
        fsx::run(&b, local.path(), fsx::seed(), 1500, 3, 3 << 20);
    })
    .await;

    // A dead MDS: calls fail with EIO after the client's timeout, never
    // hang, and the mount still unmounts.
    cluster.stop_mds().await;
    let r = root.clone();
    let (errno, secs) = blocking(move || {
        let start = std::time::Instant::now();
        // A bucket name: the top level is always asked of the MDS.
        let e = std::fs::metadata(r.join("never-seen")).unwrap_err();
        (e.raw_os_error(), start.elapsed().as_secs_f64())
    })
    .await;
    assert_eq!(errno, Some(libc::EIO), "a dead MDS gives EIO");
    assert!(secs < 25.0, "the call took {secs:.1}s");
    m.unmount().await;
    cluster.stop().await;
}
