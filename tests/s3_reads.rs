//! Reads through `cairn up` with aws-sdk-s3: Range (`bytes=a-b`, `a-`,
//! `-n`, 206 with Content-Range, 416 `InvalidRange`), `partNumber` on a
//! single-part object, and conditional requests (If-Match, If-None-Match,
//! If-Modified-Since, If-Unmodified-Since -> 304/412), also as conditional
//! writes (`If-None-Match: *`, `If-Match` on PUT).

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use common::s3::*;

async fn setup(what: &str, data: &[u8]) -> (std::sync::Arc<S3Cluster>, aws_sdk_s3::Client, String) {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name(what);
    s3.create_bucket().bucket(&b).send().await.expect("create");
    s3.put_object()
        .bucket(&b)
        .key("obj")
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .expect("put");
    (c, s3, b)
}

#[tokio::test]
async fn ranges() {
    let data = common::pattern(3, 1_000_000);
    let (_c, s3, b) = setup("rng", &data).await;
    let size = data.len();
    let get = |range: &str| {
        s3.get_object()
            .bucket(&b)
            .key("obj")
            .range(range.to_string())
            .send()
    };

    for (range, start, end) in [
        ("bytes=0-0", 0, 1),
        ("bytes=10-19", 10, 20),
        ("bytes=999000-", 999_000, size),
        ("bytes=-100", size - 100, size),
        // Past the end: clamped.
        ("bytes=999990-2000000", 999_990, size),
        ("bytes=-5000000", 0, size),
        // Across the 4 MiB-ish pieces does not matter; across the middle.
        ("bytes=123456-876543", 123_456, 876_544),
    ] {
        let out = get(range)
            .await
            .unwrap_or_else(|e| panic!("{range}: {e:?}"));
        assert_eq!(
            out.content_range(),
            Some(format!("bytes {start}-{}/{size}", end - 1).as_str()),
            "{range}"
        );
        assert_eq!(out.content_length(), Some((end - start) as i64), "{range}");
        assert_eq!(body_bytes(out).await, &data[start..end], "{range}");
    }

    for range in ["bytes=1000000-", "bytes=2000000-2000001", "bytes=-0"] {
        let r = get(range).await;
        assert_code(&r, "InvalidRange");
        assert_eq!(error_status(&r), 416, "{range}");
    }
    // A header that is not a byte range is ignored (RFC 9110): whole body.
    let out = get("items=0-5").await.expect("get");
    assert_eq!(out.content_length(), Some(size as i64));
    assert!(out.content_range().is_none());

    let head = s3
        .head_object()
        .bucket(&b)
        .key("obj")
        .range("bytes=5-9")
        .send()
        .await
        .expect("ranged head");
    assert_eq!(head.content_length(), Some(5));
    assert_eq!(
        head.content_range(),
        Some(format!("bytes 5-9/{size}").as_str())
    );

    // partNumber on an object of one part: part 1 is all of it.
    let part1 = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .part_number(1)
        .send()
        .await
        .expect("part 1");
    assert_eq!(part1.content_length(), Some(size as i64));
    assert_eq!(body_bytes(part1).await, data);
    let part2 = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .part_number(2)
        .send()
        .await;
    assert_code(&part2, "InvalidPartNumber");
    assert_eq!(error_status(&part2), 416);
    let both = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .part_number(1)
        .range("bytes=0-1")
        .send()
        .await;
    assert_code(&both, "InvalidRequest");
}

#[tokio::test]
async fn conditional_reads() {
    let data = b"conditional body".to_vec();
    let (_c, s3, b) = setup("cond", &data).await;
    let head = s3
        .head_object()
        .bucket(&b)
        .key("obj")
        .send()
        .await
        .expect("head");
    let etag = head.e_tag().expect("etag").to_string();
    let modified = head.last_modified().expect("last-modified").secs();
    let at = DateTime::from_secs;
    let other = "\"0123456789abcdef0123456789abcdef\"";

    let get = || s3.get_object().bucket(&b).key("obj");
    // If-Match.
    assert!(get().if_match(&etag).send().await.is_ok());
    assert!(get().if_match("*").send().await.is_ok());
    assert!(get()
        .if_match(format!("{other}, {etag}"))
        .send()
        .await
        .is_ok());
    let r = get().if_match(other).send().await;
    assert_code(&r, "PreconditionFailed");
    assert_eq!(error_status(&r), 412);
    // If-None-Match.
    let r = get().if_none_match(&etag).send().await;
    assert_eq!(error_status(&r), 304, "{r:?}");
    let r = get().if_none_match("*").send().await;
    assert_eq!(error_status(&r), 304, "{r:?}");
    assert!(get().if_none_match(other).send().await.is_ok());
    // If-Modified-Since.
    let r = get().if_modified_since(at(modified)).send().await;
    assert_eq!(error_status(&r), 304, "{r:?}");
    let r = get().if_modified_since(at(modified + 3600)).send().await;
    assert_eq!(error_status(&r), 304, "{r:?}");
    let out = get()
        .if_modified_since(at(modified - 3600))
        .send()
        .await
        .expect("modified since an hour ago");
    assert_eq!(body_bytes(out).await, data);
    // If-Unmodified-Since.
    let r = get().if_unmodified_since(at(modified - 3600)).send().await;
    assert_code(&r, "PreconditionFailed");
    assert!(get().if_unmodified_since(at(modified)).send().await.is_ok());
    // RFC 9110 precedence: If-Match true wins over If-Unmodified-Since
    // false; If-None-Match false wins over If-Modified-Since true.
    assert!(get()
        .if_match(&etag)
        .if_unmodified_since(at(modified - 3600))
        .send()
        .await
        .is_ok());
    assert!(get()
        .if_none_match(other)
        .if_modified_since(at(modified + 3600))
        .send()
        .await
        .is_ok());
    // HEAD answers the same statuses, without a body.
    let h = s3
        .head_object()
        .bucket(&b)
        .key("obj")
        .if_none_match(&etag)
        .send()
        .await;
    assert_eq!(error_status(&h), 304);
    let h = s3
        .head_object()
        .bucket(&b)
        .key("obj")
        .if_match(other)
        .send()
        .await;
    assert_eq!(error_status(&h), 412);
}

#[tokio::test]
async fn conditional_writes() {
    let (_c, s3, b) = setup("cw", b"first").await;
    let put = |key: &str, body: &'static [u8]| {
        s3.put_object()
            .bucket(&b)
            .key(key)
            .body(ByteStream::from_static(body))
    };
    // Create-only: refused when the key exists, nothing changes.
    let r = put("obj", b"second").if_none_match("*").send().await;
    assert_code(&r, "PreconditionFailed");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"first");
    put("new", b"created")
        .if_none_match("*")
        .send()
        .await
        .expect("create-only on a new key");
    // Compare-and-swap with If-Match.
    let etag = s3
        .head_object()
        .bucket(&b)
        .key("obj")
        .send()
        .await
        .expect("head")
        .e_tag()
        .expect("etag")
        .to_string();
    let r = put("obj", b"third")
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await;
    assert_code(&r, "PreconditionFailed");
    put("obj", b"third")
        .if_match(&etag)
        .send()
        .await
        .expect("swap");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"third");
    // If-Match on a key that is not there: 404.
    let r = put("absent", b"x").if_match(&etag).send().await;
    assert_eq!(error_status(&r), 404, "{r:?}");

    // Two racing create-only writes: exactly one wins.
    let racers = (0..4).map(|i| {
        let s3 = s3.clone();
        let b = b.clone();
        tokio::spawn(async move {
            s3.put_object()
                .bucket(&b)
                .key("race")
                .body(ByteStream::from(format!("racer {i}").into_bytes()))
                .if_none_match("*")
                .send()
                .await
                .is_ok()
        })
    });
    let mut wins = 0;
    for r in racers {
        if tokio::time::timeout(Duration::from_secs(30), r)
            .await
            .expect("racer finishes")
            .expect("racer task")
        {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one create-only write wins");
}
