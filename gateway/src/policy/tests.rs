//! The evaluation table: AWS's documented bucket-policy examples (S3 user
//! guide, "Examples of Amazon S3 bucket policies"; IAM user guide,
//! "Condition operators", "NotPrincipal", "NotAction") against requests,
//! with the decision each must give; then the refusals of `parse`.

use std::borrow::Cow;

use super::condition::Context;
use super::{parse, Decision};

const B: &str = "DOC-EXAMPLE-BUCKET";

fn ctx(
    principal: Option<&'static str>,
    action: &'static str,
    key: Option<&str>,
) -> Context<'static> {
    let resource = match key {
        Some(k) => format!("arn:aws:s3:::{B}/{k}"),
        None => format!("arn:aws:s3:::{B}"),
    };
    Context {
        principal,
        action,
        resource: Cow::Owned(resource),
        source_ip: Some(
            "192.0.2.10"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        ),
        secure: true,
        now: 1_767_225_600, // 2026-01-01T00:00:00Z
        ..Context::default()
    }
}

const ANON: Option<&str> = None;
const ALICE: Option<&str> = Some("AKALICE");
const BOB: Option<&str> = Some("AKBOB");

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

const PUBLIC_READ: &str = r#"{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#;
const DENY_INSECURE: &str = r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET","arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#;
const IP_ALLOW: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]},"NotIpAddress":{"aws:SourceIp":"192.0.2.188/32"}}}"#;
const IP_DENY: &str = r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET","arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],"Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}"#;
const LIST_HOME: &str = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/AKALICE"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET","Condition":{"StringLike":{"s3:prefix":["home/alice/*",""]},"StringEquals":{"s3:delimiter":"/"}}}"#;
const DENY_DELETE: &str = r#"{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#;
const ALICE_ALL: &str = r#"{"Effect":"Allow","Principal":{"AWS":["AKALICE"]},"Action":"s3:*","Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET","arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"]}"#;
const NOT_ALICE_DENY: &str = r#"{"Effect":"Deny","NotPrincipal":{"AWS":"AKALICE"},"Action":"s3:*","Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET","arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"]}"#;
const NOT_ACTION_DENY: &str = r#"{"Effect":"Deny","Principal":{"AWS":"AKBOB"},"NotAction":["s3:Get*","s3:List*"],"Resource":["arn:aws:s3:::DOC-EXAMPLE-BUCKET","arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"]}"#;
const GET_STAR: &str = r#"{"Effect":"Allow","Principal":{"CanonicalUser":"AKBOB"},"Action":"s3:Get*","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/public/*"}"#;
const MAX_KEYS: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET","Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}"#;
const ACL_REQUIRED: &str = r#"{"Effect":"Allow","Principal":{"AWS":"AKBOB"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}"#;
const REFERER: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"StringLike":{"aws:Referer":["https://www.example.com/*","https://example.com/*"]}}}"#;
const UA_DENY: &str = r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"StringLikeIfExists":{"aws:UserAgent":"*curl*"}}}"#;
const TIME_WINDOW: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2025-12-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2026-02-01T00:00:00Z"}}}"#;
const PREFIX_NOT: &str = r#"{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET","Condition":{"StringNotLike":{"s3:prefix":"shared/*"}}}"#;
const FOR_ANY: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET","Condition":{"ForAnyValue:StringEquals":{"s3:prefix":["a/","b/"]}}}"#;
const NULL_ACL: &str = r#"{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"Null":{"s3:x-amz-acl":"false"}}}"#;
const NOT_RESOURCE: &str = r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/public/*"}"#;
const QMARK: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/log-????.txt"}"#;

/// One row: what the policy holds, who asks what, the decision.
struct Case {
    name: &'static str,
    statements: Vec<&'static str>,
    ctx: Context<'static>,
    want: Decision,
}

fn case(
    name: &'static str,
    statements: &[&'static str],
    ctx: Context<'static>,
    want: Decision,
) -> Case {
    Case {
        name,
        statements: statements.to_vec(),
        ctx,
        want,
    }
}

fn with(mut c: Context<'static>, f: impl FnOnce(&mut Context<'static>)) -> Context<'static> {
    f(&mut c);
    c
}

fn table() -> Vec<Case> {
    use Decision::{Allow, Deny, Neutral};
    let get = |p, k| ctx(p, "s3:GetObject", Some(k));
    let list = |p| ctx(p, "s3:ListBucket", None);
    vec![
        case(
            "public read: anonymous GET",
            &[PUBLIC_READ],
            get(ANON, "a.txt"),
            Allow,
        ),
        case(
            "public read: a key's GET",
            &[PUBLIC_READ],
            get(ALICE, "x/y"),
            Allow,
        ),
        case(
            "public read: versioned GET",
            &[PUBLIC_READ],
            ctx(ANON, "s3:GetObjectVersion", Some("a")),
            Allow,
        ),
        case(
            "public read: PUT is not granted",
            &[PUBLIC_READ],
            ctx(ANON, "s3:PutObject", Some("a")),
            Neutral,
        ),
        case(
            "public read: listing is not granted",
            &[PUBLIC_READ],
            list(ANON),
            Neutral,
        ),
        case(
            "public read: the bucket ARN is not an object",
            &[PUBLIC_READ],
            ctx(ANON, "s3:GetObject", None),
            Neutral,
        ),
        case(
            "deny insecure: plain HTTP denied",
            &[PUBLIC_READ, DENY_INSECURE],
            with(get(ANON, "a"), |c| c.secure = false),
            Deny,
        ),
        case(
            "deny insecure: TLS allowed",
            &[PUBLIC_READ, DENY_INSECURE],
            get(ANON, "a"),
            Allow,
        ),
        case(
            "deny insecure: owner's plain HTTP denied too",
            &[DENY_INSECURE],
            with(list(ALICE), |c| c.secure = false),
            Deny,
        ),
        case(
            "IP allow: inside the range",
            &[IP_ALLOW],
            get(ANON, "a"),
            Allow,
        ),
        case(
            "IP allow: the excluded address",
            &[IP_ALLOW],
            with(get(ANON, "a"), |c| c.source_ip = "192.0.2.188".parse().ok()),
            Neutral,
        ),
        case(
            "IP allow: outside the range",
            &[IP_ALLOW],
            with(get(ANON, "a"), |c| {
                c.source_ip = "198.51.100.1".parse().ok()
            }),
            Neutral,
        ),
        case(
            "IP allow: IPv6 inside",
            &[IP_ALLOW],
            with(get(ANON, "a"), |c| c.source_ip = "2001:db8::1".parse().ok()),
            Allow,
        ),
        case(
            "IP allow: IPv4-mapped IPv6 inside",
            &[IP_ALLOW],
            with(get(ANON, "a"), |c| {
                c.source_ip = "::ffff:192.0.2.7".parse().ok()
            }),
            Allow,
        ),
        case(
            "IP allow: no source address",
            &[IP_ALLOW],
            with(get(ANON, "a"), |c| c.source_ip = None),
            Neutral,
        ),
        case(
            "IP deny list: outside denied",
            &[ALICE_ALL, IP_DENY],
            get(ALICE, "a"),
            Deny,
        ),
        case(
            "IP deny list: inside allowed",
            &[ALICE_ALL, IP_DENY],
            with(get(ALICE, "a"), |c| {
                c.source_ip = "203.0.113.9".parse().ok()
            }),
            Allow,
        ),
        case(
            "prefix list: home prefix with delimiter",
            &[LIST_HOME],
            with(list(ALICE), |c| {
                c.prefix = Some("home/alice/docs/");
                c.delimiter = Some("/");
            }),
            Allow,
        ),
        case(
            "prefix list: another home",
            &[LIST_HOME],
            with(list(ALICE), |c| {
                c.prefix = Some("home/bob/");
                c.delimiter = Some("/");
            }),
            Neutral,
        ),
        case(
            "prefix list: no delimiter",
            &[LIST_HOME],
            with(list(ALICE), |c| c.prefix = Some("home/alice/")),
            Neutral,
        ),
        case(
            "prefix list: no prefix key at all",
            &[LIST_HOME],
            with(list(ALICE), |c| c.delimiter = Some("/")),
            Neutral,
        ),
        case(
            "prefix list: the empty prefix",
            &[LIST_HOME],
            with(list(ALICE), |c| {
                c.prefix = Some("");
                c.delimiter = Some("/");
            }),
            Allow,
        ),
        case(
            "prefix list: another key",
            &[LIST_HOME],
            with(list(BOB), |c| {
                c.prefix = Some("home/alice/");
                c.delimiter = Some("/");
            }),
            Neutral,
        ),
        case(
            "deny delete: DeleteObject",
            &[ALICE_ALL, DENY_DELETE],
            ctx(ALICE, "s3:DeleteObject", Some("a")),
            Deny,
        ),
        case(
            "deny delete: version delete",
            &[ALICE_ALL, DENY_DELETE],
            ctx(ALICE, "s3:DeleteObjectVersion", Some("a")),
            Deny,
        ),
        case(
            "deny delete: GET still allowed",
            &[ALICE_ALL, DENY_DELETE],
            get(ALICE, "a"),
            Allow,
        ),
        case(
            "deny beats allow, whatever the order",
            &[DENY_DELETE, ALICE_ALL],
            ctx(ALICE, "s3:deleteobject", Some("a")),
            Deny,
        ),
        case(
            "s3:* for one key: bucket operation",
            &[ALICE_ALL],
            ctx(ALICE, "s3:PutBucketTagging", None),
            Allow,
        ),
        case(
            "s3:* for one key: another key",
            &[ALICE_ALL],
            get(BOB, "a"),
            Neutral,
        ),
        case(
            "s3:* for one key: anonymous",
            &[ALICE_ALL],
            get(ANON, "a"),
            Neutral,
        ),
        case(
            "NotPrincipal deny: the named key passes",
            &[ALICE_ALL, NOT_ALICE_DENY],
            get(ALICE, "a"),
            Allow,
        ),
        case(
            "NotPrincipal deny: another key denied",
            &[PUBLIC_READ, NOT_ALICE_DENY],
            get(BOB, "a"),
            Deny,
        ),
        case(
            "NotPrincipal deny: anonymous denied",
            &[PUBLIC_READ, NOT_ALICE_DENY],
            get(ANON, "a"),
            Deny,
        ),
        case(
            "NotAction deny: a read is not denied",
            &[NOT_ACTION_DENY],
            get(BOB, "a"),
            Neutral,
        ),
        case(
            "NotAction deny: a list is not denied",
            &[NOT_ACTION_DENY],
            list(BOB),
            Neutral,
        ),
        case(
            "NotAction deny: a write is denied",
            &[NOT_ACTION_DENY],
            ctx(BOB, "s3:PutObject", Some("a")),
            Deny,
        ),
        case(
            "NotAction deny: other keys untouched",
            &[NOT_ACTION_DENY],
            ctx(ALICE, "s3:PutObject", Some("a")),
            Neutral,
        ),
        case(
            "Get* under a prefix: inside",
            &[GET_STAR],
            ctx(BOB, "s3:GetObjectTagging", Some("public/x")),
            Allow,
        ),
        case(
            "Get* under a prefix: outside",
            &[GET_STAR],
            get(BOB, "private/x"),
            Neutral,
        ),
        case(
            "Get* does not cover Put",
            &[GET_STAR],
            ctx(BOB, "s3:PutObject", Some("public/x")),
            Neutral,
        ),
        case(
            "max-keys at most 10: 5",
            &[MAX_KEYS],
            with(list(ANON), |c| c.max_keys = Some("5")),
            Allow,
        ),
        case(
            "max-keys at most 10: 1000",
            &[MAX_KEYS],
            with(list(ANON), |c| c.max_keys = Some("1000")),
            Neutral,
        ),
        case(
            "max-keys at most 10: absent",
            &[MAX_KEYS],
            list(ANON),
            Neutral,
        ),
        case(
            "required ACL: carried",
            &[ACL_REQUIRED],
            with(ctx(BOB, "s3:PutObject", Some("a")), |c| {
                c.acl = Some("bucket-owner-full-control")
            }),
            Allow,
        ),
        case(
            "required ACL: another one",
            &[ACL_REQUIRED],
            with(ctx(BOB, "s3:PutObject", Some("a")), |c| {
                c.acl = Some("public-read")
            }),
            Neutral,
        ),
        case(
            "required ACL: none",
            &[ACL_REQUIRED],
            ctx(BOB, "s3:PutObject", Some("a")),
            Neutral,
        ),
        case(
            "referer: listed site",
            &[REFERER],
            with(get(ANON, "a"), |c| {
                c.referer = Some("https://www.example.com/page")
            }),
            Allow,
        ),
        case(
            "referer: other site",
            &[REFERER],
            with(get(ANON, "a"), |c| {
                c.referer = Some("https://evil.example.net/")
            }),
            Neutral,
        ),
        case("referer: absent", &[REFERER], get(ANON, "a"), Neutral),
        case(
            "user agent deny: curl",
            &[PUBLIC_READ, UA_DENY],
            with(get(ANON, "a"), |c| c.user_agent = Some("curl/8.5.0")),
            Deny,
        ),
        case(
            "user agent deny: other agent",
            &[PUBLIC_READ, UA_DENY],
            with(get(ANON, "a"), |c| c.user_agent = Some("aws-sdk-rust")),
            Allow,
        ),
        case(
            "user agent deny: IfExists on absent agent applies",
            &[PUBLIC_READ, UA_DENY],
            get(ANON, "a"),
            Deny,
        ),
        case("time window: inside", &[TIME_WINDOW], get(ANON, "a"), Allow),
        case(
            "time window: after",
            &[TIME_WINDOW],
            with(get(ANON, "a"), |c| c.now = 1_800_000_000),
            Neutral,
        ),
        case(
            "negated on absent key holds: deny without prefix",
            &[PREFIX_NOT],
            list(ANON),
            Deny,
        ),
        case(
            "negated: shared prefix not denied",
            &[PREFIX_NOT],
            with(list(ANON), |c| c.prefix = Some("shared/x")),
            Neutral,
        ),
        case(
            "ForAnyValue: matching prefix",
            &[FOR_ANY],
            with(list(ANON), |c| c.prefix = Some("b/")),
            Allow,
        ),
        case(
            "ForAnyValue: absent key is false",
            &[FOR_ANY],
            list(ANON),
            Neutral,
        ),
        case(
            "Null false: an ACL present is denied",
            &[ALICE_ALL, NULL_ACL],
            with(ctx(ALICE, "s3:PutObject", Some("a")), |c| {
                c.acl = Some("private")
            }),
            Deny,
        ),
        case(
            "Null false: no ACL passes",
            &[ALICE_ALL, NULL_ACL],
            ctx(ALICE, "s3:PutObject", Some("a")),
            Allow,
        ),
        case(
            "NotResource deny: outside public/",
            &[PUBLIC_READ, NOT_RESOURCE],
            get(ANON, "secret"),
            Deny,
        ),
        case(
            "NotResource deny: inside public/",
            &[PUBLIC_READ, NOT_RESOURCE],
            get(ANON, "public/a"),
            Allow,
        ),
        case(
            "? wildcard: four characters",
            &[QMARK],
            get(ANON, "log-2026.txt"),
            Allow,
        ),
        case(
            "? wildcard: five characters",
            &[QMARK],
            get(ANON, "log-20260.txt"),
            Neutral,
        ),
        case(
            "resources compare with case",
            &[PUBLIC_READ],
            ctx(ANON, "s3:GetObject", None),
            Neutral,
        ),
        case(
            "DeleteObjects: a Deny on any object applies",
            &[
                ALICE_ALL,
                r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/keep/*"}"#,
            ],
            with(ctx(ALICE, "s3:DeleteObject", None), |c| {
                c.any_object = true;
                c.resource = Cow::Owned(format!("arn:aws:s3:::{B}/"));
            }),
            Deny,
        ),
        case(
            "DeleteObjects: an Allow on a prefix is not enough",
            &[
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/tmp/*"}"#,
            ],
            with(ctx(BOB, "s3:DeleteObject", None), |c| {
                c.any_object = true;
                c.resource = Cow::Owned(format!("arn:aws:s3:::{B}/"));
            }),
            Neutral,
        ),
        case(
            "DeleteObjects: an Allow on every object",
            &[ALICE_ALL],
            with(ctx(ALICE, "s3:DeleteObject", None), |c| {
                c.any_object = true;
                c.resource = Cow::Owned(format!("arn:aws:s3:::{B}/"));
            }),
            Allow,
        ),
    ]
}

#[test]
fn the_documented_examples_decide_as_aws() {
    let cases = table();
    assert!(cases.len() >= 40, "the table has {} cases", cases.len());
    let mut failed = Vec::new();
    for c in &cases {
        let text = policy(&c.statements.join(","));
        let parsed = match parse(text.as_bytes(), B) {
            Ok(p) => p,
            Err(e) => panic!("{}: the policy does not parse: {e}", c.name),
        };
        let got = parsed.evaluate(&c.ctx, true);
        if got != c.want {
            failed.push(format!("{}: got {got:?}, want {:?}", c.name, c.want));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn public_policies_as_s3_defines_them() {
    let public = |statements: &str| {
        parse(policy(statements).as_bytes(), B)
            .map(|p| p.is_public())
            .unwrap_or_else(|e| panic!("{statements}: {e}"))
    };
    assert!(public(PUBLIC_READ));
    assert!(public(REFERER), "a referer does not pin the caller");
    assert!(!public(IP_ALLOW), "a fixed range of addresses does");
    assert!(!public(ALICE_ALL));
    assert!(!public(DENY_INSECURE), "a Deny grants nothing");
    assert!(public(
        r#"{"Effect":"Allow","NotPrincipal":{"AWS":"AKALICE"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#
    ));
    assert!(public(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}}"#
    ));
}

#[test]
fn restrict_public_buckets_drops_public_allows_for_anonymous() {
    let p = parse(policy(PUBLIC_READ).as_bytes(), B).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.evaluate(&ctx(ANON, "s3:GetObject", Some("a")), false),
        Decision::Neutral
    );
    assert_eq!(
        p.evaluate(&ctx(ALICE, "s3:GetObject", Some("a")), false),
        Decision::Allow
    );
}

#[test]
fn malformed_policies_say_why() {
    let refused = |text: &str, why: &str| match parse(text.as_bytes(), B) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => assert!(e.0.contains(why), "{text}: {e}, want {why}"),
    };
    let stmt = |s: &str| policy(s);
    refused("{not json", "invalid Json");
    refused("[1]", "invalid Json");
    refused(
        r#"{"Version":"2012-10-17"}"#,
        "Missing required field Statement",
    );
    refused(
        &stmt(
            r#"{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Missing required field Effect",
    );
    refused(
        &stmt(
            r#"{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Invalid effect",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Missing required field Principal",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Missing required field Action",
    );
    refused(
        &stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}"#),
        "Missing required field Resource",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:FlyAway","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Policy has invalid action",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Policy has invalid action",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other-bucket/*"}"#,
        ),
        "Policy has invalid resource",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET-2/*"}"#,
        ),
        "Policy has invalid resource",
    );
    refused(
        &stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#),
        "Policy has invalid resource",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET"}"#,
        ),
        "Action does not apply",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"StringFoo":{"aws:Referer":"x"}}}"#,
        ),
        "Invalid Condition type",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}}"#,
        ),
        "Invalid Condition value",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}"#,
        ),
        "Invalid Condition value",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Invalid principal in policy",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Invalid principal in policy",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"someone","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "Invalid principal in policy",
    );
    refused(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}"#,
        ),
        "both Principal and NotPrincipal",
    );
    refused(
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{PUBLIC_READ}],"Pad":"{}"}}"#,
            "x".repeat(21 * 1024)
        ),
        "no larger than",
    );
    refused(r#"{"Version":"2010-01-01","Statement":[]}"#, "version");
}

/// The cost a policy adds to a request: a 20-statement policy evaluated
/// for a GET. Bounded loosely (a GET of 4 KiB takes about a millisecond;
/// the goal is under a tenth of that) so that only a regression fails.
#[test]
fn a_twenty_statement_policy_costs_microseconds() {
    let statements: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Principal":{{"AWS":"AKUSER{i}"}},"Action":["s3:GetObject","s3:List*"],"Resource":"arn:aws:s3:::{B}/team{i}/*","Condition":{{"IpAddress":{{"aws:SourceIp":"10.{i}.0.0/16"}}}}}}"#
            )
        })
        .collect();
    let text = policy(&statements.join(","));
    let parsed = parse(text.as_bytes(), B).unwrap_or_else(|e| panic!("{e}"));
    let request = ctx(ALICE, "s3:GetObject", Some("team7/report.pdf"));
    let rounds = 20_000u32;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        assert_eq!(parsed.evaluate(&request, true), Decision::Neutral);
    }
    let each = started.elapsed() / rounds;
    eprintln!("a 20-statement policy: {each:?} per request");
    assert!(each < std::time::Duration::from_micros(100), "{each:?}");
}
