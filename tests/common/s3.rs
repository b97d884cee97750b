//! The S3 door under test: a real `cairn up` process (MDS, 3 chunk servers
//! and a gateway) on 127.0.0.1, driven by the official `aws-sdk-s3` client, by
//! the `cairn` admin commands and by raw HTTP for what the SDK cannot send
//! (anonymous requests, hand-made aws-chunked bodies, presigned URLs).
//!
//! The tests of one file share one cluster ([`S3Cluster::shared`]) and use
//! their own buckets; the cluster is killed when the last test holding it
//! ends.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex, Weak},
    time::{Duration, SystemTime},
};

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{assert_success, cairn_bin, path_str};

pub const REGION: &str = "us-east-1";
pub const LOCAL_CLUSTER: &str = "local";

/// A running `cairn up`.
pub struct S3Cluster {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub addr: std::net::SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    /// The cluster CA's PEM when the gateway serves HTTPS (`--tls`).
    pub ca_pem: Option<Vec<u8>>,
    /// The region signatures name (`--region`, else [`REGION`]).
    pub region: String,
    child: Mutex<Option<Child>>,
}

static SHARED: Mutex<Weak<S3Cluster>> = Mutex::new(Weak::new());

fn random_alnum(len: usize, upper_only: bool) -> String {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ALL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let alphabet = if upper_only { UPPER } else { ALL };
    (0..len)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

impl S3Cluster {
    /// The cluster of this test binary, started on first use.
    pub fn shared() -> Arc<S3Cluster> {
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = slot.upgrade() {
            return c;
        }
        let c = Arc::new(S3Cluster::start());
        *slot = Arc::downgrade(&c);
        c
    }

    /// Starts `cairn up` with a known first key, and waits until S3 answers.
    pub fn start() -> S3Cluster {
        Self::start_with(&[])
    }

    /// As [`S3Cluster::start`] with `cairn up --tls`: HTTPS with a
    /// certificate of the cluster CA, which the SDK clients trust.
    pub fn start_tls() -> S3Cluster {
        Self::start_with(&["--tls"])
    }

    /// As [`S3Cluster::start`] with `extra` arguments to `cairn up`.
    pub fn start_with(extra: &[&str]) -> S3Cluster {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        let access_key = format!("CKTEST{}", random_alnum(14, true));
        let secret_key = random_alnum(40, false);
        let log = std::fs::File::create(root.path().join("up.log")).expect("log file");
        let out = std::fs::File::create(root.path().join("up.out")).expect("stdout file");
        let listen = root.path().join("up.listen");
        let mut cmd = Command::new(cairn_bin());
        cmd.args(["up", "--data", path_str(&data), "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("CAIRN_ACCESS_KEY", &access_key)
            .env("CAIRN_SECRET_KEY", &secret_key)
            .env(
                "RUST_LOG",
                std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log);
        cairn_testkit::listen_into(&mut cmd, &listen);
        let mut child = cmd.spawn().expect("spawn cairn up");
        let addr = cairn_testkit::bound(&listen, "s3", &mut child, Duration::from_secs(60));
        // The CA is written before the gateway listens.
        let ca_pem = extra.contains(&"--tls").then(|| {
            std::fs::read(data.join("etc/local/ca.pem")).expect("the cluster CA of --tls")
        });
        let region = extra
            .windows(2)
            .find(|w| w[0] == "--region")
            .map_or(REGION, |w| w[1])
            .to_string();
        let cluster = S3Cluster {
            root,
            data,
            addr,
            access_key,
            secret_key,
            ca_pem,
            region,
            child: Mutex::new(Some(child)),
        };
        cluster.wait_ready(Duration::from_secs(60));
        cluster
    }

    /// Waits until the gateway answers an authenticated ListBuckets. Runs
    /// on its own thread and runtime: callers are often async tests.
    fn wait_ready(&self, limit: Duration) {
        std::thread::scope(|s| {
            s.spawn(|| self.wait_ready_blocking(limit))
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    fn wait_ready_blocking(&self, limit: Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ready = cairn_testkit::within(limit, "S3 to answer", || {
            if let Some(status) = self
                .child
                .lock()
                .ok()
                .and_then(|mut c| c.as_mut().and_then(|c| c.try_wait().ok().flatten()))
            {
                panic!(
                    "`cairn up` exited with {status} before S3 answered:\n{}\n{}",
                    self.stdout(),
                    self.log()
                );
            }
            let client = self.client();
            rt.block_on(async {
                match tokio::time::timeout(Duration::from_secs(5), client.list_buckets().send())
                    .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("{e:?}")),
                    Err(_) => Err("no answer within 5 s".to_string()),
                }
            })
        });
        if let Err(e) = ready {
            panic!("{e}:\n{}\n{}", self.stdout(), self.log());
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("up.log")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.root.path().join("up.out")).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The `cairn up` process's id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(Child::id))
            .expect("cairn up is running")
    }

    pub fn etc(&self) -> PathBuf {
        self.data.join("etc")
    }

    /// An SDK client with the first key.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with(&self.access_key, &self.secret_key)
    }

    /// An SDK client with any key (see [`sdk_client`]).
    pub fn client_with(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        let client = match &self.ca_pem {
            Some(ca) => sdk_client_tls(&self.endpoint(), access_key, secret_key, ca),
            None => sdk_client(&self.endpoint(), access_key, secret_key),
        };
        if self.region == REGION {
            return client;
        }
        let config = client
            .config()
            .to_builder()
            .region(Region::new(self.region.clone()))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// `cairn ARGS` against this cluster.
    pub fn cairn(&self, args: &[&str]) -> Output {
        Command::new(cairn_bin())
            .args(args)
            .env("CAIRN_CONFIG_DIR", self.etc())
            .env("CAIRN_CLUSTER", LOCAL_CLUSTER)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run the cairn binary")
    }

    /// `cairn key create NAME --json`: a new key and its secret.
    pub fn create_key(&self, name: &str) -> (String, String) {
        let out = self.cairn(&["key", "create", name, "--json"]);
        assert_success(&out, "key create");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("key create --json prints JSON");
        let id = v["access_key"].as_str().expect("access_key").to_string();
        let secret = v["secret_key"].as_str().expect("secret_key").to_string();
        (id, secret)
    }

    /// A client of the cluster library, through the config in DIR/etc.
    pub fn cluster_client(&self) -> cairn_client::Client {
        let config = cairn_common::ClusterConfig::load_from(&self.etc(), LOCAL_CLUSTER)
            .expect("the local cluster's config");
        cairn_client::Client::connect(&config, cairn_client::ClientOptions::default())
            .expect("cluster client")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for S3Cluster {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            if let Some(mut c) = c.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// An SDK client of the gateway at `endpoint`: path style, plain HTTP,
/// the gateway's region, few retries (a refused request must fail fast).
pub fn sdk_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    sdk_client_over(
        aws_smithy_http_client::Builder::new().build_http(),
        endpoint,
        access_key,
        secret_key,
    )
}

/// As [`sdk_client`] over HTTPS, trusting only the CA in `ca_pem`.
pub fn sdk_client_tls(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    ca_pem: &[u8],
) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca_pem.to_vec()))
        .build()
        .expect("a TLS context with the CA");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https();
    sdk_client_over(http, endpoint, access_key, secret_key)
}

fn sdk_client_over(
    http: aws_sdk_s3::config::SharedHttpClient,
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .force_path_style(true)
        .http_client(http)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A bucket name unique to this run.
pub fn bucket_name(what: &str) -> String {
    format!("{what}-{}", random_alnum(8, true).to_ascii_lowercase())
}

/// A bucket of its own (named after `what`) made through `s3`.
pub async fn new_bucket(s3: &aws_sdk_s3::Client, what: &str) -> String {
    let b = bucket_name(what);
    s3.create_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("create bucket");
    b
}

/// The S3 error code of a failed SDK call (`""` if it succeeded).
pub fn error_code<T, E: ProvideErrorMetadata, R>(result: &Result<T, SdkError<E, R>>) -> String {
    match result {
        Ok(_) => String::new(),
        Err(e) => e.code().unwrap_or("").to_string(),
    }
}

/// The HTTP status of a failed SDK call (0 if it succeeded or never got an
/// answer).
pub fn error_status<T, E>(
    result: &Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> u16 {
    match result {
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
        Ok(_) => 0,
    }
}

/// Asserts that `result` failed with S3 error `code`.
#[track_caller]
pub fn assert_code<
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    result: &Result<T, SdkError<E, R>>,
    code: &str,
) {
    assert!(result.is_err(), "expected {code}, got success: {result:?}");
    assert_eq!(error_code(result), code, "{result:?}");
}

/// PUTs `body` at `bucket/key`; the answer.
pub async fn put_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &[u8],
) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"))
}

/// The bytes of `bucket/key`.
pub async fn get_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
    body_bytes(out).await
}

/// Creates a multipart upload of `bucket/key` without a checksum; its id.
pub async fn create_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload {bucket}/{key}: {e:?}"))
        .upload_id()
        .expect("upload id")
        .to_string()
}

/// Collects an object's body.
pub async fn body_bytes(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("read the object body")
        .into_bytes()
        .to_vec()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 error body.
    pub fn code(&self) -> String {
        let text = self.text();
        text.split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default()
    }
}

/// Sends one HTTP/1.1 request (`target` is the path and query as sent) and
/// reads the whole answer.
pub async fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the gateway");
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    let mut has_host = false;
    let mut has_length = false;
    for (n, v) in headers {
        has_host |= n.eq_ignore_ascii_case("host");
        // A chunked body carries no Content-Length.
        has_length |=
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !has_host {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    if !has_length && (!body.is_empty() || method == "PUT" || method == "POST") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body).await.expect("send body");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("the gateway answers within 30 s")
        .expect("read the answer");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> RawResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer has a head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
}

/// SigV4-signs a request the way an S3 client does, with `content_sha256`
/// as `x-amz-content-sha256` (a hex hash, `UNSIGNED-PAYLOAD` or a streaming
/// mode). Returns the headers to send (the given ones plus `x-amz-date`,
/// `authorization`, `x-amz-content-sha256`) and the signature (the seed of
/// a streaming upload).
pub fn sign_v4(
    cluster: &S3Cluster,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    content_sha256: &str,
    time: SystemTime,
) -> (Vec<(String, String)>, String) {
    use aws_sigv4::http_request::{
        sign, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
        UriPathNormalizationMode,
    };
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        Credentials::new(&cluster.access_key, &cluster.secret_key, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let mut all: Vec<(String, String)> = headers.to_vec();
    all.push(("host".into(), cluster.addr.to_string()));
    all.push(("x-amz-content-sha256".into(), content_sha256.to_string()));
    let url = format!("{}{target}", cluster.endpoint());
    let signable = SignableRequest::new(
        method,
        url,
        all.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Precomputed(content_sha256.to_string()),
    )
    .expect("signable request");
    let (instructions, signature) = sign(signable, &params).expect("sign").into_parts();
    let (added, _) = instructions.into_parts();
    for h in added {
        all.retain(|(n, _)| !n.eq_ignore_ascii_case(h.name()));
        all.push((h.name().to_string(), h.value().to_string()));
    }
    (all, signature)
}

/// `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` of a time, as SigV4 writes them.
pub fn amz_dates(time: SystemTime) -> (String, String) {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let date = format!("{y:04}{m:02}{d:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    (stamp, date)
}

/// A `cairn gateway` process of a [`super::TestCluster`], with an SDK client
/// on a key of its own; killed on drop.
pub struct Gateway {
    pub child: Child,
    pub addr: String,
    pub client: aws_sdk_s3::Client,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl super::TestCluster {
    /// Makes the key `key` and starts `cairn gateway` (it knows every MDS
    /// from the cluster config), logging to `gateway.log`.
    pub fn start_gateway(&self, key: &str) -> Gateway {
        let out = self.cairn(&["key", "create", key, "--json"]);
        assert_success(&out, "key create");
        let key: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("key create --json prints JSON");
        let log = std::fs::File::create(self.root.path().join("gateway.log")).expect("log file");
        let listen = self.root.path().join("gateway.listen");
        let mut cmd = self.command();
        cmd.args(["gateway", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(log);
        cairn_testkit::listen_into(&mut cmd, &listen);
        let mut child = cmd.spawn().expect("spawn cairn gateway");
        let addr =
            cairn_testkit::bound(&listen, "s3", &mut child, Duration::from_secs(20)).to_string();
        let client = sdk_client(
            &format!("http://{addr}"),
            key["access_key"].as_str().expect("access_key"),
            key["secret_key"].as_str().expect("secret_key"),
        );
        Gateway {
            child,
            addr,
            client,
        }
    }
}
