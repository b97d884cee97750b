//! POST object (browser uploads): the signed policy document and its
//! conditions.
//!
//! The form carries `policy` (base64 JSON) and a signature of that base64
//! text: SigV4 (`x-amz-algorithm`, `x-amz-credential`, `x-amz-date`,
//! `x-amz-signature`: hex HMAC-SHA256 with the signing key) or SigV2
//! (`AWSAccessKeyId`, `signature`: base64 HMAC-SHA1 with the secret).
//!
//! The policy: `{"expiration": "2030-01-01T00:00:00.000Z", "conditions":
//! [...]}` where a condition is `{"field": "value"}` (exact match),
//! `["eq", "$field", "value"]`, `["starts-with", "$field", "prefix"]` or
//! `["content-length-range", min, max]`. As in S3, every form field except
//! `policy`, the signature, `file` and `x-ignore-*` must be named by a
//! condition; field names compare case-insensitively.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;

use super::signing::{hmac_sha256, signing_key};
use super::v4::{Credential, SERVICE};
use super::{lookup_key, mac_eq, time, v2, AccessKey, AuthContext, KeyStore};
use crate::error::{ErrorCode, S3Error, S3Result};

/// Longest policy (base64) accepted.
pub const MAX_POLICY_LEN: usize = 64 * 1024;
/// Most conditions in a policy.
pub const MAX_CONDITIONS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The field equals the value.
    Eq { field: String, value: String },
    /// The field starts with the prefix (for `content-type`, each of its
    /// comma-separated values does).
    StartsWith { field: String, prefix: String },
    /// The file's size is within `min..=max`.
    ContentLengthRange { min: u64, max: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// Seconds since the epoch after which the policy is refused.
    pub expiration: i64,
    pub conditions: Vec<Condition>,
}

fn invalid_policy(why: impl Into<String>) -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidPolicyDocument,
        format!("Invalid Policy: {}", why.into()),
    )
}

fn refused(why: impl Into<String>) -> S3Error {
    S3Error::with_message(
        ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {}", why.into()),
    )
}

/// `$key` -> `key`, lowercase.
fn field_name(value: &Value) -> Option<String> {
    value
        .as_str()?
        .strip_prefix('$')
        .map(str::to_ascii_lowercase)
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl PostPolicy {
    /// Parses the JSON of a decoded policy.
    pub fn parse(json: &[u8]) -> S3Result<PostPolicy> {
        let doc: Value =
            serde_json::from_slice(json).map_err(|_| invalid_policy("Invalid JSON."))?;
        let expiration = doc
            .get("expiration")
            .and_then(Value::as_str)
            .and_then(time::parse_iso8601)
            .ok_or_else(|| invalid_policy("Policy missing expiration, or it is malformed."))?;
        let list = doc
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid_policy("Policy missing conditions."))?;
        if list.len() > MAX_CONDITIONS {
            return Err(invalid_policy("Too many conditions."));
        }
        let mut conditions = Vec::with_capacity(list.len());
        for item in list {
            match item {
                Value::Object(map) => {
                    for (field, value) in map {
                        let value = value
                            .as_str()
                            .ok_or_else(|| invalid_policy("Condition value must be a string."))?;
                        conditions.push(Condition::Eq {
                            field: field.trim_start_matches('$').to_ascii_lowercase(),
                            value: value.to_string(),
                        });
                    }
                }
                Value::Array(parts) => {
                    let op = parts
                        .first()
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .ok_or_else(|| invalid_policy("Condition must start with an operation."))?;
                    let condition = match (op.as_str(), parts.as_slice()) {
                        ("eq", [_, field, Value::String(value)]) => Condition::Eq {
                            field: field_name(field)
                                .ok_or_else(|| invalid_policy("Field name must start with $."))?,
                            value: value.clone(),
                        },
                        ("starts-with", [_, field, Value::String(prefix)]) => {
                            Condition::StartsWith {
                                field: field_name(field).ok_or_else(|| {
                                    invalid_policy("Field name must start with $.")
                                })?,
                                prefix: prefix.clone(),
                            }
                        }
                        ("content-length-range", [_, min, max]) => {
                            let (min, max) = number(min)
                                .zip(number(max))
                                .filter(|(min, max)| min <= max)
                                .ok_or_else(|| {
                                    invalid_policy("content-length-range needs two integers.")
                                })?;
                            Condition::ContentLengthRange { min, max }
                        }
                        _ => {
                            return Err(invalid_policy(format!(
                                "Unknown or malformed condition: {op}"
                            )))
                        }
                    };
                    conditions.push(condition);
                }
                _ => return Err(invalid_policy("Condition must be an object or an array.")),
            }
        }
        Ok(PostPolicy {
            expiration,
            conditions,
        })
    }

    /// The allowed file sizes, if the policy limits them.
    pub fn content_length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::ContentLengthRange { min, max } => Some((*min, *max)),
            _ => None,
        })
    }

    /// Checks the expiration and every condition against the form's fields
    /// (names lowercase) and the bucket of the URL.
    pub fn check(&self, fields: &BTreeMap<String, String>, bucket: &str, now: i64) -> S3Result<()> {
        if now > self.expiration {
            return Err(refused("Policy expired."));
        }
        let value_of = |field: &str| -> Option<&str> {
            if field == "bucket" {
                Some(bucket)
            } else {
                fields.get(field).map(String::as_str)
            }
        };
        for condition in &self.conditions {
            match condition {
                Condition::Eq { field, value } => {
                    if value_of(field) != Some(value.as_str()) {
                        return Err(refused(format!(
                            "Policy Condition failed: [\"eq\", \"${field}\", \"{value}\"]"
                        )));
                    }
                }
                Condition::StartsWith { field, prefix } => {
                    let actual = value_of(field).unwrap_or("");
                    let ok = if field == "content-type" {
                        actual
                            .split(',')
                            .all(|v| v.trim().starts_with(prefix.as_str()))
                    } else {
                        actual.starts_with(prefix.as_str())
                    };
                    if !ok {
                        return Err(refused(format!(
                            "Policy Condition failed: [\"starts-with\", \"${field}\", \"{prefix}\"]"
                        )));
                    }
                }
                Condition::ContentLengthRange { .. } => {}
            }
        }
        for name in fields.keys() {
            let exempt = matches!(
                name.as_str(),
                "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid" | "file"
            ) || name.starts_with("x-ignore-");
            let covered = self.conditions.iter().any(|c| match c {
                Condition::Eq { field, .. } | Condition::StartsWith { field, .. } => field == name,
                Condition::ContentLengthRange { .. } => false,
            });
            if !exempt && !covered {
                return Err(refused(format!("Extra input fields: {name}")));
            }
        }
        Ok(())
    }
}

/// Verifies the signature of a POST form (fields lowercase) and returns the
/// key and the policy, checked against the fields and the bucket. The file
/// size is checked by the caller against `content_length_range`.
pub async fn verify_post_form<K: KeyStore>(
    fields: &BTreeMap<String, String>,
    bucket: &str,
    keys: &K,
    context: &AuthContext,
    now: i64,
) -> S3Result<(AccessKey, PostPolicy)> {
    let policy_b64 = fields.get("policy").ok_or_else(|| {
        S3Error::with_message(
            ErrorCode::AccessDenied,
            "Anonymous POST uploads are not allowed: the form has no policy.",
        )
    })?;
    if policy_b64.len() > MAX_POLICY_LEN {
        return Err(invalid_policy("Policy too long."));
    }
    let key = if let Some(algorithm) = fields.get("x-amz-algorithm") {
        if algorithm != super::v4::ALGORITHM {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Only AWS4-HMAC-SHA256 is supported for x-amz-algorithm.",
            ));
        }
        let credential = fields
            .get("x-amz-credential")
            .and_then(|c| Credential::parse(c))
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "x-amz-credential is missing or malformed.",
                )
            })?;
        if credential.region != context.region || credential.service != SERVICE {
            return Err(S3Error::with_message(
                ErrorCode::AuthorizationHeaderMalformed,
                format!(
                    "the region '{}' is wrong; expecting '{}'",
                    credential.region, context.region
                ),
            )
            .extra("Region", context.region.clone()));
        }
        let signature = fields
            .get("x-amz-signature")
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "x-amz-signature is missing or malformed.",
                )
            })?;
        let key = lookup_key(keys, &credential.access_key_id).await?;
        let signing = signing_key(key.secret(), &credential.date, &context.region, SERVICE);
        if !mac_eq(&hmac_sha256(&signing, policy_b64.as_bytes()), &signature) {
            return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch));
        }
        key
    } else if let Some(id) = fields.get("awsaccesskeyid") {
        let signature = fields
            .get("signature")
            .and_then(|s| BASE64.decode(s.trim()).ok())
            .ok_or_else(|| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "signature is missing or malformed.",
                )
            })?;
        let key = lookup_key(keys, id).await?;
        if !mac_eq(&v2::sign(key.secret(), policy_b64), &signature) {
            return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch));
        }
        key
    } else {
        return Err(S3Error::with_message(
            ErrorCode::AccessDenied,
            "The form is not signed (no x-amz-algorithm nor AWSAccessKeyId).",
        ));
    };
    let json = BASE64
        .decode(policy_b64.trim())
        .map_err(|_| invalid_policy("Policy is not base64."))?;
    let policy = PostPolicy::parse(&json)?;
    policy.check(fields, bucket, now)?;
    Ok((key, policy))
}

/// The fuzzing entry point for the policy parser; never panics.
pub fn fuzz_policy(data: &[u8]) {
    if let Ok(policy) = PostPolicy::parse(data) {
        let mut fields = BTreeMap::new();
        fields.insert("key".to_string(), "a".to_string());
        let _ = policy.check(&fields, "b", 0);
        let _ = policy.content_length_range();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::MapKeyStore;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn policy_json() -> String {
        r#"{ "expiration": "2013-08-07T12:00:00.000Z",
             "conditions": [
               {"bucket": "sigv4examplebucket"},
               ["starts-with", "$key", "user/user1/"],
               {"acl": "public-read"},
               {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
               ["starts-with", "$Content-Type", "image/"],
               {"x-amz-meta-uuid": "14365123651274"},
               {"x-amz-server-side-encryption": "AES256"},
               ["starts-with", "$x-amz-meta-tag", ""],
               {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20130806/us-east-1/s3/aws4_request"},
               {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
               {"x-amz-date": "20130806T000000Z" },
               ["content-length-range", 1, 10485760]
             ]
           }"#
        .to_string()
    }

    fn fields(policy_b64: &str, signature: &str) -> BTreeMap<String, String> {
        [
            ("key", "user/user1/photo.jpg"),
            ("acl", "public-read"),
            (
                "success_action_redirect",
                "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
            ),
            ("content-type", "image/jpeg"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-meta-tag", ""),
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20130806/us-east-1/s3/aws4_request",
            ),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-date", "20130806T000000Z"),
            ("policy", policy_b64),
            ("x-amz-signature", signature),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn keys() -> MapKeyStore {
        MapKeyStore::new([AccessKey::new("AKIAIOSFODNN7EXAMPLE", SECRET)])
    }

    fn context() -> AuthContext {
        AuthContext {
            region: "us-east-1".into(),
            domain: None,
        }
    }

    #[tokio::test]
    async fn signed_policy_with_conditions() {
        let policy_b64 = BASE64.encode(policy_json());
        let signing = signing_key(SECRET, "20130806", "us-east-1", "s3");
        let signature = hex::encode(hmac_sha256(&signing, policy_b64.as_bytes()));
        let now = time::parse_iso8601("2013-08-06T10:00:00Z").unwrap();
        let form = fields(&policy_b64, &signature);
        let (key, policy) = verify_post_form(&form, "sigv4examplebucket", &keys(), &context(), now)
            .await
            .unwrap();
        assert_eq!(key.id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(policy.content_length_range(), Some((1, 10_485_760)));

        // Wrong bucket, wrong key prefix, extra field, expired, bad signature.
        let err = verify_post_form(&form, "other", &keys(), &context(), now)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        let mut bad_key = form.clone();
        bad_key.insert("key".into(), "user/user2/x".into());
        crate::error::assert_refused(
            verify_post_form(&bad_key, "sigv4examplebucket", &keys(), &context(), now).await,
            ErrorCode::AccessDenied,
            "Policy Condition failed: [\"starts-with\", \"$key\"",
        );
        let mut extra = form.clone();
        extra.insert("x-amz-meta-sneaky".into(), "1".into());
        crate::error::assert_refused(
            verify_post_form(&extra, "sigv4examplebucket", &keys(), &context(), now).await,
            ErrorCode::AccessDenied,
            "Extra input fields: x-amz-meta-sneaky",
        );
        let mut ignored = form.clone();
        ignored.insert("x-ignore-me".into(), "1".into());
        assert!(
            verify_post_form(&ignored, "sigv4examplebucket", &keys(), &context(), now)
                .await
                .is_ok()
        );
        let late = time::parse_iso8601("2013-08-08T00:00:00Z").unwrap();
        crate::error::assert_refused(
            verify_post_form(&form, "sigv4examplebucket", &keys(), &context(), late).await,
            ErrorCode::AccessDenied,
            "Policy expired.",
        );
        let forged = fields(&policy_b64, &"0".repeat(64));
        assert_eq!(
            verify_post_form(&forged, "sigv4examplebucket", &keys(), &context(), now)
                .await
                .unwrap_err()
                .code,
            ErrorCode::SignatureDoesNotMatch
        );
    }

    #[tokio::test]
    async fn sigv2_form() {
        let json = r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","$key","k"],{"awsaccesskeyid":"AKIAIOSFODNN7EXAMPLE"}]}"#;
        let policy_b64 = BASE64.encode(json);
        let signature = BASE64.encode(v2::sign(SECRET, &policy_b64));
        let form: BTreeMap<String, String> = [
            ("key", "k"),
            ("awsaccesskeyid", "AKIAIOSFODNN7EXAMPLE"),
            ("policy", &policy_b64),
            ("signature", &signature),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(verify_post_form(&form, "b", &keys(), &context(), 0)
            .await
            .is_ok());
    }

    #[test]
    fn malformed_policies() {
        for (bad, cause) in [
            (&b"{}"[..], "Policy missing expiration"),
            (br#"{"expiration":"2030-01-01T00:00:00Z"}"#, "Policy missing conditions."),
            (br#"{"expiration":"soon","conditions":[]}"#, "Policy missing expiration"),
            (br#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",5,1]]}"#, "content-length-range needs two integers."),
            (br#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","key","v"]]}"#, "Field name must start with $."),
            (br#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["nope"]]}"#, "Unknown or malformed condition: nope"),
            (br#"{"expiration":"2030-01-01T00:00:00Z","conditions":[3]}"#, "Condition must be an object or an array."),
            (b"\xff", "Invalid JSON."),
        ] {
            crate::error::assert_refused(PostPolicy::parse(bad), ErrorCode::InvalidPolicyDocument, cause);
            fuzz_policy(bad);
        }
    }
}
