//! The authorization matrix (issue 20): every S3 operation the gateway
//! implements, taken from the router's one table
//! (`cairn_gateway::router::implemented_operations`, so a new operation
//! cannot be left out), sent by every kind of caller to a bucket made with
//! `cairn mb --owner`, through a real `cairn up`. Each answer is the one S3
//! gives: AccessDenied (403) for a key without the right, for an anonymous
//! request and for an expired presigned URL ("Request has expired"),
//! SignatureDoesNotMatch (403) for a wrong secret; an allowed request gets
//! past authorization (its minimal request may still be refused for what it
//! lacks: 404, 400, 409, never an authorization refusal nor a 5xx).

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::Credentials;
use cairn_gateway::router::{implemented_operations, Access, Operation};
use common::assert_success;
use common::s3::*;

/// Who sends the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The key named with `cairn mb --owner`.
    Owner,
    /// A key with `cairn bucket allow --read`.
    Reader,
    /// A key with `cairn bucket allow --write` only.
    Writer,
    /// A key with no grant.
    NoGrant,
    /// An admin key: it stands in for the owner only where there is none.
    Admin,
    Anonymous,
    /// The owner's key id signed with another secret.
    WrongSecret,
    /// The owner's key in a presigned URL that expired.
    ExpiredPresigned,
}

const CALLERS: [Caller; 8] = [
    Caller::Owner,
    Caller::Reader,
    Caller::Writer,
    Caller::NoGrant,
    Caller::Admin,
    Caller::Anonymous,
    Caller::WrongSecret,
    Caller::ExpiredPresigned,
];

/// What S3 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authentication and authorization.
    Passes,
    /// Refused: 403 with this code, and this in the message when given.
    Refused(&'static str, Option<&'static str>),
}

fn may(caller: Caller, access: Access) -> bool {
    matches!(
        (caller, access),
        (_, Access::AnyKey)
            | (Caller::Owner, _)
            | (Caller::Reader, Access::Read)
            | (Caller::Writer, Access::Write)
    )
}

fn expected(caller: Caller, op: &Operation) -> Expect {
    match caller {
        Caller::Anonymous => Expect::Refused("AccessDenied", None),
        Caller::WrongSecret => Expect::Refused("SignatureDoesNotMatch", None),
        Caller::ExpiredPresigned => Expect::Refused("AccessDenied", Some("Request has expired")),
        keyed => {
            // A copy also reads its source.
            let allowed =
                may(keyed, op.access) && (!op.sample.copy_source || may(keyed, Access::Read));
            if allowed {
                Expect::Passes
            } else {
                Expect::Refused("AccessDenied", None)
            }
        }
    }
}

/// A browser upload form (POST object) with no policy: what an anonymous
/// caller can send.
const FORM_BOUNDARY: &str = "CairnMatrix";
fn post_form() -> Vec<u8> {
    format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--{b}--\r\n",
        b = FORM_BOUNDARY
    )
    .into_bytes()
}

/// Percent-encodes a query value as SigV4 does (unreserved characters
/// kept).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// SigV4 with any key: in headers (`UNSIGNED-PAYLOAD`) signed now, or as
/// a presigned URL made at `presigned_at` and valid one minute. Returns the
/// target (with the presigned query) and the headers to send.
fn sign(
    c: &S3Cluster,
    (id, secret): (&str, &str),
    method: &str,
    target: &str,
    headers: &[(String, String)],
    presigned_at: Option<SystemTime>,
) -> (String, Vec<(String, String)>) {
    use aws_sigv4::http_request::{
        sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
        SigningSettings, UriPathNormalizationMode,
    };
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        Credentials::new(id, secret, None, None, "matrix").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let mut all: Vec<(String, String)> = headers.to_vec();
    all.push(("host".into(), c.addr.to_string()));
    if presigned_at.is_some() {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(60));
    } else {
        all.push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(presigned_at.unwrap_or_else(SystemTime::now))
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let url = format!("{}{target}", c.endpoint());
    let signable = SignableRequest::new(
        method,
        url,
        all.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let (added_headers, added_params) = instructions.into_parts();
    for h in added_headers {
        all.retain(|(n, _)| !n.eq_ignore_ascii_case(h.name()));
        all.push((h.name().to_string(), h.value().to_string()));
    }
    let mut target = target.to_string();
    for (name, value) in added_params {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&format!("{name}={}", encode(&value)));
    }
    (target, all)
}

/// A key made with `cairn key create` (an admin's with `admin`).
fn key(c: &S3Cluster, name: &str, admin: bool) -> (String, String) {
    let mut args = vec!["key", "create", name, "--json"];
    if admin {
        args.push("--admin");
    }
    let out = c.cairn(&args);
    assert_success(&out, "key create");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        v["access_key"].as_str().expect("access_key").to_string(),
        v["secret_key"].as_str().expect("secret_key").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_by_every_caller() {
    let c = S3Cluster::shared();
    let b = bucket_name("matrix");
    let owner = key(&c, "matrix-owner", false);
    let reader = key(&c, "matrix-reader", false);
    let writer = key(&c, "matrix-writer", false);
    let stranger = key(&c, "matrix-stranger", false);
    let admin = key(&c, "matrix-admin", true);
    assert_success(&c.cairn(&["mb", &b, "--owner", &owner.0]), "mb --owner");
    assert_success(
        &c.cairn(&["bucket", "allow", &reader.0, &b, "--read"]),
        "allow --read",
    );
    assert_success(
        &c.cairn(&["bucket", "allow", &writer.0, &b, "--write"]),
        "allow --write",
    );
    // `keep` keeps the bucket non-empty (DeleteBucket stays a refusal for
    // what is in it); the operations name `k`, the copies read `keep`.
    c.client_with(&owner.0, &owner.1)
        .put_object()
        .bucket(&b)
        .key("keep")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"kept"))
        .send()
        .await
        .expect("the owner writes");

    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let wrong = "0000000000000000000000000000000000000000";
    let mut failures = Vec::new();
    let mut cells = 0;
    for op in implemented_operations() {
        let sample = op.sample;
        let target = sample.target_for(&b, "k");
        let mut headers = Vec::new();
        if sample.copy_source {
            headers.push(("x-amz-copy-source".to_string(), format!("/{b}/keep")));
        }
        let body = if op.name == "PostObject" {
            // Browser uploads authenticate with their form: give the
            // anonymous caller one (without a policy).
            headers.push((
                "content-type".to_string(),
                format!("multipart/form-data; boundary={FORM_BOUNDARY}"),
            ));
            post_form()
        } else {
            Vec::new()
        };
        for caller in CALLERS {
            let creds = match caller {
                Caller::Owner | Caller::ExpiredPresigned => Some((&*owner.0, &*owner.1)),
                Caller::Reader => Some((&*reader.0, &*reader.1)),
                Caller::Writer => Some((&*writer.0, &*writer.1)),
                Caller::NoGrant => Some((&*stranger.0, &*stranger.1)),
                Caller::Admin => Some((&*admin.0, &*admin.1)),
                Caller::WrongSecret => Some((&*owner.0, wrong)),
                Caller::Anonymous => None,
            };
            let (sent, sent_headers) = match creds {
                Some(creds) => {
                    let at = (caller == Caller::ExpiredPresigned).then_some(an_hour_ago);
                    sign(&c, creds, sample.method, &target, &headers, at)
                }
                None => (target.clone(), headers.clone()),
            };
            let answer = raw_request(c.addr, sample.method, &sent, &sent_headers, &body).await;
            cells += 1;
            let head = sample.method == "HEAD";
            let verdict = match expected(caller, &op) {
                Expect::Passes => {
                    let refused = answer.status == 403
                        || [
                            "AccessDenied",
                            "SignatureDoesNotMatch",
                            "InvalidAccessKeyId",
                        ]
                        .contains(&answer.code().as_str());
                    (!refused && answer.status < 500)
                        .then_some(())
                        .ok_or("an answer past authorization")
                }
                Expect::Refused(code, message) => {
                    let ok = answer.status == 403
                        && (head || answer.code() == code)
                        && message.is_none_or(|m| head || answer.text().contains(m));
                    ok.then_some(()).ok_or(code)
                }
            };
            if let Err(wanted) = verdict {
                failures.push(format!(
                    "{} by {caller:?} ({} {sent}): wanted {wanted}, got {} {}",
                    op.name,
                    sample.method,
                    answer.status,
                    answer.text()
                ));
            }
        }
    }
    assert!(cells >= 8 * 40, "only {cells} cells");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The refused writes changed nothing, the allowed ones were the owner's
    // and the writer's: the object they named is there or not, `keep` is.
    let owner_client = c.client_with(&owner.0, &owner.1);
    let kept = owner_client
        .get_object()
        .bucket(&b)
        .key("keep")
        .send()
        .await
        .expect("keep is still there");
    assert_eq!(body_bytes(kept).await, b"kept");
}
