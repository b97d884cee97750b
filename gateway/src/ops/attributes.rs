//! GetObjectAttributes (`GET /bucket/key?attributes`): what S3 says of an
//! object, or of the version `versionId` names, without its body. The
//! attributes asked for in `x-amz-object-attributes` (ETag, Checksum,
//! ObjectParts with each part's checksum, StorageClass, ObjectSize) are
//! answered, in S3's order, with the checksum's type;
//! an unknown or missing name is `InvalidArgument`; a delete marker
//! answers as GetObject does. (S3 takes no conditional headers here.)

use axum::body::Body;
use http::{HeaderValue, Response};

use super::meta::{etag_of, last_modified, part_checksums, part_sizes, stored_checksums};
use super::{xml, Request};
use crate::checksum_type::ChecksumType;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::xml::attributes::{ObjectAttributes, PartsPage};

/// The attributes S3 answers, as named in `x-amz-object-attributes`.
const NAMES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];
/// Parts listed per answer unless `x-amz-max-parts` says fewer.
const MAX_PARTS: u32 = 1000;

/// The attributes asked for, as flags in [`NAMES`]' order.
fn asked(req: &Request) -> S3Result<[bool; 5]> {
    let mut out = [false; 5];
    let values = req.headers.get_all("x-amz-object-attributes");
    for value in values {
        let text = value.to_str().map_err(|_| invalid_attribute())?;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let i = NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(invalid_attribute)?;
            out[i] = true;
        }
    }
    if !out.iter().any(|a| *a) {
        return Err(S3Error::with_message(
            ErrorCode::InvalidArgument,
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        ));
    }
    Ok(out)
}

fn invalid_attribute() -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidArgument,
        "Invalid attribute name specified.",
    )
}

/// A non-negative integer header, or `default`.
fn number(req: &Request, name: &str, default: u32) -> S3Result<u32> {
    match req.header(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            S3Error::with_message(
                ErrorCode::InvalidArgument,
                format!("{name} must be a non-negative integer"),
            )
        }),
    }
}

pub async fn get_object_attributes(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    let asked = asked(&req)?;
    let max_parts = number(&req, "x-amz-max-parts", MAX_PARTS)?.min(MAX_PARTS);
    let marker = number(&req, "x-amz-part-number-marker", 0)?;
    let version_id = super::protection::version_id_param(&req)?;
    let found = super::protection::lookup_version(&req, &req.bucket, &key, version_id).await?;
    let node = &found.node;
    let etag = etag_of(node);

    let checksums: Vec<(String, &str)> = if asked[1] {
        stored_checksums(node)
            .into_iter()
            .map(|(a, v)| (format!("Checksum{}", a.as_str()), v))
            .collect()
    } else {
        Vec::new()
    };
    let checksum_type = stored_checksums(node)
        .first()
        .map(|(_, v)| ChecksumType::of_value(v).as_str());
    let sizes = if asked[2] { part_sizes(node) } else { None };
    // Each part's checksum, of the object's algorithm, when every part has one.
    let part_values =
        part_checksums(node).filter(|v| Some(v.len()) == sizes.as_ref().map(Vec::len));
    let part_checksum_name = stored_checksums(node)
        .first()
        .map(|(a, _)| format!("Checksum{}", a.as_str()));
    let out = ObjectAttributes {
        etag: asked[0].then_some(etag.as_str()),
        checksums: &checksums,
        checksum_type,
        parts: sizes.as_deref().map(|sizes| PartsPage {
            sizes,
            checksums: part_checksum_name.as_deref().zip(part_values.as_deref()),
            marker,
            max_parts,
        }),
        storage_class: asked[3].then_some("STANDARD"),
        size: asked[4].then_some(cairn_client::sse::plain_size(node)),
    }
    .to_xml();
    let mut response = xml(out);
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified(node))) {
        response
            .headers_mut()
            .insert(http::header::LAST_MODIFIED, v);
    }
    super::meta::insert_version_id(response.headers_mut(), &node.version_id);
    Ok(response)
}
