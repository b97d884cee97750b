//! DeleteObject and DeleteObjects (quiet and verbose). Deleting a key that
//! does not exist succeeds, as in S3.

use axum::body::Body;
use cairn_common::FsError;
use http::{Response, StatusCode};

use super::fs_error::{to_s3, Missing};
use super::{empty, xml, Request};
use crate::body::read_bounded;
use crate::error::S3Result;
use crate::limits::MAX_XML_BODY;
use crate::xml::request::Delete;
use crate::xml::response::{to_xml, DeleteErrorEntry, DeleteResult, DeletedEntry};

async fn delete_one(req: &Request, key: &str) -> S3Result<()> {
    match req.client.delete_object(&req.bucket, key.as_bytes()).await {
        Ok(()) | Err(FsError::NotFound(_)) => Ok(()),
        Err(e) => Err(to_s3(e, Missing::Key, &format!("/{}/{key}", req.bucket))),
    }
}

pub async fn delete_object(req: Request) -> S3Result<Response<Body>> {
    let key = req.object_key()?.to_string();
    delete_one(&req, &key).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn delete_objects(req: Request) -> S3Result<Response<Body>> {
    let body = req.take_body();
    let body = read_bounded(body, MAX_XML_BODY).await?;
    crate::checksum::Expected::from_headers(&req.headers)?.verify(&{
        let mut c = crate::checksum::Expected::from_headers(&req.headers)?.checksummer();
        c.update(&body);
        c.finish()
    })?;
    let request = Delete::parse(&body)?;
    let mut result = DeleteResult {
        xmlns: (),
        deleted: Vec::new(),
        errors: Vec::new(),
    };
    for object in &request.objects {
        match delete_one(&req, &object.key).await {
            Ok(()) => {
                if !request.is_quiet() {
                    result.deleted.push(DeletedEntry {
                        key: object.key.clone(),
                    });
                }
            }
            Err(e) => result.errors.push(DeleteErrorEntry {
                key: object.key.clone(),
                code: e.code.as_str().to_string(),
                message: e.message.to_string(),
            }),
        }
    }
    Ok(xml(to_xml(&result)?))
}
