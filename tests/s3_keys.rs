//! Keys with every byte S3 allows round-trip exactly through `cairn up`
//! (PUT, GET, HEAD, listing, copy, delete), and none reaches a path outside
//! the cluster's data.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::s3::*;

fn hostile_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "plain",
        "with space",
        " leading and trailing ",
        "plus+sign",
        "percent%20not-an-escape",
        "100%",
        "a//double//slash",
        "/leading-slash",
        "trailing-slash-content/",
        "../../../../etc/passwd",
        "..",
        ".",
        "./dot",
        "a/./b/../c",
        "...",
        "query?x=1&y=2",
        "hash#fragment",
        "semi;colon,comma",
        "colon:star*pipe|",
        "quote\"apostrophe'",
        "angle<brackets>&amp;",
        "back\\slash",
        "tilde~caret^backtick`",
        "brace{}bracket[]",
        "unicode-é-€-日本-𝄞",
        "emoji-🦀-🚀",
        "tab\tinside",
        "new\nline",
        "=equals",
        "@at!bang$dollar",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.push(format!("long/{}", "é".repeat(509)));
    keys.push("seg/".repeat(200) + "end");
    keys
}

#[tokio::test]
async fn hostile_keys_round_trip() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("keys");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let keys = hostile_keys();
    for k in &keys {
        assert!(k.len() <= 1024, "{} bytes", k.len());
        s3.put_object()
            .bucket(&b)
            .key(k)
            .body(ByteStream::from(k.clone().into_bytes()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {k:?}: {e:?}"));
    }
    for k in &keys {
        let got = s3
            .get_object()
            .bucket(&b)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {k:?}: {e:?}"));
        assert_eq!(body_bytes(got).await, k.as_bytes(), "{k:?}");
        s3.head_object()
            .bucket(&b)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {k:?}: {e:?}"));
    }
    // Listed exactly, in byte order, with and without url encoding.
    let mut want = keys.clone();
    want.sort();
    for encoded in [false, true] {
        let mut req = s3.list_objects_v2().bucket(&b);
        if encoded {
            req = req.encoding_type(aws_sdk_s3::types::EncodingType::Url);
        }
        let listed = req.send().await.expect("list");
        let got: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| {
                if encoded {
                    percent_decode(k)
                } else {
                    k.to_string()
                }
            })
            .collect();
        assert_eq!(got, want, "encoding-type=url: {encoded}");
    }
    // A prefix that is a path escape finds exactly its key.
    let escape = s3
        .list_objects_v2()
        .bucket(&b)
        .prefix("../")
        .send()
        .await
        .expect("list");
    assert_eq!(escape.key_count(), Some(1));

    // Copies of hostile keys, to hostile keys.
    for (i, k) in keys.iter().enumerate().take(8) {
        let dest = format!("copy/{i}/{k}");
        s3.copy_object()
            .bucket(&b)
            .key(&dest)
            .copy_source(format!("{b}/{}", encode_path(k)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy {k:?}: {e:?}"));
        let got = s3
            .get_object()
            .bucket(&b)
            .key(&dest)
            .send()
            .await
            .expect("get copy");
        assert_eq!(body_bytes(got).await, k.as_bytes(), "copy of {k:?}");
    }

    // Nothing was written outside the data directory.
    let mut outside: Vec<String> = std::fs::read_dir(c.root.path())
        .expect("read the test root")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    outside.sort();
    // `up.listen`: where the harness reads the addresses `cairn up` bound.
    assert_eq!(outside, vec!["data", "up.listen", "up.log", "up.out"]);
    let data_top: Vec<String> = std::fs::read_dir(c.data_dir())
        .expect("read the data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !data_top.iter().any(|n| n == "passwd" || n == b.as_str()),
        "{data_top:?}"
    );

    // Deleted exactly, in one request.
    let ids: Vec<ObjectIdentifier> = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build().expect("id"))
        .collect();
    let deleted = s3
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    assert!(deleted.errors().is_empty(), "{deleted:?}");
    let left = s3
        .list_objects_v2()
        .bucket(&b)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .filter(|k| !k.starts_with("copy/"))
        .count();
    assert_eq!(left, 0);
}

/// Percent-encodes a key for `x-amz-copy-source` (`/` stays).
fn encode_path(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("decoded keys are UTF-8")
}
