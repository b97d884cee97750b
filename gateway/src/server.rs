//! The HTTP front: axum on hyper, one fallback handler that routes,
//! authenticates, authorizes and dispatches every request, and turns every
//! error into the S3 XML answer. Every answer carries `x-amz-request-id`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use cairn_client::{Client, DoorCounters, DoorOp};
use http::{HeaderValue, Method, Request, Response};
use tokio::net::TcpListener;

use crate::auth_slowdown::{Admission, AuthSlowdown};
use crate::authorization::{Facts, Target};
use crate::body::body_stream;
use crate::door_limits::DoorLimits;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http_server::{ClientAddr, Door, SecureTransport};
use crate::ops;
use crate::policy::{actions::action_of, cache::PolicyCache, Decision};
use crate::query::Query;
use crate::router::{route, Access, Endpoint, Route};
use crate::signature::{
    self, policy, post_form, Auth, AuthContext, KeyStore, PayloadCheck, SignedParts,
};
use crate::tls::TlsHandshakes;

/// How the gateway is configured.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where it listens (informational: `serve` takes a bound listener).
    pub listen: SocketAddr,
    /// The region signatures must name (default `us-east-1`).
    pub region: String,
    /// The virtual-host domain: `bucket.DOMAIN` names a bucket.
    pub domain: Option<String>,
    /// Where requests are counted by S3 operation (part `gateway`).
    pub metrics: Option<cairn_metrics::PartMetrics>,
    /// Serve HTTPS with this certificate on the main listener (and plain
    /// HTTP only on [`Listeners::plain`]).
    pub tls: Option<Arc<crate::tls::CertReloader>>,
    /// The limits put on every client (header size, connections per
    /// address, timeouts, body rate, failed authentications).
    pub limits: DoorLimits,
}

impl GatewayConfig {
    pub fn new(listen: SocketAddr) -> GatewayConfig {
        GatewayConfig {
            listen,
            region: "us-east-1".to_string(),
            domain: None,
            metrics: None,
            tls: None,
            limits: DoorLimits::default(),
        }
    }
}

/// Why the gateway stopped.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

struct Gateway<K> {
    client: Client,
    keys: K,
    context: AuthContext,
    metrics: Option<cairn_metrics::PartMetrics>,
    /// What this gateway reports to the MDS for the client table.
    door: Arc<DoorCounters>,
    /// Failed authentications by client address.
    auth_failures: AuthSlowdown,
    /// Bucket policies as parsed, by bucket.
    policies: PolicyCache,
}

/// Where the gateway listens: the main listener (HTTPS when the config has
/// a certificate) and, with TLS, an optional plain HTTP one for local use.
#[derive(Debug)]
pub struct Listeners {
    pub main: TcpListener,
    pub plain: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(main: TcpListener) -> Listeners {
        Listeners { main, plain: None }
    }
}

/// Serves S3 on `listeners` until `shutdown` completes, then drains the
/// requests in flight.
pub async fn serve_with_keys<K: KeyStore>(
    client: Client,
    config: GatewayConfig,
    keys: K,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let Listeners {
        main: listener,
        plain,
    } = listeners.into();
    let gateway = Arc::new(Gateway {
        client,
        keys,
        context: AuthContext {
            region: config.region.clone(),
            domain: config.domain.clone(),
        },
        metrics: config.metrics.clone(),
        door: Arc::default(),
        auth_failures: AuthSlowdown::new(
            config.limits.auth_failure_burst,
            config.limits.auth_failures_per_second,
            config.limits.auth_failure_max_delay,
        ),
        policies: PolicyCache::default(),
    });
    // The address it really serves (`--listen` may ask for port 0).
    let listen = listener.local_addr().unwrap_or(config.listen);
    let reporter = gateway
        .client
        .report_door("gateway", &listen.to_string(), gateway.door.clone());
    let app = axum::Router::new()
        .fallback(handle::<K>)
        .with_state(gateway)
        .layer(axum::middleware::from_fn(close_after_unanswered_expect));
    tracing::info!(%listen, tls = config.tls.is_some(), region = %config.region, domain = ?config.domain, limits = ?config.limits, "S3 gateway serving");
    let door = Door::new(app, config.limits.clone());
    let tls = match &config.tls {
        Some(cert) => Some(TlsHandshakes::new(crate::tls::server_config(cert)?)),
        None => None,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        })
    };
    let main = door.serve(listener, tls, stop.clone());
    let plain = async {
        match plain {
            Some(listener) => door.serve(listener, None, stop.clone()).await,
            None => Ok(()),
        }
    };
    let watcher = config.tls.clone().map(|cert| tokio::spawn(cert.watch()));
    let served = tokio::try_join!(main, plain).map_err(GatewayError::from);
    stopper.abort();
    reporter.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    served.map(|_| ())
}

/// Whether the connection of a request is TLS (see `SecureTransport`).
fn over_tls(extensions: &http::Extensions) -> bool {
    extensions.get::<SecureTransport>().is_some_and(|t| t.0)
}

fn new_request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

async fn handle<K: KeyStore>(
    State(gateway): State<Arc<Gateway<K>>>,
    request: Request<Body>,
) -> Response<Body> {
    let request_id = new_request_id();
    let client_ip = request
        .extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(addr)| addr.ip());
    // An address that failed to authenticate too often waits before it is
    // heard; other addresses are not concerned.
    if let Some(ip) = client_ip {
        match gateway.auth_failures.admit(ip) {
            Admission::Now => {}
            Admission::After(delay) => {
                tracing::debug!(%ip, delay_ms = delay.as_millis() as u64, "slowing an address after failed authentications");
                tokio::time::sleep(delay).await;
            }
            Admission::Refuse => {
                tracing::debug!(%ip, "refusing an address after failed authentications");
                return slowed_down(&request_id, request.method());
            }
        }
    }
    let method = request.method().clone();
    let sent = sent_bytes(request.headers());
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let flight = gateway.metrics.as_ref().map(|m| {
        m.bytes_in(content_length(request.headers()));
        (m.clone(), m.start("Unknown"))
    });
    // A request from a page of another origin: its answer says what the
    // bucket's CORS rules allow (read only when `Origin` is sent).
    let cors = cors_side(&gateway.context, &request);
    let (mut response, endpoint) = match dispatch(&gateway, request).await {
        Ok((response, endpoint)) => (response, endpoint),
        Err((error, endpoint)) => {
            if let (Some(ip), true) = (client_ip, is_failed_authentication(error.code)) {
                gateway.auth_failures.failed(ip);
            }
            if error.code.status().is_server_error() {
                tracing::warn!(request_id, %method, code = error.code.as_str(), message = %error.message, "request failed");
            }
            (
                error.into_response(&method, &request_id).map(Body::from),
                endpoint,
            )
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amz-request-id", id);
    }
    response
        .headers_mut()
        .insert(http::header::SERVER, HeaderValue::from_static("Cairn"));
    if let Some(cors) = cors {
        cors.decorate(&gateway.client, &mut response).await;
    }
    let ok = response.status().as_u16() < 400;
    if method == Method::GET || method == Method::HEAD {
        let received = content_length(response.headers());
        gateway
            .door
            .record(DoorOp::Read, received, started.elapsed(), ok);
    } else {
        gateway
            .door
            .record(DoorOp::Write, sent, started.elapsed(), ok);
    }
    if let Some((metrics, flight)) = flight {
        metrics.bytes_out(content_length(response.headers()));
        flight.done_as(endpoint, ok);
    }
    tracing::debug!(
        request_id,
        %method,
        path,
        endpoint,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The CORS side of an actual request ([`ops::cors::ActualRequest`]).
fn cors_side(context: &AuthContext, request: &Request<Body>) -> Option<ops::cors::ActualRequest> {
    let headers = request.headers();
    if !headers.contains_key(http::header::ORIGIN) {
        return None;
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let (bucket, _, _) =
        crate::router::bucket_and_key(request.uri().path(), host, context.domain.as_deref())
            .ok()?;
    ops::cors::ActualRequest::of(request.method(), headers, bucket)
}

/// The answer to a request of an address refused after failed
/// authentications: S3's 503 SlowDown, without reading the request.
fn slowed_down(request_id: &str, method: &Method) -> Response<Body> {
    let mut response = S3Error::new(ErrorCode::SlowDown)
        .into_response(method, request_id)
        .map(Body::from);
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amz-request-id", id);
    }
    response
        .headers_mut()
        .insert(http::header::SERVER, HeaderValue::from_static("Cairn"));
    response
}

/// Whether an answer says the client failed to prove who it is: a wrong
/// signature or an unknown key (what a guesser of secrets meets).
fn is_failed_authentication(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::SignatureDoesNotMatch | ErrorCode::InvalidAccessKeyId
    )
}

/// The payload a client sends: the decoded length of an aws-chunked body,
/// else its Content-Length.
fn sent_bytes(headers: &http::HeaderMap) -> u64 {
    headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| content_length(headers))
}

/// The Content-Length of a message, 0 when absent (streamed).
fn content_length(headers: &http::HeaderMap) -> u64 {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

type Failed = (S3Error, &'static str);

async fn dispatch<K: KeyStore>(
    gateway: &Gateway<K>,
    request: Request<Body>,
) -> Result<(Response<Body>, &'static str), Failed> {
    let (parts, body) = request.into_parts();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let query = Query::parse(&raw_query).ok_or_else(|| {
        (
            S3Error::with_message(ErrorCode::InvalidArgument, "Too many query parameters."),
            "Unknown",
        )
    })?;
    let Route {
        bucket,
        key,
        endpoint,
    } = route(
        &parts.method,
        parts.uri.path(),
        &query,
        &parts.headers,
        gateway.context.domain.as_deref(),
    )
    .map_err(|e| (e, "Unknown"))?;
    let name = endpoint.name();
    let resource = match (&bucket, &key) {
        (Some(b), Some(k)) => format!("/{b}/{k}"),
        (Some(b), None) => format!("/{b}"),
        _ => "/".to_string(),
    };
    let fail = |e: S3Error| {
        let e = if e.resource.is_none() {
            e.resource(resource.clone())
        } else {
            e
        };
        (e, name)
    };

    // A CORS preflight: answered from the bucket's rules, before and
    // without authentication (a browser sends no credentials with it).
    if endpoint == Endpoint::Options {
        return ops::cors::preflight(
            &gateway.client,
            bucket.as_deref(),
            key.as_deref(),
            &parts.headers,
        )
        .await
        .map(|r| (r, name))
        .map_err(fail);
    }

    let signed = SignedParts {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: &raw_query,
        query: &query,
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
    };
    let auth = signature::authenticate(
        &signed,
        &gateway.keys,
        &gateway.context,
        signature::time::now_unix(),
    )
    .await
    .map_err(fail)?;

    let bucket_name = bucket.clone().unwrap_or_default();
    let body = body_stream(body);
    let facts = Facts {
        source_ip: parts
            .extensions
            .get::<ClientAddr>()
            .map(|ClientAddr(addr)| addr.ip()),
        secure: over_tls(&parts.extensions),
        headers: &parts.headers,
        query: &query,
    };
    let versioned = query.has("versionId");

    // POST object authenticates with its form.
    if endpoint == Endpoint::PostObject && auth == Auth::Anonymous {
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let form = post_form::parse_post_form(body, content_type)
            .await
            .map_err(fail)?;
        let (access_key, policy) = policy::verify_post_form(
            &form.fields,
            &bucket_name,
            &gateway.keys,
            &gateway.context,
            signature::time::now_unix(),
        )
        .await
        .map_err(fail)?;
        let ask = Ask {
            key: Some(&access_key),
            access: Access::Write,
            action: action_of(&endpoint, false),
            target: Target {
                bucket: &bucket_name,
                key: None,
                any_object: true,
            },
        };
        let target = authorize(gateway, ask, &facts).await.map_err(fail)?;
        check_acl_headers(gateway, &bucket_name, &parts.headers)
            .await
            .map_err(fail)?;
        let req = ops::Request {
            client: gateway.client.clone(),
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            query,
            bucket: bucket_name,
            key,
            access_key: Some(access_key),
            payload: PayloadCheck::Unsigned,
            body: std::sync::Mutex::new(None),
            region: gateway.context.region.clone(),
            target,
            secure: over_tls(&parts.extensions),
        };
        return ops::post::post_object(req, form, policy)
            .await
            .map(|r| (r, name))
            .map_err(fail);
    }

    let (access_key, payload) = match auth {
        Auth::Key { key, payload } => (Some(key), payload),
        // Anonymous requests go on only where a policy or ACL of an
        // existing bucket may allow them.
        Auth::Anonymous
            if bucket.is_some()
                && endpoint.is_implemented()
                && endpoint.access() != Access::AnyKey =>
        {
            (None, PayloadCheck::Unsigned)
        }
        Auth::Anonymous => return Err(fail(S3Error::new(ErrorCode::AccessDenied))),
    };
    if !endpoint.is_implemented() {
        return Err(fail(S3Error::with_message(
            ErrorCode::NotImplemented,
            format!("{name} is not implemented yet."),
        )));
    }
    let target = if bucket.is_some() && endpoint != Endpoint::CreateBucket {
        let ask = Ask {
            key: access_key.as_ref(),
            access: endpoint.access(),
            action: action_of(&endpoint, versioned),
            target: Target {
                bucket: &bucket_name,
                key: key.as_deref(),
                any_object: endpoint == Endpoint::DeleteObjects,
            },
        };
        authorize(gateway, ask, &facts).await.map_err(fail)?
    } else {
        None
    };
    if matches!(
        endpoint,
        Endpoint::PutObject | Endpoint::CopyObject | Endpoint::CreateMultipartUpload
    ) {
        check_acl_headers(gateway, &bucket_name, &parts.headers)
            .await
            .map_err(fail)?;
    }
    if matches!(
        endpoint,
        Endpoint::CopyObject | Endpoint::UploadPartCopy { .. }
    ) {
        // A copy reads its source: the key must be allowed to.
        let source = parts
            .headers
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (source_bucket, source_key, source_version) =
            ops::copy::parse_copy_source(source).map_err(fail)?;
        let ask = Ask {
            key: access_key.as_ref(),
            access: Access::Read,
            action: if source_version.is_some() {
                "s3:GetObjectVersion"
            } else {
                "s3:GetObject"
            },
            target: Target {
                bucket: &source_bucket,
                key: Some(&source_key),
                any_object: false,
            },
        };
        authorize(gateway, ask, &facts)
            .await
            .map_err(|e| fail(e.resource(format!("/{source_bucket}"))))?;
    }
    if let Some(k) = &key {
        crate::limits::check_key(k).map_err(fail)?;
    }
    let req = ops::Request {
        client: gateway.client.clone(),
        method: parts.method.clone(),
        headers: parts.headers,
        query,
        bucket: bucket_name,
        key,
        access_key,
        payload,
        body: std::sync::Mutex::new(Some(body)),
        region: gateway.context.region.clone(),
        target,
        secure: over_tls(&parts.extensions),
    };
    run(endpoint, req).await.map(|r| (r, name)).map_err(fail)
}

/// What a request asks of a bucket.
struct Ask<'a> {
    /// None: anonymous.
    key: Option<&'a signature::AccessKey>,
    access: Access,
    /// The IAM action (`policy::actions`).
    action: &'static str,
    target: Target<'a>,
}

/// Checks that the request may do what it asks (the rule is
/// [`crate::access::allows_request`]: the bucket policy, the key's own
/// rights, closed by default). A refusal that no Deny made is checked once
/// more against the key as the store has it now, so that a grant made a
/// moment ago is honoured. Returns the bucket as read (None when any key
/// may: nothing was read).
async fn authorize<K: KeyStore>(
    gateway: &Gateway<K>,
    ask: Ask<'_>,
    facts: &Facts<'_>,
) -> S3Result<Option<cairn_client::Bucket>> {
    if ask.access == Access::AnyKey {
        return match ask.key {
            Some(_) => Ok(None),
            None => Err(S3Error::new(ErrorCode::AccessDenied)),
        };
    }
    let bucket = ask.target.bucket;
    // An anonymous caller learns nothing from a failed lookup (a missing
    // bucket, a cluster out of reach): it is refused.
    let refused_if_anonymous = |e: S3Error| match ask.key {
        Some(_) => e,
        None => S3Error::new(ErrorCode::AccessDenied),
    };
    let found = gateway.client.get_bucket(bucket).await.map_err(|e| {
        refused_if_anonymous(ops::cluster_error::to_s3(
            e,
            ops::cluster_error::Missing::Bucket,
            &format!("/{bucket}"),
        ))
    })?;
    let settings = crate::authorization::settings(&gateway.client, &gateway.policies, bucket)
        .await
        .map_err(refused_if_anonymous)?;
    let decision = match &settings.policy {
        Some(policy) => {
            let ctx = facts.context(ask.key.map(|k| k.id.as_str()), ask.action, ask.target);
            policy.evaluate(&ctx, !settings.block.restrict_public_buckets)
        }
        None => Decision::Neutral,
    };
    let allows = |key: Option<&signature::AccessKey>| {
        crate::access::allows_request(
            key,
            &found.name,
            &found.owner,
            ask.access,
            ask.action,
            decision,
            false,
        )
    };
    if allows(ask.key) {
        return Ok(Some(found));
    }
    let Some(key) = ask.key.filter(|_| decision != Decision::Deny) else {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    };
    match gateway.keys.fresh(&key.id).await {
        Ok(Some(fresh)) if fresh.same_credentials(key) && allows(Some(&fresh)) => Ok(Some(found)),
        Ok(_) => Err(S3Error::new(ErrorCode::AccessDenied)),
        Err(e) => {
            tracing::warn!(error = %e, "key store lookup failed");
            Err(S3Error::new(ErrorCode::AccessDenied))
        }
    }
}

/// A write that carries ACL headers: refused where the bucket's Object
/// Ownership turns ACLs off (`AccessControlListNotSupported`) or its
/// Public Access Block refuses public ACLs (AccessDenied).
async fn check_acl_headers<K: KeyStore>(
    gateway: &Gateway<K>,
    bucket: &str,
    headers: &http::HeaderMap,
) -> S3Result<()> {
    if !ops::ownership::asks_for_acl(headers) {
        return Ok(());
    }
    let rule = ops::ownership::stored(&gateway.client, bucket).await?;
    if rule == ops::ownership::Ownership::BucketOwnerEnforced {
        return Err(ops::ownership::acls_off());
    }
    let block = ops::public_access::stored(&gateway.client, bucket).await?;
    if block.block_public_acls && ops::public_access::carries_public_acl(headers) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    Ok(())
}

async fn run(endpoint: Endpoint, req: ops::Request) -> S3Result<Response<Body>> {
    use Endpoint::*;
    match endpoint {
        ListBuckets => ops::bucket::list_buckets(req).await,
        CreateBucket => ops::bucket::create_bucket(req).await,
        HeadBucket => ops::bucket::head_bucket(req).await,
        DeleteBucket => ops::bucket::delete_bucket(req).await,
        GetBucketLocation => ops::bucket::get_bucket_location(req).await,
        GetBucketVersioning => ops::versioning::get_bucket_versioning(req).await,
        ListObjects => ops::list::list_objects_v1(req).await,
        ListObjectsV2 => ops::list::list_objects_v2(req).await,
        DeleteObjects => ops::delete::delete_objects(req).await,
        GetObject { part_number } | HeadObject { part_number } => {
            ops::get::get_object(req, part_number).await
        }
        PutObject => ops::put::put_object(req).await,
        CopyObject => ops::copy::copy_object(req).await,
        DeleteObject => ops::delete::delete_object(req).await,
        ListMultipartUploads => ops::multipart::list_uploads(req).await,
        CreateMultipartUpload => ops::multipart::create(req).await,
        UploadPart {
            part_number,
            upload_id,
        } => ops::multipart::upload_part(req, part_number, &upload_id).await,
        UploadPartCopy {
            part_number,
            upload_id,
        } => ops::multipart::upload_part_copy(req, part_number, &upload_id).await,
        CompleteMultipartUpload { upload_id } => ops::multipart::complete(req, &upload_id).await,
        AbortMultipartUpload { upload_id } => ops::multipart::abort(req, &upload_id).await,
        ListParts { upload_id } => ops::multipart::list_parts(req, &upload_id).await,
        ListObjectVersions => ops::versioning::list_object_versions(req).await,
        GetObjectAttributes => ops::attributes::get_object_attributes(req).await,
        PutBucketVersioning => ops::versioning::put_bucket_versioning(req).await,
        GetBucketTagging => ops::tagging::get_bucket_tagging(req).await,
        PutBucketTagging => ops::tagging::put_bucket_tagging(req).await,
        DeleteBucketTagging => ops::tagging::delete_bucket_tagging(req).await,
        GetObjectTagging => ops::tagging::get_object_tagging(req).await,
        PutObjectTagging => ops::tagging::put_object_tagging(req).await,
        DeleteObjectTagging => ops::tagging::delete_object_tagging(req).await,
        GetObjectLockConfiguration => ops::lock::get_object_lock_configuration(req).await,
        PutObjectLockConfiguration => ops::lock::put_object_lock_configuration(req).await,
        GetObjectRetention => ops::lock::get_object_retention(req).await,
        PutObjectRetention => ops::lock::put_object_retention(req).await,
        GetObjectLegalHold => ops::lock::get_object_legal_hold(req).await,
        PutObjectLegalHold => ops::lock::put_object_legal_hold(req).await,
        GetBucketLifecycleConfiguration => ops::lifecycle::get_bucket_lifecycle(req).await,
        PutBucketLifecycleConfiguration => ops::lifecycle::put_bucket_lifecycle(req).await,
        DeleteBucketLifecycle => ops::lifecycle::delete_bucket_lifecycle(req).await,
        GetBucketCors => ops::cors::get_bucket_cors(req).await,
        PutBucketCors => ops::cors::put_bucket_cors(req).await,
        DeleteBucketCors => ops::cors::delete_bucket_cors(req).await,
        GetBucketPolicy => ops::bucket_policy::get_bucket_policy(req).await,
        PutBucketPolicy => ops::bucket_policy::put_bucket_policy(req).await,
        DeleteBucketPolicy => ops::bucket_policy::delete_bucket_policy(req).await,
        GetBucketPolicyStatus => ops::bucket_policy::get_bucket_policy_status(req).await,
        GetPublicAccessBlock => ops::public_access::get_public_access_block(req).await,
        PutPublicAccessBlock => ops::public_access::put_public_access_block(req).await,
        DeletePublicAccessBlock => ops::public_access::delete_public_access_block(req).await,
        GetBucketOwnershipControls => ops::ownership::get_ownership_controls(req).await,
        PutBucketOwnershipControls => ops::ownership::put_ownership_controls(req).await,
        DeleteBucketOwnershipControls => ops::ownership::delete_ownership_controls(req).await,
        GetBucketAcl => ops::acl::get_bucket_acl(req).await,
        GetObjectAcl => ops::acl::get_object_acl(req).await,
        PutBucketAcl => ops::acl::put_bucket_acl(req).await,
        PutObjectAcl => ops::acl::put_object_acl(req).await,
        GetBucketEncryption => ops::bucket_encryption::get_bucket_encryption(req).await,
        PutBucketEncryption => ops::bucket_encryption::put_bucket_encryption(req).await,
        DeleteBucketEncryption => ops::bucket_encryption::delete_bucket_encryption(req).await,
        PostObject => Err(S3Error::with_message(
            ErrorCode::InvalidRequest,
            "POST object uploads authenticate with their form, not a header.",
        )),
        other => Err(S3Error::with_message(
            ErrorCode::NotImplemented,
            format!("{} is not implemented yet.", other.name()),
        )),
    }
}

/// A request that says `Expect: 100-continue` with an empty body is answered
/// without a `100 Continue` (there is no body to ask for). Some clients
/// (botocore, boto/botocore#3010) then keep waiting for the interim status on
/// that keep-alive connection and misread the next answer: close it instead.
async fn close_after_unanswered_expect(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let expects_continue = req
        .headers()
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let empty = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    let mut response = next.run(req).await;
    if expects_continue && empty {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
