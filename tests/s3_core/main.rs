//! The rest of S3's core through `cairn up`, with aws-sdk-s3 and, where
//! the SDK cannot send the request, raw HTTP: multipart checksums of both
//! types (FULL_OBJECT, COMPOSITE) and their errors, in ListParts,
//! ListMultipartUploads, copied parts, part reads and GetObjectAttributes;
//! a repeated completion, conditional completions, `partNumber` reads and
//! their errors, `max-keys=0`, ListBuckets paging, CreateBucket of an owned
//! bucket by region, a PUT with HTTP chunked encoding, and SigV2 on bucket
//! requests.

mod checksums;
#[path = "../common/mod.rs"]
mod common;
mod complete;
mod raw;
mod reads;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use common::s3::*;

const MIB: usize = 1 << 20;

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Uploads `data` as part `n`, with `algorithm`'s checksum when given;
/// the part as CompleteMultipartUpload lists it (ETag, checksum).
async fn upload_part(
    s3: &aws_sdk_s3::Client,
    b: &str,
    key: &str,
    id: &str,
    n: i32,
    data: &[u8],
    algorithm: Option<ChecksumAlgorithm>,
) -> CompletedPart {
    let out = s3
        .upload_part()
        .bucket(b)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .set_checksum_algorithm(algorithm)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"));
    CompletedPart::builder()
        .part_number(n)
        .e_tag(out.e_tag().expect("part etag"))
        .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
        .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_string))
        .set_checksum_crc64_nvme(out.checksum_crc64_nvme().map(str::to_string))
        .set_checksum_sha1(out.checksum_sha1().map(str::to_string))
        .set_checksum_sha256(out.checksum_sha256().map(str::to_string))
        .build()
}

fn parts_of(parts: &[CompletedPart]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts.to_vec()))
        .build()
}

/// A two-part upload (5 MiB and a tail) of `key`, created with no checksum;
/// returns its id, its listed parts and the object's bytes.
async fn two_part_upload(
    s3: &aws_sdk_s3::Client,
    b: &str,
    key: &str,
    seed: u64,
) -> (String, Vec<CompletedPart>, Vec<u8>) {
    let id = create_upload(s3, b, key).await;
    let first = common::pattern(seed, 5 * MIB);
    let second = common::pattern(seed + 1, 777);
    let parts = vec![
        upload_part(s3, b, key, &id, 1, &first, Some(ChecksumAlgorithm::Crc32)).await,
        upload_part(s3, b, key, &id, 2, &second, Some(ChecksumAlgorithm::Crc32)).await,
    ];
    let mut whole = first;
    whole.extend_from_slice(&second);
    (id, parts, whole)
}
