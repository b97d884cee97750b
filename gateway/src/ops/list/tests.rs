//! The listing core against a sorted model: every page size, with and
//! without a delimiter, paged through to the end, gives exactly the keys
//! and common prefixes of the model, in order, each once.

use std::collections::{BTreeMap, BTreeSet};

use cairn_client::{Node, NodeKind};

use super::*;

fn node() -> Node {
    Node {
        ino: 1,
        kind: NodeKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 1,
        atime_ns: 0,
        mtime_ns: 0,
        ctime_ns: 0,
        nlink: 1,
        etag: "e".into(),
        content_type: String::new(),
        user_meta: BTreeMap::new(),
        headers: BTreeMap::new(),
        replicas: 0,
        min_replicas: 0,
        tier: 0,
        extents: Vec::new(),
        symlink_target: Vec::new(),
        xattrs: BTreeMap::new(),
        version_id: String::new(),
        protection: Default::default(),
        rdev: 0,
    }
}

/// The MDS's ListKeys over a sorted set, with a small page to exercise
/// paging.
fn fetch_from<'a>(
    keys: &'a BTreeSet<String>,
    prefix: &str,
    mds_page: usize,
) -> impl FnMut(Vec<u8>, u32) -> std::future::Ready<S3Result<KeyPage>> + 'a {
    let prefix = prefix.to_string();
    move |after, limit| {
        let matching: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&prefix) && k.as_bytes() > after.as_slice())
            .collect();
        let n = (limit as usize).min(mds_page);
        let page = matching
            .iter()
            .take(n)
            .map(|k| (k.as_bytes().to_vec(), node()))
            .collect();
        std::future::ready(Ok((page, matching.len() > n)))
    }
}

fn model() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for d in 0..20 {
        for f in 0..30 {
            keys.insert(format!("dir{d:02}/file{f:03}"));
        }
        keys.insert(format!("top{d:02}"));
    }
    keys.insert("dir05/sub/deeper".into());
    keys.insert("a b/+%/\u{e9}".into());
    keys.insert("//x".into());
    keys
}

fn expected(keys: &BTreeSet<String>, prefix: &str, delimiter: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| k.starts_with(prefix)) {
        let item = match delimiter {
            Some(d) => match k[prefix.len()..].find(d) {
                Some(at) => format!("P:{}", &k[..prefix.len() + at + d.len()]),
                None => format!("K:{k}"),
            },
            None => format!("K:{k}"),
        };
        if out.last() != Some(&item) {
            out.push(item);
        }
    }
    out
}

#[tokio::test]
async fn pages_through_everything_exactly_once() {
    let keys = model();
    for (prefix, delimiter) in [
        ("", None),
        ("", Some("/")),
        ("dir0", Some("/")),
        ("dir05/", Some("/")),
        ("", Some("file0")),
    ] {
        for max_keys in [1, 7, 50, 1000] {
            for mds_page in [3, 1000] {
                let mut got = Vec::new();
                let mut after = Vec::new();
                loop {
                    let params = ListParams {
                        prefix: prefix.into(),
                        delimiter: delimiter.map(str::to_string),
                        after: after.clone(),
                        max_keys,
                    };
                    let outcome = list_core(&params, fetch_from(&keys, prefix, mds_page))
                        .await
                        .unwrap();
                    assert!(outcome.contents.len() + outcome.prefixes.len() <= max_keys);
                    let mut page: Vec<String> = outcome
                        .contents
                        .iter()
                        .map(|(k, _)| format!("K:{k}"))
                        .collect();
                    page.extend(outcome.prefixes.iter().map(|p| format!("P:{p}")));
                    page.sort_by(|a, b| a[2..].cmp(&b[2..]));
                    got.extend(page);
                    if !outcome.truncated {
                        break;
                    }
                    after = outcome.next_after.unwrap();
                }
                assert_eq!(
                    got,
                    expected(&keys, prefix, delimiter),
                    "{prefix:?} {delimiter:?} {max_keys} {mds_page}"
                );
            }
        }
    }
}

#[tokio::test]
async fn empty_and_zero() {
    let keys = model();
    let params = ListParams {
        prefix: "nothing".into(),
        delimiter: None,
        after: Vec::new(),
        max_keys: 10,
    };
    let outcome = list_core(&params, fetch_from(&keys, "nothing", 10))
        .await
        .unwrap();
    assert!(outcome.contents.is_empty() && !outcome.truncated);
    let params = ListParams {
        prefix: String::new(),
        delimiter: None,
        after: Vec::new(),
        max_keys: 0,
    };
    // S3 answers max-keys=0 with nothing, not truncated, and no marker.
    let outcome = list_core(&params, fetch_from(&keys, "", 10)).await.unwrap();
    assert!(outcome.contents.is_empty() && !outcome.truncated);
    assert!(outcome.next_after.is_none() && outcome.prefixes.is_empty());
}

#[test]
fn url_encoding_keeps_slashes() {
    assert_eq!(enc("a b/c+d", true), "a%20b/c%2Bd");
    assert_eq!(enc("a b", false), "a b");
}
