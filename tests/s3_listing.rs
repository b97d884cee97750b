//! Listing 2,000 keys through `cairn up` with aws-sdk-s3, page by page,
//! with and without a delimiter, compared against a sorted list kept by the
//! test: ListObjectsV2 (continuation-token, start-after, max-keys, prefix,
//! delimiter, KeyCount, CommonPrefixes, fetch-owner, encoding-type=url) and
//! ListObjects v1 (marker, NextMarker).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use common::s3::*;
use futures::StreamExt;

/// The 2,000 keys: nested "directories" of uneven sizes, top-level keys,
/// keys that sort around `/` (`-`, `.`, `0`), and non-ASCII ones.
fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..2000 {
        let k = match i % 10 {
            0..=3 => format!("logs/{:02}/{i:05}.log", i % 13),
            4 | 5 => format!("photos/{}/{i}.jpg", ["a", "b", "a-b", "a.b"][i % 4]),
            6 => format!("top-{i:04}"),
            7 => format!("deep/{}/{}/x{i}", i % 3, i % 5),
            8 => format!("ünïcode/ключ-{i}"),
            _ => format!("logs-{i}"),
        };
        keys.push(k);
    }
    keys
}

/// What a listing must answer: keys under `prefix`, those with `delimiter`
/// after the prefix folded into common prefixes; in byte order.
fn model(
    keys: &BTreeSet<String>,
    prefix: &str,
    delimiter: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let mut contents = Vec::new();
    let mut prefixes = BTreeSet::new();
    for k in keys.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &k[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|at| (d, at))) {
            Some((d, at)) => {
                prefixes.insert(format!("{prefix}{}", &rest[..at + d.len()]));
            }
            None => contents.push(k.clone()),
        }
    }
    (contents, prefixes.into_iter().collect())
}

async fn fill(s3: &aws_sdk_s3::Client, b: &str, keys: &[String]) {
    // Empty objects: the listing is the point, not the data.
    let results: Vec<Result<(), String>> = futures::stream::iter(keys.iter().cloned())
        .map(|k| {
            let s3 = s3.clone();
            let b = b.to_string();
            async move {
                s3.put_object()
                    .bucket(&b)
                    .key(&k)
                    .body(ByteStream::from_static(b""))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{k}: {e:?}"))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r.expect("put");
    }
}

/// Every page of a V2 listing, following continuation tokens; checks each
/// page's shape on the way.
async fn list_v2_all(
    s3: &aws_sdk_s3::Client,
    b: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
) -> (Vec<String>, Vec<String>, usize) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 1000, "pagination does not end");
        let page = s3
            .list_objects_v2()
            .bucket(b)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .max_keys(max_keys)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list page");
        let n = page.contents().len() + page.common_prefixes().len();
        assert_eq!(page.key_count(), Some(n as i32), "KeyCount counts both");
        assert!(n <= max_keys as usize, "{n} > max-keys {max_keys}");
        assert_eq!(page.max_keys(), Some(max_keys));
        assert_eq!(page.continuation_token(), token.as_deref());
        for o in page.contents() {
            contents.push(o.key().expect("key").to_string());
            assert_eq!(o.size(), Some(0));
            assert_eq!(
                o.e_tag(),
                Some("\"d41d8cd98f00b204e9800998ecf8427e\""),
                "empty objects have the MD5 of nothing"
            );
            assert!(o.owner().is_none(), "no owner without fetch-owner");
        }
        for p in page.common_prefixes() {
            prefixes.push(p.prefix().expect("prefix").to_string());
        }
        if page.is_truncated() == Some(true) {
            assert_eq!(n, max_keys as usize, "a truncated page is full");
            token = Some(
                page.next_continuation_token()
                    .expect("a truncated page has a next token")
                    .to_string(),
            );
        } else {
            assert!(page.next_continuation_token().is_none());
            break;
        }
    }
    (contents, prefixes, pages)
}

#[tokio::test]
async fn two_thousand_keys_page_by_page() {
    let c: Arc<S3Cluster> = S3Cluster::shared();
    let s3 = c.client();
    let b = bucket_name("list");
    s3.create_bucket().bucket(&b).send().await.expect("create");
    let keys = keys();
    let sorted: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(sorted.len(), 2000, "the keys are distinct");
    fill(&s3, &b, &keys).await;

    // Without a delimiter: every key once, in byte order.
    let want: Vec<String> = sorted.iter().cloned().collect();
    let (got, prefixes, pages) = list_v2_all(&s3, &b, "", None, 173).await;
    assert!(prefixes.is_empty());
    assert_eq!(pages, 2000 / 173 + 1);
    assert_eq!(got, want);
    // The default page is 1,000 keys.
    let first = s3.list_objects_v2().bucket(&b).send().await.expect("list");
    assert_eq!(first.contents().len(), 1000);
    assert_eq!(first.is_truncated(), Some(true));

    // With a delimiter, at the top and under prefixes.
    for (prefix, max_keys) in [
        ("", 3),
        ("", 1000),
        ("logs/", 5),
        ("photos/", 2),
        ("photos/a", 1),
        ("deep/", 2),
        ("deep/1/", 3),
        ("ünïcode/", 97),
        ("nothing-here/", 10),
    ] {
        let (contents, prefixes, _) = list_v2_all(&s3, &b, prefix, Some("/"), max_keys).await;
        let (want_contents, want_prefixes) = model(&sorted, prefix, Some("/"));
        assert_eq!(contents, want_contents, "contents under {prefix:?}");
        assert_eq!(prefixes, want_prefixes, "prefixes under {prefix:?}");
    }
    // A delimiter other than `/`.
    let (contents, prefixes, _) = list_v2_all(&s3, &b, "logs", Some("-"), 50).await;
    let (want_contents, want_prefixes) = model(&sorted, "logs", Some("-"));
    assert_eq!((contents, prefixes), (want_contents, want_prefixes));

    // start-after.
    let after = "photos/a-b/";
    let page = s3
        .list_objects_v2()
        .bucket(&b)
        .start_after(after)
        .max_keys(10)
        .send()
        .await
        .expect("start-after");
    let want: Vec<&String> = sorted
        .iter()
        .filter(|k| k.as_str() > after)
        .take(10)
        .collect();
    let got: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, want);
    assert_eq!(page.start_after(), Some(after));

    // fetch-owner.
    let page = s3
        .list_objects_v2()
        .bucket(&b)
        .fetch_owner(true)
        .max_keys(3)
        .send()
        .await
        .expect("fetch-owner");
    assert!(page
        .contents()
        .iter()
        .all(|o| o.owner().and_then(|w| w.id()).is_some()));

    // encoding-type=url: keys come back percent-encoded.
    let page = s3
        .list_objects_v2()
        .bucket(&b)
        .prefix("ünïcode/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .max_keys(1)
        .send()
        .await
        .expect("encoded");
    let key = page.contents()[0].key().expect("key");
    assert!(key.contains('%') && key.is_ascii(), "{key}");

    // ListObjects v1: markers, with and without a delimiter.
    for delimiter in [None, Some("/")] {
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        let mut marker: Option<String> = None;
        for round in 0.. {
            assert!(round < 1000);
            let page = s3
                .list_objects()
                .bucket(&b)
                .set_delimiter(delimiter.map(str::to_string))
                .max_keys(211)
                .set_marker(marker.clone())
                .send()
                .await
                .expect("list v1");
            if let Some(m) = &marker {
                assert_eq!(page.marker(), Some(m.as_str()), "the marker is echoed");
            }
            contents.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            prefixes.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            marker = Some(match delimiter {
                // With a delimiter, S3 gives NextMarker.
                Some(_) => page.next_marker().expect("NextMarker").to_string(),
                None => page
                    .next_marker()
                    .map(str::to_string)
                    .unwrap_or_else(|| contents.last().expect("a key").clone()),
            });
        }
        let (want_contents, want_prefixes) = model(&sorted, "", delimiter);
        assert_eq!(
            contents, want_contents,
            "v1 contents, delimiter {delimiter:?}"
        );
        assert_eq!(
            prefixes, want_prefixes,
            "v1 prefixes, delimiter {delimiter:?}"
        );
    }
}
