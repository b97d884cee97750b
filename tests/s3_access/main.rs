//! S3 access control through `cairn up`, driven by aws-sdk-s3 (and raw
//! HTTP for anonymous requests): bucket policies (put, get, delete,
//! status, malformed ones, anonymous and second-key requests allowed and
//! refused, conditions), Public Access Block, Object Ownership and the
//! ACLs as Cairn has them (the owner's full control).

mod acl;
#[path = "../common/mod.rs"]
mod common;
mod ownership;
mod policy;
mod public_access;

use common::s3::*;

/// An anonymous request: no credentials at all.
async fn anonymous(cluster: &S3Cluster, method: &str, target: &str, body: &[u8]) -> RawResponse {
    raw_request(cluster.addr, method, target, &[], body).await
}

/// `{"Version":...,"Statement":[...]}` around `statements`.
fn policy_of(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// Public read of every object of `bucket`.
fn public_read(bucket: &str) -> String {
    policy_of(&format!(
        r#"{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}"#
    ))
}

async fn put_policy(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    policy: &str,
) -> Result<
    aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyError>,
> {
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
}
