//! One bucket deletion behind both doors: S3's DeleteBucket and rmdir of a
//! directory under the root refuse and accept the same buckets.

use super::*;
use crate::schema::Versioning;

/// A way to delete bucket "b": (what the door is, the deletion).
type Door = (
    &'static str,
    fn(&mut Fixture) -> Result<CommandReply, ClusterError>,
);

const DOORS: [Door; 2] = [
    ("DeleteBucket", |f| {
        let now = f.tick();
        f.run(Command::DeleteBucket {
            name: "b".into(),
            now_ns: now,
        })
    }),
    ("rmdir", |f| f.rmdir(ROOT_INO, "b")),
];

/// Sets bucket "b" up in a fresh state for each door and deletes it there:
/// the errno of each door's refusal (0: deleted).
fn through_both_doors(setup: impl Fn(&mut Fixture)) -> Vec<(&'static str, i32)> {
    DOORS
        .iter()
        .map(|(door, delete)| {
            let mut f = Fixture::new();
            f.bucket("b");
            setup(&mut f);
            let errno = match delete(&mut f) {
                Ok(_) => {
                    assert!(f.reader().bucket("b").is_err(), "{door}: bucket left");
                    assert!(
                        f.reader().lookup(ROOT_INO, b"b").is_err(),
                        "{door}: dir left"
                    );
                    0
                }
                Err(e) => {
                    assert!(f.reader().bucket("b").is_ok(), "{door}: bucket gone on {e}");
                    e.errno()
                }
            };
            (*door, errno)
        })
        .collect()
}

/// (what bucket "b" holds, how it gets there, the errno both doors give).
type Case = (&'static str, fn(&mut Fixture), i32);

fn versioned(f: &mut Fixture) {
    f.run(Command::SetBucketVersioning {
        bucket: "b".into(),
        versioning: Versioning::Enabled,
    })
    .unwrap();
}

#[test]
fn both_doors_refuse_and_accept_the_same_buckets() {
    let cases: [Case; 5] = [
        ("empty", |_| {}, 0),
        (
            "an object",
            |f| {
                f.put("b", b"k", obj(0, "e")).unwrap();
            },
            libc::ENOTEMPTY,
        ),
        (
            "only versions kept (a delete marker over a noncurrent one)",
            |f| {
                versioned(f);
                f.put("b", b"k", obj(0, "e")).unwrap();
                f.delete_key("b", b"k").unwrap();
            },
            libc::ENOTEMPTY,
        ),
        (
            "a multipart upload in progress",
            |f| {
                f.run(Command::CreateUpload {
                    bucket: "b".into(),
                    key: b"k".to_vec(),
                    object: ObjectSpec::default(),
                    upload_id: "u".into(),
                    created_ns: 1,
                })
                .unwrap();
            },
            libc::ENOTEMPTY,
        ),
        (
            "versioning set, then emptied",
            |f| {
                versioned(f);
                f.put("b", b"k", obj(0, "e")).unwrap();
                let versions = f.reader().list_versions("b", b"", b"", "", 100);
                for v in versions.unwrap().0 {
                    let now = f.tick();
                    f.run(Command::DeleteObject {
                        bucket: "b".into(),
                        key: v.key.clone(),
                        version_id: Some(v.id.to_wire()),
                        bypass_governance: false,
                        now_ns: now,
                    })
                    .unwrap();
                }
            },
            0,
        ),
    ];
    for (case, setup, want) in cases {
        for (door, errno) in through_both_doors(setup) {
            assert_eq!(errno, want, "{case}, through {door}");
        }
    }
}

#[test]
fn a_bucket_made_again_inherits_nothing_whichever_door_deleted_it() {
    for (door, delete) in DOORS {
        let mut f = Fixture::new();
        f.bucket("b");
        versioned(&mut f);
        delete(&mut f).unwrap();
        f.bucket("b");
        let kept = f.reader().bucket_protection("b").unwrap();
        assert_eq!(kept.versioning, Versioning::Unversioned, "through {door}");
    }
}
