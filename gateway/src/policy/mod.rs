//! Bucket policies: the IAM policy language as S3 applies it to a bucket
//! (PutBucketPolicy), parsed once into [`Policy`] and evaluated per request
//! against a [`Context`]. Not to be confused with `signature::policy`, the
//! POST-form policy.
//!
//! - `parse`: JSON -> [`Policy`], with S3's `MalformedPolicy` reasons;
//! - `condition`: the condition operators and the request's context;
//! - `actions`: the one table from operation to IAM action;
//! - `eval`: a statement's match, the policy's [`Decision`], and whether a
//!   policy is public ([`Policy::is_public`]);
//! - `cache`: the parsed form of each bucket's stored bytes, so that no
//!   request parses JSON.
//!
//! Principals: a Cairn access key is named by its id: `"AWS": "KEYID"`,
//! `"AWS": "arn:aws:iam::<anything>:user/KEYID"` (any path before the
//! last `/`) or `"CanonicalUser": "KEYID"` (the ID that Get*Acl shows).
//! `"*"` and `"AWS": "*"` name everyone, anonymous requests included. An
//! account (`arn:aws:iam::123456789012:root`, a bare 12-digit id), a
//! `Service` or a `Federated` principal has no meaning in a Cairn cluster
//! and is refused ("Invalid principal in policy").

pub mod actions;
pub mod cache;
pub mod condition;
pub mod eval;
pub mod glob;
pub mod parse;

#[cfg(test)]
mod tests;

pub use condition::Context;
pub use eval::Decision;
pub use parse::parse;

/// The most a stored policy may hold (S3: 20 KB).
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// The bucket setting that holds a bucket's policy, as sent (JSON).
pub const SETTING: &str = "policy";

/// A parsed, validated bucket policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `*`: everyone, anonymous included.
    Anyone,
    /// These access key ids.
    Keys(Vec<String>),
}

/// `Principal` or `NotPrincipal`, `Action` or `NotAction`, `Resource` or
/// `NotResource`: a list and whether it is the `Not` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element<T> {
    pub not: bool,
    pub items: T,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Element<Principals>,
    /// Action patterns (`s3:Get*`), compared without case.
    pub action: Element<Vec<String>>,
    /// Resource ARN patterns, compared with case.
    pub resource: Element<Vec<String>>,
    /// Every condition must hold.
    pub conditions: Vec<condition::Condition>,
}

/// The fuzzing entry point for the bucket policy parser and evaluator:
/// parses `data` as the policy of bucket `fuzz-bucket` and, when it
/// parses, evaluates it for a few requests. Never panics.
pub fn fuzz_bucket_policy(data: &[u8]) {
    let Ok(policy) = parse(data, "fuzz-bucket") else {
        return;
    };
    let _ = policy.is_public();
    let object = Context {
        principal: Some("AKFUZZ"),
        action: "s3:GetObject",
        resource: std::borrow::Cow::Borrowed("arn:aws:s3:::fuzz-bucket/a/b.txt"),
        source_ip: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        user_agent: Some("fuzz"),
        prefix: Some("a/"),
        max_keys: Some("10"),
        ..Context::default()
    };
    let every = Context {
        principal: None,
        action: "s3:DeleteObject",
        resource: std::borrow::Cow::Borrowed("arn:aws:s3:::fuzz-bucket/"),
        any_object: true,
        ..Context::default()
    };
    for ctx in [&object, &every] {
        let _ = policy.evaluate(ctx, true);
        let _ = policy.evaluate(ctx, false);
    }
}
