//! ListObjects (v1) and ListObjectsV2: prefix, delimiter and common
//! prefixes, markers and continuation tokens, max-keys, fetch-owner,
//! encoding-type=url, built on the MDS's flat key index (a range scan in
//! byte order, pages of `(key, node)` after a cursor).
//!
//! Invariants: keys are answered in byte order, each at most once across
//! pages; a common prefix stands for every key under it and is answered
//! once: the scan resumes after `prefix + 0xFF` (no UTF-8 key contains the
//! byte 0xFF, so that cursor is past every key starting with the prefix).

use std::future::Future;

use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cairn_client::Node;
use http::Response;

use super::bucket::owner;
use super::cluster_error::{to_s3, Missing};
use super::meta::{etag_of, last_modified_iso};
use super::{quoted_etag, xml, Request};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::limits::MAX_LIST_KEYS;
use crate::signature::canonical::uri_encode;
use crate::xml::response::{
    to_xml, CommonPrefix, ListBucketResultV1, ListBucketResultV2, ObjectEntry,
};

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Exclusive cursor in byte order.
    pub after: Vec<u8>,
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListOutcome {
    pub contents: Vec<(String, Node)>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts (exclusive), when truncated.
    pub next_after: Option<Vec<u8>>,
    /// The last key or common prefix answered.
    pub last: Option<String>,
}

/// The cursor past every key under `prefix`.
pub fn past_prefix(prefix: &str) -> Vec<u8> {
    let mut cursor = prefix.as_bytes().to_vec();
    cursor.push(0xFF);
    cursor
}

/// One page of the MDS's key index: `(key, node)` pairs and whether more
/// follow.
pub type KeyPage = (Vec<(Vec<u8>, Node)>, bool);

/// How many keys to ask the MDS for at once.
const PAGE: u32 = 1000;

/// Lists with `fetch(after, limit) -> (entries, more)` giving the raw pages.
pub async fn list_core<F, Fut>(params: &ListParams, mut fetch: F) -> S3Result<ListOutcome>
where
    F: FnMut(Vec<u8>, u32) -> Fut,
    Fut: Future<Output = S3Result<KeyPage>>,
{
    let mut out = ListOutcome::default();
    if params.max_keys == 0 {
        // S3 answers max-keys=0 with nothing and IsTruncated false, however
        // many keys there are.
        return Ok(out);
    }
    let mut cursor = params.after.clone();
    let mut count = 0usize;
    let mut skip: Option<String> = None;
    'pages: loop {
        // No more than this answer can still take (plus one, to see whether
        // it is truncated): a small max-keys, or a delimiter that folds
        // many keys into few prefixes, does not make the MDS read and send
        // a thousand entries per page.
        let room = params.max_keys.saturating_sub(count).saturating_add(1);
        let limit = u32::try_from(room).unwrap_or(PAGE).clamp(1, PAGE);
        let (page, more) = fetch(cursor.clone(), limit).await?;
        let page_len = page.len();
        for (raw, node) in page {
            let key = String::from_utf8_lossy(&raw).into_owned();
            if let Some(s) = &skip {
                if key.starts_with(s.as_str()) {
                    continue;
                }
                skip = None;
            }
            if count == params.max_keys {
                out.truncated = true;
                break 'pages;
            }
            count += 1;
            let common = params
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| {
                    let rest = key.get(params.prefix.len()..)?;
                    let at = rest.find(d)?;
                    key.get(..params.prefix.len() + at + d.len())
                        .map(str::to_string)
                });
            match common {
                Some(prefix) => {
                    out.next_after = Some(past_prefix(&prefix));
                    out.last = Some(prefix.clone());
                    out.prefixes.push(prefix.clone());
                    skip = Some(prefix);
                }
                None => {
                    out.next_after = Some(raw.clone());
                    out.last = Some(key.clone());
                    out.contents.push((key, node));
                }
            }
            cursor = raw;
        }
        if !more || page_len == 0 {
            break;
        }
        if let Some(s) = &skip {
            // Jump over the rest of the common prefix instead of paging
            // through it.
            let past = past_prefix(s);
            if past > cursor {
                cursor = past;
            }
        }
    }
    if !out.truncated {
        out.next_after = None;
    }
    Ok(out)
}

pub(crate) fn max_keys(req: &Request) -> S3Result<usize> {
    match req.query.get("max-keys") {
        None => Ok(MAX_LIST_KEYS),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| {
                usize::try_from(n)
                    .unwrap_or(MAX_LIST_KEYS)
                    .min(MAX_LIST_KEYS)
            })
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "Provided max-keys not an integer or within integer range",
                )
            }),
    }
}

pub(crate) fn url_encoding(req: &Request) -> S3Result<bool> {
    match req.query.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// Encodes for `encoding-type=url` (keeping `/`, as S3 does).
pub(crate) fn enc(text: &str, url: bool) -> String {
    if url {
        uri_encode(text).replace("%2F", "/")
    } else {
        text.to_string()
    }
}

async fn run(req: &Request, params: &ListParams) -> S3Result<ListOutcome> {
    let resource = req.resource();
    list_core(params, |after, limit| {
        let client = req.client.clone();
        let bucket = req.bucket.clone();
        let prefix = params.prefix.clone();
        let resource = resource.clone();
        async move {
            client
                .list_objects(&bucket, prefix.as_bytes(), &after, limit)
                .await
                .map_err(|e| to_s3(e, Missing::Bucket, &resource))
        }
    })
    .await
}

fn entry(key: &str, node: &Node, url: bool, owner_id: Option<&str>) -> ObjectEntry {
    ObjectEntry {
        key: enc(key, url),
        last_modified: last_modified_iso(node),
        etag: quoted_etag(&etag_of(node)),
        size: cairn_client::sse::plain_size(node),
        storage_class: "STANDARD",
        owner: owner_id.map(owner),
    }
}

pub(crate) async fn bucket_owner(req: &Request) -> String {
    match req.client.get_bucket(&req.bucket).await {
        Ok(b) if !b.owner.is_empty() => b.owner,
        _ => req
            .access_key
            .as_ref()
            .map(|k| k.id.clone())
            .unwrap_or_default(),
    }
}

pub async fn list_objects_v1(req: Request) -> S3Result<Response<Body>> {
    let url = url_encoding(&req)?;
    let prefix = req.query.get("prefix").unwrap_or("").to_string();
    let delimiter = req
        .query
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let marker = req.query.get("marker").unwrap_or("").to_string();
    // A marker that is a common prefix (as NextMarker is) resumes past it.
    let after = match &delimiter {
        Some(d)
            if marker.starts_with(&prefix)
                && marker.ends_with(d.as_str())
                && !marker.is_empty() =>
        {
            past_prefix(&marker)
        }
        _ => marker.as_bytes().to_vec(),
    };
    let params = ListParams {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        after,
        max_keys: max_keys(&req)?,
    };
    let outcome = run(&req, &params).await?;
    let owner_id = bucket_owner(&req).await;
    let result = ListBucketResultV1 {
        xmlns: (),
        name: req.bucket.clone(),
        prefix: enc(&prefix, url),
        marker: enc(&marker, url),
        next_marker: if outcome.truncated {
            outcome.last.as_deref().map(|l| enc(l, url))
        } else {
            None
        },
        max_keys: params.max_keys,
        delimiter: delimiter.map(|d| enc(&d, url)),
        is_truncated: outcome.truncated,
        encoding_type: url.then_some("url"),
        contents: outcome
            .contents
            .iter()
            .map(|(k, n)| entry(k, n, url, Some(&owner_id)))
            .collect(),
        common_prefixes: outcome
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: enc(p, url),
            })
            .collect(),
    };
    Ok(xml(to_xml(&result)?))
}

pub async fn list_objects_v2(req: Request) -> S3Result<Response<Body>> {
    let url = url_encoding(&req)?;
    let prefix = req.query.get("prefix").unwrap_or("").to_string();
    let delimiter = req
        .query
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let token = req.query.get("continuation-token").map(str::to_string);
    let start_after = req.query.get("start-after").map(str::to_string);
    let after = match &token {
        Some(t) => URL_SAFE_NO_PAD.decode(t).map_err(|_| {
            S3Error::with_message(
                ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })?,
        None => start_after.clone().unwrap_or_default().into_bytes(),
    };
    let params = ListParams {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        after,
        max_keys: max_keys(&req)?,
    };
    let outcome = run(&req, &params).await?;
    let fetch_owner = req.query.get("fetch-owner") == Some("true");
    let owner_id = if fetch_owner {
        Some(bucket_owner(&req).await)
    } else {
        None
    };
    let result = ListBucketResultV2 {
        xmlns: (),
        name: req.bucket.clone(),
        prefix: enc(&prefix, url),
        key_count: outcome.contents.len() + outcome.prefixes.len(),
        max_keys: params.max_keys,
        delimiter: delimiter.map(|d| enc(&d, url)),
        is_truncated: outcome.truncated,
        continuation_token: token,
        next_continuation_token: outcome
            .next_after
            .as_ref()
            .map(|a| URL_SAFE_NO_PAD.encode(a)),
        start_after: start_after.map(|s| enc(&s, url)),
        encoding_type: url.then_some("url"),
        contents: outcome
            .contents
            .iter()
            .map(|(k, n)| entry(k, n, url, owner_id.as_deref()))
            .collect(),
        common_prefixes: outcome
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: enc(p, url),
            })
            .collect(),
    };
    Ok(xml(to_xml(&result)?))
}

#[cfg(test)]
mod tests;
