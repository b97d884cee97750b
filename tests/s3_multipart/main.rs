//! Multipart uploads through `cairn up` with aws-sdk-s3:
//! CreateMultipartUpload, UploadPart, UploadPartCopy with a source range,
//! ListParts, ListMultipartUploads (prefix, delimiter, pagination),
//! CompleteMultipartUpload (ETag, `InvalidPart`, `InvalidPartOrder`,
//! `EntityTooSmall`, `If-None-Match: *`), AbortMultipartUpload, GET and
//! HEAD with `partNumber`, `NoSuchUpload`, composite checksums; and that
//! neither completion nor a copied part copies data.

mod checksums;
#[path = "../common/mod.rs"]
mod common;
mod complete;
mod uploads;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use common::s3::*;
use md5::{Digest, Md5};

const MIB: usize = 1 << 20;

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

/// `hex(md5(concat(binary md5 of each part)))-N`, from the parts' ETags.
fn expected_etag(part_etags: &[&str]) -> String {
    let mut h = Md5::new();
    for e in part_etags {
        h.update(hex::decode(e.trim_matches('"')).expect("a part ETag is hex"));
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), part_etags.len())
}

async fn upload(
    s3: &aws_sdk_s3::Client,
    b: &str,
    key: &str,
    id: &str,
    n: i32,
    data: &[u8],
) -> String {
    s3.upload_part()
        .bucket(b)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"))
        .e_tag()
        .expect("part etag")
        .to_string()
}
