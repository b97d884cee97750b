//! Access control lists: GetBucketAcl, GetObjectAcl, PutBucketAcl,
//! PutObjectAcl (S3 API reference), as far as Cairn has them.
//!
//! Cairn stores no ACL grants yet: every bucket and object has the one
//! ACL S3 gives by default, its owner's FULL_CONTROL (the owner is the
//! bucket's recorded owner key; its ID and DisplayName are the key id).
//! So:
//! - Get*Acl answer that ACL (for an object, once it is found: `NoSuchKey`,
//!   `NoSuchVersion` as GET would);
//! - Put*Acl accept what changes nothing: the canned `private` or
//!   `bucket-owner-full-control`, or an `AccessControlPolicy` body whose
//!   only grants are the owner's FULL_CONTROL; anything else (public
//!   canned ACLs, grant headers, other grantees) is refused: 403
//!   AccessDenied under the Public Access Block's BlockPublicAcls for a
//!   public one, else 501 NotImplemented, never silently dropped;
//! - under Object Ownership `BucketOwnerEnforced`, Put*Acl is 400
//!   `AccessControlListNotSupported`, as S3 has it.

use axum::body::Body;
use http::Response;

use super::ownership::{self, Ownership};
use super::protection::{object_version, read_xml_body, shown_version_id, with_version_header};
use super::{empty, public_access, xml, Request};
use crate::error::{push_escaped, ErrorCode, S3Error, S3Result};
use crate::xml::tree;

/// The key id that owns the request's bucket.
fn owner_id(req: &Request) -> String {
    match &req.target {
        Some(b) if !b.owner.is_empty() => b.owner.clone(),
        _ => req
            .access_key
            .as_ref()
            .map(|k| k.id.clone())
            .unwrap_or_default(),
    }
}

/// The owner's FULL_CONTROL as an `AccessControlPolicy` document.
pub fn owner_only_xml(owner: &str) -> String {
    let mut out = format!(
        "{}<AccessControlPolicy xmlns=\"{}\"><Owner><ID>",
        crate::xml::DECLARATION,
        crate::xml::S3_NAMESPACE
    );
    push_escaped(&mut out, owner);
    out.push_str("</ID><DisplayName>");
    push_escaped(&mut out, owner);
    out.push_str("</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>");
    push_escaped(&mut out, owner);
    out.push_str("</ID><DisplayName>");
    push_escaped(&mut out, owner);
    out.push_str("</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>");
    out
}

pub async fn get_bucket_acl(req: Request) -> S3Result<Response<Body>> {
    Ok(xml(owner_only_xml(&owner_id(&req))))
}

pub async fn get_object_acl(req: Request) -> S3Result<Response<Body>> {
    let version = object_version(&req).await?;
    let body = owner_only_xml(&owner_id(&req));
    Ok(with_version_header(xml(body), shown_version_id(&version)))
}

pub async fn put_bucket_acl(req: Request) -> S3Result<Response<Body>> {
    check_put_acl(&req).await?;
    Ok(empty(http::StatusCode::OK))
}

pub async fn put_object_acl(req: Request) -> S3Result<Response<Body>> {
    let version = object_version(&req).await?;
    check_put_acl(&req).await?;
    Ok(with_version_header(
        empty(http::StatusCode::OK),
        shown_version_id(&version),
    ))
}

/// Accepts a Put*Acl that leaves the owner's full control as the only
/// grant; refuses the rest as the module says.
async fn check_put_acl(req: &Request) -> S3Result<()> {
    if ownership::stored(&req.client, &req.bucket).await? == Ownership::BucketOwnerEnforced {
        return Err(ownership::acls_off());
    }
    let owner = owner_id(req);
    let body = read_xml_body(req, false).await?;
    let changes = if body.iter().all(u8::is_ascii_whitespace) {
        ownership::asks_for_acl(&req.headers)
    } else {
        !only_owner_full_control(&body, &owner)?
    };
    if !changes {
        return Ok(());
    }
    let block = public_access::stored(&req.client, &req.bucket).await?;
    if block.block_public_acls && public_access::carries_public_acl(&req.headers) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    Err(S3Error::with_message(
        ErrorCode::NotImplemented,
        "ACL grants beyond the owner's full control are not implemented.",
    ))
}

/// Whether an `AccessControlPolicy` body grants only FULL_CONTROL to
/// `owner` (a malformed body is `MalformedACLError`'s 400: MalformedXML).
fn only_owner_full_control(body: &[u8], owner: &str) -> S3Result<bool> {
    let doc = tree::parse(body, "AccessControlPolicy")?;
    doc.only(&["Owner", "AccessControlList"])?;
    let Some(list) = doc.child("AccessControlList")? else {
        return Err(tree::malformed());
    };
    list.only(&["Grant"])?;
    for grant in list.children_named("Grant") {
        let grantee = grant.required("Grantee")?;
        let permission = grant.required("Permission")?.leaf()?.trim();
        let id = grantee.child("ID")?.map(|e| e.leaf()).transpose()?;
        if permission != "FULL_CONTROL" || id.map(str::trim) != Some(owner) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_only_document_reads_back_as_such() {
        let doc = owner_only_xml("AKOWNER");
        assert_eq!(
            only_owner_full_control(doc.as_bytes(), "AKOWNER").ok(),
            Some(true)
        );
        assert_eq!(
            only_owner_full_control(doc.as_bytes(), "AKOTHER").ok(),
            Some(false)
        );
        let public = doc.replace(
            "</AccessControlList>",
            "<Grant><Grantee><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList>",
        );
        assert_eq!(
            only_owner_full_control(public.as_bytes(), "AKOWNER").ok(),
            Some(false)
        );
        assert!(only_owner_full_control(b"<Nope/>", "AKOWNER").is_err());
    }
}
