//! What authorization needs of a request beyond the key: the facts that
//! policy conditions read (source address, TLS, headers, listing
//! parameters), the resource asked for, and the bucket's access settings
//! (policy, Public Access Block) read from the client's short cache. The
//! rule itself is `access::allows_request`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use cairn_client::Client;
use http::HeaderMap;

use crate::error::S3Result;
use crate::ops::cluster_error::{to_s3, Missing};
use crate::ops::public_access::{self, PublicAccessBlock};
use crate::policy::{self, cache::PolicyCache, Context, Policy};
use crate::query::Query;

/// The request as conditions see it.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub source_ip: Option<IpAddr>,
    pub secure: bool,
    pub headers: &'a HeaderMap,
    pub query: &'a Query,
}

/// What a request acts on.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub bucket: &'a str,
    /// The object, for object operations.
    pub key: Option<&'a str>,
    /// Every object of the bucket (DeleteObjects, POST object).
    pub any_object: bool,
}

impl<'a> Facts<'a> {
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The policy context of `principal` doing `action` on `target`.
    pub fn context(
        &self,
        principal: Option<&'a str>,
        action: &'a str,
        target: Target<'_>,
    ) -> Context<'a> {
        let resource = match (target.key, target.any_object) {
            (_, true) => format!("arn:aws:s3:::{}/", target.bucket),
            (Some(k), false) => format!("arn:aws:s3:::{}/{k}", target.bucket),
            (None, false) => format!("arn:aws:s3:::{}", target.bucket),
        };
        Context {
            principal,
            action,
            resource: Cow::Owned(resource),
            any_object: target.any_object,
            source_ip: self.source_ip,
            secure: self.secure,
            user_agent: self.header("user-agent"),
            referer: self.header("referer"),
            now: crate::signature::time::now_unix(),
            prefix: self.query.get("prefix"),
            delimiter: self.query.get("delimiter"),
            max_keys: self.query.get("max-keys"),
            acl: self.header("x-amz-acl"),
            version_id: self.query.get("versionId"),
        }
    }
}

/// A bucket's access settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub policy: Option<Arc<Policy>>,
    pub block: PublicAccessBlock,
}

/// The settings of `bucket`, from the client's short cache (no MDS call on
/// most requests) and the parsed-policy cache (no JSON parse).
pub async fn settings(client: &Client, cache: &PolicyCache, bucket: &str) -> S3Result<Settings> {
    let stored = client
        .bucket_setting_recent(bucket, policy::SETTING)
        .await
        .map_err(|e| to_s3(e, Missing::Bucket, &format!("/{bucket}")))?;
    let policy = stored.map(|bytes| cache.get(bucket, &bytes));
    let block = public_access::stored(client, bucket).await?;
    Ok(Settings { policy, block })
}
