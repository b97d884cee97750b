//! CopyObject from an encrypted source or into an encrypted object: the
//! source's plaintext is read (opened with its key), sealed with the
//! destination's own key when it is encrypted, and written as new chunks.
//! No chunk is shared with the source, as the keys differ.

use cairn_client::sse::{open_blocks, stored_span, DataKey, ObjectSse};
use cairn_client::{Node, ObjectMeta, PutConditions};
use futures::StreamExt;

use super::cluster_error::{to_s3, Missing};
use super::sse::Sealing;
use super::Request;
use crate::body::{BodyStream, ErrorSlot};
use crate::error::S3Result;

/// The stored headers of encryption, dropped from a copy's metadata
/// before the destination's own are written.
const SSE_HEADERS: [&str; 4] = [
    cairn_client::sse::MODE_HEADER,
    cairn_client::sse::SALT_HEADER,
    cairn_client::sse::SIZE_HEADER,
    cairn_client::sse::KEY_MD5_HEADER,
];

/// The plaintext of `source` as a body stream.
fn plaintext(
    req: &Request,
    source: &Node,
    opened: Option<(&ObjectSse, DataKey)>,
    resource: &str,
) -> BodyStream {
    let resource = resource.to_string();
    match opened {
        Some((sse, key)) => {
            let span = stored_span(0, sse.plain_size, sse.plain_size);
            let stored = req.client.read(source, span.stored_offset, span.stored_len);
            open_blocks(stored, key, 0, span)
                .map(move |r| r.map_err(|e| to_s3(e, Missing::Key, &resource)))
                .boxed()
        }
        None => req
            .client
            .read(source, 0, source.size)
            .map(move |r| r.map_err(|e| to_s3(e, Missing::Key, &resource)))
            .boxed(),
    }
}

/// Copies `source` to `bucket/key` of the request through its plaintext.
pub async fn copy_through_plaintext(
    req: &Request,
    key: &str,
    source: &Node,
    opened: Option<(&ObjectSse, DataKey)>,
    sealing: Option<Sealing>,
    mut meta: ObjectMeta,
    conditions: PutConditions,
) -> S3Result<Node> {
    let resource = format!("/{}/{key}", req.bucket);
    let body = plaintext(req, source, opened, &resource);
    let (body, sealed) = super::sse::seal_body(body, sealing);
    let errors = ErrorSlot::default();
    let mut written =
        super::put::write_stream(req, &req.bucket, key, body, &errors, &conditions).await?;
    for name in SSE_HEADERS {
        meta.headers.remove(name);
    }
    if let Some(sealed) = sealed {
        sealed.finish(&mut written, &mut meta)?;
    }
    req.client
        .commit_object(&req.bucket, key.as_bytes(), &written, meta, conditions)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &resource))
}
