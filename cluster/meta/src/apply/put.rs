//! S3's PutKey: conditions, versions, then the object placed in the keys
//! and the tree (`objects`), its reply remembered under the request id.

use cairn_common::ClusterError;

use super::objects::{bucket_info, check_key, place};
use super::{chunks, requests, versions, Tables};
use crate::command::{CommandReply, ObjectSpec};
use crate::names::display;
use crate::schema::{NodeKind, Protection};

/// Arguments of PutKey.
pub(super) struct PutKey<'a> {
    pub bucket: &'a str,
    pub key: &'a [u8],
    pub object: &'a ObjectSpec,
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub request_id: u64,
    /// Tags, retention and legal hold the new version asks for (`None`:
    /// none; the bucket's default retention still applies).
    pub protection: Option<&'a Protection>,
}

pub(super) fn put_key(
    t: &mut Tables,
    p: PutKey,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    if let Some(reply) = requests::recall(t, p.request_id)? {
        return Ok(reply);
    }
    check_key(p.key)?;
    let bucket = bucket_info(t, p.bucket)?;
    let existing = t.key(p.bucket, p.key)?;
    check_conditions(t, existing, p.if_match, p.if_none_match, p.key)?;

    let marker = match p.object.kind {
        Some(NodeKind::Dir) => {
            if !p.key.ends_with(b"/") || p.object.size != 0 || !p.object.extents.is_empty() {
                return Err(ClusterError::Invalid(
                    "a directory marker has a key ending in `/` and no content".into(),
                ));
            }
            true
        }
        // S3 clients send a marker as an empty object (kind File on the
        // wire): the key's shape decides.
        None | Some(NodeKind::File) => {
            p.key.ends_with(b"/") && p.object.size == 0 && p.object.extents.is_empty()
        }
        Some(NodeKind::Symlink) => false,
        Some(kind) => {
            return Err(ClusterError::Invalid(format!(
                "a {kind:?} is not an object: make it through the mount"
            )))
        }
    };
    if !marker {
        chunks::check_extents(&p.object.extents, t.chunk_size()?)?;
        // Every byte an extent names was written: the chunks' lengths reach
        // at least that far (copies need lengths).
        chunks::raise_lengths_to_extents(t, &p.object.extents)?;
        if let Some(last) = p.object.extents.last() {
            if last.end() > p.object.size {
                return Err(ClusterError::Invalid(format!(
                    "extents reach byte {} of an object of {} bytes",
                    last.end(),
                    p.object.size
                )));
            }
        }
    }

    // Versioning first: the version the key holds now is kept (or the null
    // one dropped) before its inode takes the new content.
    let settings = super::settings::bucket_protection(t, p.bucket)?;
    let protection = versions::new_protection(&settings, p.protection, now_ns)?;
    let version = versions::make_room(t, p.bucket, p.key, existing, settings.versioning, now_ns)?;
    let mut node = place(t, &bucket, p.key, p.object, marker, existing, now_ns)?;
    node.version = version;
    node.protection = protection;
    t.put_inode(&node)?;
    let reply = CommandReply::Node(node);
    if p.request_id != 0 {
        requests::remember(t, p.request_id, &reply)?;
    }
    Ok(reply)
}

/// S3 conditional write: `If-None-Match: *` wants no current object;
/// `If-Match` wants the current ETag (`*`: any current object). A missing
/// object under If-Match is NotFound (S3 answers 404 there).
fn check_conditions(
    t: &Tables,
    existing: Option<u64>,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    key: &[u8],
) -> Result<(), ClusterError> {
    if let Some(cond) = if_none_match {
        if existing.is_some() && cond.trim() == "*" {
            return Err(ClusterError::PreconditionFailed(format!(
                "{} exists",
                display(key)
            )));
        }
        if let (Some(ino), cond) = (existing, cond.trim()) {
            if cond != "*" && etag_matches(&t.inode(ino)?.etag, cond) {
                return Err(ClusterError::PreconditionFailed(format!(
                    "{} has ETag {cond}",
                    display(key)
                )));
            }
        }
    }
    if let Some(cond) = if_match {
        let Some(ino) = existing else {
            return Err(ClusterError::NotFound(display(key)));
        };
        let cond = cond.trim();
        let etag = t.inode(ino)?.etag;
        if cond != "*" && !etag_matches(&etag, cond) {
            return Err(ClusterError::PreconditionFailed(format!(
                "{}: ETag is {etag:?}, not {cond}",
                display(key)
            )));
        }
    }
    Ok(())
}

/// Whether a condition (a list of possibly quoted ETags) names `etag`. A
/// stale (empty) ETag matches nothing.
fn etag_matches(etag: &str, cond: &str) -> bool {
    !etag.is_empty()
        && cond
            .split(',')
            .map(|c| c.trim().trim_start_matches("W/").trim_matches('"'))
            .any(|c| c == etag)
}
