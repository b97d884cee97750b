//! S3 metadata: access keys and bucket permissions, multipart uploads.

use super::*;

fn part(number: u32, chunk: u64, size: u64) -> crate::schema::PartInfo {
    crate::schema::PartInfo {
        part_number: number,
        etag: format!("p{number}"),
        size,
        extents: vec![ext(0, chunk, 0, size)],
        modified_ns: 1,
        checksums: BTreeMap::new(),
    }
}

impl Fixture {
    fn create_upload(
        &mut self,
        bucket: &str,
        key: &[u8],
        id: &str,
    ) -> Result<CommandReply, ClusterError> {
        self.run(Command::CreateUpload {
            bucket: bucket.into(),
            key: key.to_vec(),
            object: ObjectSpec {
                content_type: "text/plain".into(),
                ..ObjectSpec::default()
            },
            upload_id: id.into(),
            created_ns: 5,
        })
    }

    fn put_part(
        &mut self,
        id: &str,
        p: crate::schema::PartInfo,
    ) -> Result<CommandReply, ClusterError> {
        let lengths = p.extents.iter().map(|e| (e.chunk_id, e.length)).collect();
        self.run(Command::PutPart {
            upload_id: id.into(),
            part: p,
            chunk_lengths: lengths,
        })
    }

    fn complete(
        &mut self,
        id: &str,
        parts: &[u32],
        request_id: u64,
    ) -> Result<Inode, ClusterError> {
        let now = self.tick();
        self.run(Command::CompleteUpload {
            upload_id: id.into(),
            part_numbers: parts.to_vec(),
            etag: "md5-2".into(),
            if_match: None,
            if_none_match: None,
            mtime_ns: 9,
            request_id,
            now_ns: now,
        })
        .map(node)
    }
}

#[test]
fn access_keys_and_permissions() {
    let mut f = Fixture::new();
    f.bucket("b");
    let secret = "s".repeat(40);
    let create = |f: &mut Fixture, id: &str| {
        f.run(Command::CreateAccessKey {
            key_id: id.into(),
            secret: secret.clone(),
            name: "app".into(),
            now_ns: 3,
        })
    };
    create(&mut f, "CKTEST").unwrap();
    assert!(is_errno(&create(&mut f, "CKTEST"), libc::EEXIST));
    assert!(!f.reader().access_key("CKTEST").unwrap().admin);
    assert!(is_errno(&create(&mut f, "bad id!"), libc::EINVAL));
    let set = |f: &mut Fixture, bucket: &str, read: bool, write: bool| {
        f.run(Command::SetBucketPermission {
            key_id: "CKTEST".into(),
            permission: crate::schema::BucketPermission {
                bucket: bucket.into(),
                read,
                write,
                owner: false,
            },
        })
    };
    assert!(is_errno(
        &set(&mut f, "nobucket", true, false),
        libc::ENOENT
    ));
    set(&mut f, "b", true, false).unwrap();
    set(&mut f, "b", true, true).unwrap();
    let key = f.reader().access_key("CKTEST").unwrap();
    assert_eq!(key.secret, secret);
    assert_eq!(key.permissions.len(), 1, "one row per bucket");
    assert!(key.permissions[0].write);
    assert!(
        !format!("{key:?}").contains(&secret),
        "secrets stay out of Debug"
    );
    // Deleting the bucket drops its permissions.
    let now = f.tick();
    f.run(Command::DeleteBucket {
        name: "b".into(),
        now_ns: now,
    })
    .unwrap();
    assert!(f
        .reader()
        .access_key("CKTEST")
        .unwrap()
        .permissions
        .is_empty());
    f.run(Command::DeleteAccessKey {
        key_id: "CKTEST".into(),
    })
    .unwrap();
    assert!(f.reader().access_keys().unwrap().is_empty());
    assert!(is_errno(
        &f.run(Command::DeleteAccessKey {
            key_id: "CKTEST".into()
        }),
        libc::ENOENT
    ));
}

#[test]
fn admin_keys_are_created_as_such() {
    let mut f = Fixture::new();
    let create = |f: &mut Fixture, id: &str, admin: bool| {
        f.run(Command::CreateAccessKeyWith {
            key_id: id.into(),
            secret: "s".repeat(40),
            name: "operator".into(),
            admin,
            now_ns: 3,
        })
    };
    create(&mut f, "CKADMIN", true).unwrap();
    create(&mut f, "CKPLAIN", false).unwrap();
    assert!(is_errno(&create(&mut f, "CKADMIN", false), libc::EEXIST));
    assert!(f.reader().access_key("CKADMIN").unwrap().admin);
    assert!(!f.reader().access_key("CKPLAIN").unwrap().admin);
}

#[test]
fn multipart_parts_become_the_object_without_copy() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    assert!(is_errno(
        &f.create_upload("nobucket", b"k", "u0"),
        libc::ENOENT
    ));
    f.create_upload("b", b"dir/big", "u1").unwrap();
    assert!(is_errno(
        &f.create_upload("b", b"dir/big", "u1"),
        libc::EEXIST
    ));
    let (c1, c2, c3, c2b) = (
        f.allocate(b, &[cs]),
        f.allocate(b, &[cs]),
        f.allocate(b, &[cs]),
        f.allocate(b, &[cs]),
    );
    f.put_part("u1", part(1, c1, 100)).unwrap();
    f.put_part("u1", part(2, c2, 50)).unwrap();
    f.put_part("u1", part(3, c3, 10)).unwrap();
    assert_eq!(f.refs(c2), 1);
    // Re-uploading part 2 releases its first chunk.
    f.put_part("u1", part(2, c2b, 60)).unwrap();
    f.collect();
    assert!(!f.chunk_exists(c2));
    assert!(is_errno(&f.put_part("u1", part(0, c3, 10)), libc::EINVAL));
    assert!(is_errno(&f.put_part("nope", part(1, c3, 10)), libc::ENOENT));
    assert_eq!(f.reader().upload("u1").unwrap().parts.len(), 3);
    // Order and existence are checked.
    assert!(is_errno(&f.complete("u1", &[2, 1], 0), libc::EINVAL));
    assert!(is_errno(&f.complete("u1", &[1, 4], 0), libc::EINVAL));
    assert!(
        f.reader().upload("u1").is_ok(),
        "a refused completion keeps the upload"
    );
    // Parts 1 and 2 only: part 3 is released.
    let n = f.complete("u1", &[1, 2], 77).unwrap();
    assert_eq!(n.size, 160);
    assert_eq!(n.layout, vec![ext(0, c1, 0, 100), ext(100, c2b, 0, 60)]);
    assert_eq!(
        (n.etag.as_str(), n.content_type.as_str(), n.mtime_ns),
        ("md5-2", "text/plain", 9)
    );
    assert_eq!(
        (f.refs(c1), f.refs(c2b)),
        (1, 1),
        "references passed to the object"
    );
    f.collect();
    assert!(!f.chunk_exists(c3));
    assert!(is_errno(&f.reader().upload("u1").map(|_| ()), libc::ENOENT));
    assert_eq!(f.reader().get_key("b", b"dir/big").unwrap().ino, n.ino);
    assert!(f.lookup(b, "dir").unwrap().implicit);
    // A retried completion gets the same answer.
    assert_eq!(f.complete("u1", &[1, 2], 77).unwrap(), n);
    assert!(is_errno(&f.complete("u1", &[1, 2], 78), libc::ENOENT));
}

#[test]
fn aborted_uploads_free_parts_and_uploads_keep_their_bucket() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let cs = f.register_cs("h1");
    let (c1, c2) = (f.allocate(b, &[cs]), f.allocate(b, &[cs]));
    f.create_upload("b", b"x", "u1").unwrap();
    f.put_part("u1", part(1, c1, 10)).unwrap();
    f.run(Command::AbortUpload {
        upload_id: "u1".into(),
    })
    .unwrap();
    f.collect();
    assert!(!f.chunk_exists(c1));
    assert!(is_errno(
        &f.run(Command::AbortUpload {
            upload_id: "u1".into()
        }),
        libc::ENOENT
    ));
    // An upload in progress keeps its bucket (BucketNotEmpty, ENOTEMPTY);
    // aborted, its parts are freed and the bucket may go.
    f.create_upload("b", b"y", "u2").unwrap();
    f.put_part("u2", part(1, c2, 10)).unwrap();
    let delete = |f: &mut Fixture| {
        let now = f.tick();
        f.run(Command::DeleteBucket {
            name: "b".into(),
            now_ns: now,
        })
    };
    assert!(is_errno(&delete(&mut f), libc::ENOTEMPTY));
    f.collect();
    assert!(f.chunk_exists(c2));
    f.run(Command::AbortUpload {
        upload_id: "u2".into(),
    })
    .unwrap();
    delete(&mut f).unwrap();
    f.collect();
    assert!(!f.chunk_exists(c2));
    assert!(is_errno(&f.reader().upload("u2").map(|_| ()), libc::ENOENT));
}

#[test]
fn list_uploads_by_key_then_id_with_markers() {
    let mut f = Fixture::new();
    f.bucket("b");
    for (key, id) in [
        ("a", "2"),
        ("a", "1"),
        ("b", "3"),
        ("c/d", "4"),
        ("c/e", "5"),
    ] {
        f.create_upload("b", key.as_bytes(), id).unwrap();
    }
    let list = |f: &Fixture, prefix: &str, key_marker: &str, id_marker: &str, limit: u32| {
        let (ups, more) = f
            .reader()
            .list_uploads(
                "b",
                prefix.as_bytes(),
                key_marker.as_bytes(),
                id_marker,
                limit,
            )
            .unwrap();
        (
            ups.into_iter().map(|u| u.upload_id).collect::<Vec<_>>(),
            more,
        )
    };
    assert_eq!(
        list(&f, "", "", "", 0),
        (
            vec!["1".into(), "2".into(), "3".into(), "4".into(), "5".into()],
            false
        )
    );
    assert_eq!(
        list(&f, "", "", "", 2),
        (vec!["1".into(), "2".into()], true)
    );
    assert_eq!(list(&f, "", "a", "1", 0).0, vec!["2", "3", "4", "5"]);
    assert_eq!(list(&f, "", "a", "", 0).0, vec!["3", "4", "5"]);
    assert_eq!(list(&f, "c/", "", "", 0).0, vec!["4", "5"]);
    assert_eq!(list(&f, "c/", "c/d", "", 0).0, vec!["5"]);
}

#[test]
fn overwriting_an_object_replaces_its_metadata() {
    let mut f = Fixture::new();
    f.bucket("b");
    let first = ObjectSpec {
        size: 0,
        etag: "e1".into(),
        content_type: "text/plain".into(),
        user_meta: BTreeMap::from([("color".to_string(), "blue".to_string())]),
        headers: BTreeMap::from([("cache-control".to_string(), "max-age=60".to_string())]),
        ..ObjectSpec::default()
    };
    let a = f.put("b", b"docs/report.txt", first).unwrap();
    let second = ObjectSpec {
        size: 0,
        etag: "e2".into(),
        content_type: "application/octet-stream".into(),
        ..ObjectSpec::default()
    };
    let b = f.put("b", b"docs/report.txt", second).unwrap();
    assert_eq!(a.ino, b.ino);
    let got = f.reader().get_key("b", b"docs/report.txt").unwrap();
    assert_eq!(got.content_type, "application/octet-stream");
    assert!(got.user_meta.is_empty());
    assert!(got.headers.is_empty());
    assert_eq!(got.etag, "e2");
}
