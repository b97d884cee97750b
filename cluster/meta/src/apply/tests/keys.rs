//! The key index: kept in step with the tree, keys that are not paths,
//! listing, conditional and deduplicated puts, no partial change.

use super::*;

#[test]
fn put_key_makes_implicit_dirs_that_delete_key_removes() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let n = f.put("b", b"a/b/c", obj(0, "e1")).unwrap();
    let a = f.lookup(b, "a").unwrap();
    assert!(a.implicit);
    let bdir = f.lookup(a.ino, "b").unwrap();
    assert!(bdir.implicit);
    assert_eq!(f.lookup(bdir.ino, "c").unwrap().ino, n.ino);
    assert!(!n.key_only);
    // Implicit directories have no keys.
    assert_eq!(f.key_names("b"), vec!["a/b/c"]);
    f.put("b", b"a/x", obj(0, "e2")).unwrap();
    f.delete_key("b", b"a/b/c").unwrap();
    // a/b emptied and removed; a still holds x.
    assert!(f.lookup(a.ino, "b").is_err());
    assert_eq!(f.names(a.ino), vec!["x"]);
    f.delete_key("b", b"a/x").unwrap();
    assert!(
        f.lookup(b, "a").is_err(),
        "emptied implicit directory removed"
    );
    assert_eq!(f.dentry_count(), 1, "only the bucket's own dentry is left");
}

#[test]
fn explicit_directories_stay_when_emptied() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    // A marker makes `m` explicit; mkdir makes `k` explicit. S3 clients
    // send markers as empty files.
    let m = f
        .put(
            "b",
            b"m/",
            ObjectSpec {
                kind: Some(NodeKind::File),
                etag: EMPTY_ETAG.into(),
                ..ObjectSpec::default()
            },
        )
        .unwrap();
    assert_eq!(m.kind, NodeKind::Dir);
    assert_eq!(m.etag, EMPTY_ETAG);
    let k = f.mkdir(b, "k");
    f.put("b", b"m/sub/file", obj(0, "e")).unwrap();
    f.put("b", b"k/file", obj(0, "e")).unwrap();
    f.delete_key("b", b"m/sub/file").unwrap();
    f.delete_key("b", b"k/file").unwrap();
    assert_eq!(f.lookup(b, "m").unwrap().ino, m.ino);
    assert!(f.lookup(m.ino, "sub").is_err(), "implicit sub removed");
    assert_eq!(f.lookup(b, "k").unwrap().ino, k);
    assert_eq!(f.key_names("b"), vec!["k/", "m/"]);
    // A marker on an existing implicit directory makes it explicit.
    f.put("b", b"i/j/file", obj(0, "e")).unwrap();
    let i = f.lookup(b, "i").unwrap();
    assert!(i.implicit);
    let marked = f.put("b", b"i/", obj(0, "")).unwrap();
    assert_eq!(marked.ino, i.ino);
    assert!(!f.lookup(b, "i").unwrap().implicit);
    f.delete_key("b", b"i/j/file").unwrap();
    assert!(f.lookup(b, "i").is_ok());
    // Deleting the marker of a non-empty directory keeps it, implicit.
    f.put("b", b"i/keep", obj(0, "e")).unwrap();
    f.delete_key("b", b"i/").unwrap();
    assert!(f.lookup(b, "i").unwrap().implicit);
    assert!(!f.key_names("b").contains(&"i/".to_string()));
    // Deleting the marker of an empty directory removes it.
    f.delete_key("b", b"m/").unwrap();
    assert!(f.lookup(b, "m").is_err());
}

#[test]
fn non_posix_keys_live_only_in_the_key_index() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let long = format!("x/{}", "y".repeat(300));
    let odd: Vec<&[u8]> = vec![
        b"a//b",
        b"./x",
        b"a/../b",
        b"/lead",
        long.as_bytes(),
        b"nul\0byte",
    ];
    for key in &odd {
        let n = f.put("b", key, obj(3, "e")).unwrap();
        assert!(n.key_only, "{}", String::from_utf8_lossy(key));
        assert_eq!(f.reader().get_key("b", key).unwrap().ino, n.ino);
    }
    // A key ending in `/` with content is an object, key-only.
    let slash = f.put("b", b"dir/", obj(5, "e")).unwrap();
    assert!(slash.key_only);
    assert_eq!(slash.kind, NodeKind::File);
    assert_eq!(
        f.dentry_count(),
        1,
        "no dentries or implicit dirs were made"
    );
    assert!(f.names(b).is_empty());
    assert_eq!(f.key_names("b").len(), odd.len() + 1);
    // Fully usable: replaced, deleted.
    let again = f.put("b", b"a//b", obj(9, "e2")).unwrap();
    assert_eq!(again.size, 9);
    assert_eq!(f.reader().get_key("b", b"a//b").unwrap().size, 9);
    f.delete_key("b", b"a//b").unwrap();
    assert!(is_errno(&f.reader().get_key("b", b"a//b"), libc::ENOENT));
    // A bucket with key-only objects is not empty.
    assert!(is_errno(
        &f.run(Command::DeleteBucket {
            name: "b".into(),
            now_ns: 99
        }),
        libc::ENOTEMPTY
    ));
}

#[test]
fn key_whose_path_is_taken_by_another_kind_is_key_only() {
    let mut f = Fixture::new();
    let b = f.bucket("b");
    let file_a = f.put("b", b"a", obj(1, "e")).unwrap();
    // `a/b` while `a` is a file.
    let under = f.put("b", b"a/b", obj(1, "e")).unwrap();
    assert!(under.key_only);
    assert_eq!(f.lookup(b, "a").unwrap().ino, file_a.ino);
    // `d` while `d/` is a directory.
    f.put("b", b"d/x", obj(1, "e")).unwrap();
    let file_d = f.put("b", b"d", obj(1, "e")).unwrap();
    assert!(file_d.key_only);
    assert_eq!(f.lookup(b, "d").unwrap().kind, NodeKind::Dir);
    assert_eq!(f.key_names("b"), vec!["a", "a/b", "d", "d/x"]);
    // A filesystem create at the path of a key-only object replaces it.
    f.delete_key("b", b"a").unwrap();
    let a_dir = f.mkdir(b, "a");
    let created = f.file(a_dir, "b");
    assert_eq!(f.reader().get_key("b", b"a/b").unwrap().ino, created);
    assert!(is_errno(
        &f.reader().inode(under.ino).map(|_| ()),
        libc::ENOENT
    ));
}

#[test]
fn list_keys_in_byte_order_with_prefix_start_after_and_limit() {
    let mut f = Fixture::new();
    f.bucket("b");
    f.bucket("b2");
    f.put("b2", b"a0", obj(0, "e")).unwrap();
    let keys: Vec<&[u8]> = vec![b"a/b", b"a-b", b"a0", b"B", b"a", b"\xffz", b"a/a", b"ab"];
    for k in &keys {
        f.put("b", k, obj(0, "e")).unwrap();
    }
    let list = |f: &Fixture, prefix: &[u8], after: &[u8], limit: u32| {
        let page = f.reader().list_keys("b", prefix, after, limit).unwrap();
        (
            page.entries.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            page.more,
        )
    };
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    sorted.sort();
    assert_eq!(list(&f, b"", b"", 0), (sorted.clone(), false));
    assert_eq!(
        sorted
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>(),
        vec!["B", "a", "a-b", "a/a", "a/b", "a0", "ab", "\u{fffd}z"]
    );
    assert_eq!(
        list(&f, b"a/", b"", 0).0,
        vec![b"a/a".to_vec(), b"a/b".to_vec()]
    );
    assert_eq!(
        list(&f, b"a", b"a-b", 2),
        (vec![b"a/a".to_vec(), b"a/b".to_vec()], true)
    );
    assert_eq!(
        list(&f, b"a", b"a/b", 2),
        (vec![b"a0".to_vec(), b"ab".to_vec()], false)
    );
    // start_after before the prefix: the prefix rules.
    assert_eq!(list(&f, b"a/", b"A", 0).0.len(), 2);
    // Pages chain to the full listing.
    let mut after = Vec::new();
    let mut all = Vec::new();
    loop {
        let (page, more) = list(&f, b"", &after, 3);
        all.extend(page.iter().cloned());
        after = page.last().cloned().unwrap_or_default();
        if !more {
            break;
        }
    }
    assert_eq!(all, sorted);
    assert!(is_errno(
        &f.reader().list_keys("nope", b"", b"", 0).map(|_| ()),
        libc::ENOENT
    ));
}

#[test]
fn conditional_puts() {
    let mut f = Fixture::new();
    f.bucket("b");
    assert!(is_errno(
        &f.put_cond("b", b"k", obj(1, "e1"), Some("\"e1\""), None, 0),
        libc::ENOENT
    ));
    f.put_cond("b", b"k", obj(1, "e1"), None, Some("*"), 0)
        .unwrap();
    assert!(matches!(
        f.put_cond("b", b"k", obj(1, "e2"), None, Some("*"), 0),
        Err(ClusterError::PreconditionFailed(_))
    ));
    assert!(matches!(
        f.put_cond("b", b"k", obj(1, "e2"), Some("\"other\""), None, 0),
        Err(ClusterError::PreconditionFailed(_))
    ));
    assert_eq!(f.reader().get_key("b", b"k").unwrap().etag, "e1");
    let n = f
        .put_cond("b", b"k", obj(2, "e2"), Some("\"e1\""), None, 0)
        .unwrap();
    assert_eq!(n.etag, "e2");
    f.put_cond("b", b"k", obj(3, "e3"), Some("*"), None, 0)
        .unwrap();
    assert_eq!(f.reader().get_key("b", b"k").unwrap().size, 3);
    assert!(is_errno(&f.put("nobucket", b"k", obj(0, "")), libc::ENOENT));
    assert!(is_errno(&f.put("b", b"", obj(0, "")), libc::EINVAL));
    assert!(is_errno(
        &f.put("b", &[b'k'; 1025], obj(0, "")),
        libc::ENAMETOOLONG
    ));
}

#[test]
fn put_key_request_ids_are_deduplicated() {
    let mut f = Fixture::new();
    f.bucket("b");
    let first = f
        .put_cond("b", b"k", obj(1, "e1"), None, Some("*"), 42)
        .unwrap();
    // The retry would fail its condition if applied again; it gets the same
    // answer instead.
    let retry = f
        .put_cond("b", b"k", obj(1, "e1"), None, Some("*"), 42)
        .unwrap();
    assert_eq!(first, retry);
    // A different content under the same id is not applied either.
    f.put_cond("b", b"k", obj(7, "e7"), None, None, 42).unwrap();
    assert_eq!(f.reader().get_key("b", b"k").unwrap().size, 1);
    // Another id applies.
    f.put_cond("b", b"k", obj(7, "e7"), None, None, 43).unwrap();
    assert_eq!(f.reader().get_key("b", b"k").unwrap().size, 7);
}

#[test]
fn failed_command_leaves_no_partial_change() {
    let mut f = Fixture::new();
    f.bucket("b");
    let before = f.dentry_count();
    // Implicit dirs would be made before the extents' missing chunk is found.
    let err = f.put("b", b"x/y/z", obj_with(12345, 10, "e"));
    assert!(is_errno(&err, libc::EINVAL));
    assert_eq!(f.dentry_count(), before);
    assert!(f.key_names("b").is_empty());
    // The inode counter did not move either: the next inode is the same.
    let next = f.put("b", b"ok", obj(0, "e")).unwrap().ino;
    let txn = f.db.begin_read().unwrap();
    let counters: schema::Counters = schema::get_record::<&str, _, _>(
        &txn.open_table(schema::META).unwrap(),
        schema::META_COUNTERS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(counters.next_ino, next + 1);
}
