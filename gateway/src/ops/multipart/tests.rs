//! Multipart pieces that need no cluster: ETags, checksums, ranges.

use super::*;
use cairn_client::Part;

fn part(n: u32, size: u64, etag: &str) -> Part {
    Part {
        part_number: n,
        etag: etag.into(),
        size,
        extents: Vec::new(),
        modified_ns: 0,
        checksums: Default::default(),
    }
}

fn listed(n: u32, etag: &str) -> CompletedPart {
    CompletedPart {
        part_number: n,
        etag: format!("\"{etag}\""),
        checksum_crc32: None,
        checksum_crc32c: None,
        checksum_crc64nvme: None,
        checksum_sha1: None,
        checksum_sha256: None,
    }
}

fn upload(parts: Vec<Part>) -> Upload {
    Upload {
        bucket: "b".into(),
        key: b"k".to_vec(),
        upload_id: "u".into(),
        created_ns: 0,
        node: None,
        parts,
    }
}

const E1: &str = "0cc175b9c0f1b6a831c399e269772661";
const E2: &str = "92eb5ffee6ae2fec3ad71c777531578f";
const E3: &str = "4a8a08f09d37b73795649038408b5f33";

#[test]
fn etag_is_the_md5_of_the_part_md5s() {
    // md5(md5("a") ++ md5("b")) computed independently.
    let mut h = Md5::new();
    h.update(hex::decode(E1).unwrap());
    h.update(hex::decode(E2).unwrap());
    let want = format!("{}-2", hex::encode(h.finalize()));
    assert_eq!(multipart_etag([E1, E2]), want);
}

#[test]
fn part_list_checks() {
    let big = MIN_PART_SIZE;
    let u = upload(vec![part(1, big, E1), part(2, 10, E2), part(3, 5, E3)]);
    let (numbers, sizes, _) = check_parts(&[listed(1, E1), listed(3, E3)], &u).unwrap();
    assert_eq!(numbers, vec![1, 3]);
    assert_eq!(sizes, vec![big, 5]);
    let code = |l: &[CompletedPart]| check_parts(l, &u).unwrap_err().code;
    assert_eq!(
        code(&[listed(3, E3), listed(1, E1)]),
        ErrorCode::InvalidPartOrder
    );
    assert_eq!(
        code(&[listed(1, E1), listed(1, E1)]),
        ErrorCode::InvalidPartOrder
    );
    assert_eq!(code(&[listed(1, E2)]), ErrorCode::InvalidPart);
    assert_eq!(code(&[listed(4, E1)]), ErrorCode::InvalidPart);
    assert_eq!(
        code(&[listed(2, E2), listed(3, E3)]),
        ErrorCode::EntityTooSmall
    );
    let mut wrong_sum = listed(1, E1);
    wrong_sum.checksum_crc32c = Some("AAAAAA==".into());
    assert_eq!(code(&[wrong_sum]), ErrorCode::InvalidPart);
}

#[test]
fn copy_ranges() {
    assert_eq!(parse_copy_range("bytes=0-9", 10).unwrap(), (0, 10));
    assert_eq!(parse_copy_range("bytes=3-3", 10).unwrap(), (3, 4));
    assert_eq!(
        parse_copy_range("bytes=0-10", 10).unwrap_err().code,
        ErrorCode::InvalidRange
    );
    for bad in ["bytes=5-4", "bytes=-3", "bytes=3-", "3-4", "bytes=a-b"] {
        assert_eq!(
            parse_copy_range(bad, 10).unwrap_err().code,
            ErrorCode::InvalidArgument,
            "{bad}"
        );
    }
}

#[test]
fn copied_part_etags() {
    let node = Node {
        ino: 1,
        kind: cairn_client::NodeKind::File,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 10,
        atime_ns: 0,
        mtime_ns: 0,
        ctime_ns: 0,
        nlink: 1,
        etag: E1.into(),
        content_type: String::new(),
        user_meta: Default::default(),
        headers: Default::default(),
        replicas: 0,
        min_replicas: 0,
        tier: 0,
        extents: Vec::new(),
        symlink_target: Vec::new(),
        xattrs: Default::default(),
        version_id: String::new(),
        protection: Default::default(),
        rdev: 0,
    };
    assert_eq!(copied_part_etag(&node, 0, 10), E1);
    let a = copied_part_etag(&node, 0, 5);
    let b = copied_part_etag(&node, 5, 10);
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(hex::decode(&a).is_ok());
}
