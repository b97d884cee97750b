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
//!
//! The second test adds the rows that bucket settings change: a bucket
//! policy (Allow to another key, Allow to everyone, Deny to a granted key,
//! Deny to everyone with the owner keeping the policy), a Public Access
//! Block (RestrictPublicBuckets, BlockPublicAcls) and ACL requests.

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

/// One row of the settings matrix: who sends what, and S3's answer.
struct Row {
    what: &'static str,
    caller: Caller,
    method: &'static str,
    /// Path and query, `{b}` for the bucket.
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// The status wanted, and the code when it is an error.
    status: u16,
    code: &'static str,
}

const fn row(
    what: &'static str,
    caller: Caller,
    method: &'static str,
    target: &'static str,
    status: u16,
    code: &'static str,
) -> Row {
    Row {
        what,
        caller,
        method,
        target,
        headers: &[],
        status,
        code,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_acls_and_public_access_block_rows() {
    let c = S3Cluster::shared();
    let b = bucket_name("matrix-set");
    let owner = key(&c, "set-owner", false);
    let writer = key(&c, "set-writer", false);
    let stranger = key(&c, "set-stranger", false);
    assert_success(&c.cairn(&["mb", &b, "--owner", &owner.0]), "mb --owner");
    assert_success(
        &c.cairn(&["bucket", "allow", &writer.0, &b, "--write"]),
        "allow --write",
    );
    let s3 = c.client_with(&owner.0, &owner.1);
    for k in ["k", "other"] {
        put_bytes(&s3, &b, k, b"v").await;
    }
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{s}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/k"}},
            {{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::{b}"}},
            {{"Effect":"Deny","Principal":{{"AWS":"{w}"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#,
        s = stranger.0,
        w = writer.0
    );
    s3.put_bucket_policy()
        .bucket(&b)
        .policy(policy)
        .send()
        .await
        .expect("put policy");

    use Caller::{Anonymous, NoGrant, Owner, Writer};
    let with_policy = [
        row(
            "an Allow to a key: its object",
            NoGrant,
            "GET",
            "/{b}/k",
            200,
            "",
        ),
        row(
            "an Allow to a key: not another object",
            NoGrant,
            "GET",
            "/{b}/other",
            403,
            "AccessDenied",
        ),
        row(
            "an Allow to a key: not a write",
            NoGrant,
            "PUT",
            "/{b}/k",
            403,
            "AccessDenied",
        ),
        row(
            "an Allow to everyone: anonymous listing",
            Anonymous,
            "GET",
            "/{b}?list-type=2",
            200,
            "",
        ),
        row(
            "an Allow to everyone: not an anonymous read",
            Anonymous,
            "GET",
            "/{b}/k",
            403,
            "AccessDenied",
        ),
        row(
            "an Allow to everyone: not the policy",
            Anonymous,
            "GET",
            "/{b}?policy",
            403,
            "AccessDenied",
        ),
        row(
            "a Deny beats a write grant",
            Writer,
            "PUT",
            "/{b}/k",
            403,
            "AccessDenied",
        ),
        row(
            "a Deny of PUT leaves DELETE to the grant",
            Writer,
            "DELETE",
            "/{b}/other",
            204,
            "",
        ),
        row("the owner is untouched", Owner, "GET", "/{b}/k", 200, ""),
        row(
            "the policy's status",
            Owner,
            "GET",
            "/{b}?policyStatus",
            200,
            "",
        ),
        row(
            "a stranger cannot read the policy",
            NoGrant,
            "GET",
            "/{b}?policy",
            403,
            "AccessDenied",
        ),
        row(
            "GetBucketAcl by the owner",
            Owner,
            "GET",
            "/{b}?acl",
            200,
            "",
        ),
        row(
            "GetObjectAcl by a stranger",
            NoGrant,
            "GET",
            "/{b}/k?acl",
            403,
            "AccessDenied",
        ),
        Row {
            headers: &[("x-amz-acl", "public-read")],
            ..row(
                "a public ACL is not stored",
                Owner,
                "PUT",
                "/{b}/k?acl",
                501,
                "NotImplemented",
            )
        },
    ];
    let mut failures = Vec::new();
    run_rows(
        &c,
        &b,
        &[&owner, &writer, &stranger],
        &with_policy,
        &mut failures,
    )
    .await;

    s3.put_public_access_block()
        .bucket(&b)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("put public access block");
    let with_block = [
        row(
            "RestrictPublicBuckets: no anonymous listing",
            Anonymous,
            "GET",
            "/{b}?list-type=2",
            403,
            "AccessDenied",
        ),
        row(
            "RestrictPublicBuckets: keys keep their Allow",
            NoGrant,
            "GET",
            "/{b}/k",
            200,
            "",
        ),
        Row {
            headers: &[("x-amz-acl", "public-read")],
            ..row(
                "BlockPublicAcls: a public ACL on a write",
                Owner,
                "PUT",
                "/{b}/new",
                403,
                "AccessDenied",
            )
        },
        Row {
            headers: &[("x-amz-acl", "public-read")],
            ..row(
                "BlockPublicAcls: PutObjectAcl",
                Owner,
                "PUT",
                "/{b}/k?acl",
                403,
                "AccessDenied",
            )
        },
    ];
    run_rows(
        &c,
        &b,
        &[&owner, &writer, &stranger],
        &with_block,
        &mut failures,
    )
    .await;

    let lockout = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"]}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&b)
        .policy(lockout)
        .send()
        .await
        .expect("put lockout");
    let locked = [
        row(
            "a Deny to everyone binds the owner",
            Owner,
            "GET",
            "/{b}/k",
            403,
            "AccessDenied",
        ),
        row(
            "and the writer",
            Writer,
            "DELETE",
            "/{b}/k",
            403,
            "AccessDenied",
        ),
        row(
            "the owner still reads the policy",
            Owner,
            "GET",
            "/{b}?policy",
            200,
            "",
        ),
        row("and deletes it", Owner, "DELETE", "/{b}?policy", 204, ""),
        row(
            "after which the owner reads again",
            Owner,
            "GET",
            "/{b}/k",
            200,
            "",
        ),
    ];
    run_rows(
        &c,
        &b,
        &[&owner, &writer, &stranger],
        &locked,
        &mut failures,
    )
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sends each row in order (`keys`: owner, writer, stranger) and records
/// the answers that are not the wanted ones.
async fn run_rows(
    c: &S3Cluster,
    b: &str,
    keys: &[&(String, String); 3],
    rows: &[Row],
    failures: &mut Vec<String>,
) {
    for r in rows {
        let target = r.target.replace("{b}", b);
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let creds = match r.caller {
            Caller::Owner => Some(keys[0]),
            Caller::Writer => Some(keys[1]),
            Caller::NoGrant => Some(keys[2]),
            _ => None,
        };
        let (sent, sent_headers) = match creds {
            Some((id, secret)) => sign(c, (id, secret), r.method, &target, &headers, None),
            None => (target.clone(), headers),
        };
        let body: &[u8] = if r.method == "PUT" && !target.contains('?') {
            b"new"
        } else {
            b""
        };
        let answer = raw_request(c.addr, r.method, &sent, &sent_headers, body).await;
        if answer.status != r.status || (!r.code.is_empty() && answer.code() != r.code) {
            failures.push(format!(
                "{} ({:?} {} {target}): wanted {} {}, got {} {}",
                r.what,
                r.caller,
                r.method,
                r.status,
                r.code,
                answer.status,
                answer.text()
            ));
        }
    }
}
