//! CORS in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver), loads a page from a local HTTP server of another origin
//! than the gateway's (another port), and from that page uploads with a
//! presigned PUT (`fetch`, with a header that needs a preflight) and with a
//! POST form built from a presigned POST policy, then reads both objects
//! back with presigned GETs. A bucket without CORS rules is read from the
//! same page and must be refused by the browser. Skipped, with a message,
//! where chromedriver is not installed (conformance/install-deps installs
//! it).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use base64::Engine;
use common::s3::*;
use fantoccini::ClientBuilder;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// chromedriver, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The page, served to any request by a thread that answers at most
/// `MAX_PAGE_REQUESTS` connections; returns its origin.
const MAX_PAGE_REQUESTS: usize = 32;
const PAGE: &str =
    "<!doctype html><html><head><title>cors page</title></head><body>cors</body></html>";

fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
    let addr = listener.local_addr().expect("the page server's address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(MAX_PAGE_REQUESTS) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}",
                PAGE.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{addr}")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The fields of a POST upload form for `bucket/key`, signed with SigV4 as
/// a presigned POST is (the policy in base64, its HMAC with the signing
/// key), valid ten minutes.
fn presigned_post(c: &S3Cluster, bucket: &str, key: &str) -> Vec<(String, String)> {
    let now = SystemTime::now();
    let (stamp, date) = amz_dates(now);
    let (expires, _) = amz_dates(now + Duration::from_secs(600));
    // 20250101T000000Z -> 2025-01-01T00:00:00Z
    let e = expires.as_bytes();
    let expiration = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &expires[..4],
        &expires[4..6],
        &expires[6..8],
        &expires[9..11],
        &expires[11..13],
        &expires[13..15]
    );
    assert_eq!(e.len(), 16, "an amz date");
    let credential = format!("{}/{date}/{REGION}/s3/aws4_request", c.access_key);
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": bucket},
            {"key": key},
            {"success_action_status": "201"},
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": credential},
            {"x-amz-date": stamp},
            ["content-length-range", 0, 1024],
        ]
    });
    let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let mut signing = hmac(format!("AWS4{}", c.secret_key).as_bytes(), date.as_bytes());
    for part in [REGION, "s3", "aws4_request"] {
        signing = hmac(&signing, part.as_bytes());
    }
    let signature = hex::encode(hmac(&signing, policy.as_bytes()));
    [
        ("key", key.to_string()),
        ("success_action_status", "201".to_string()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("x-amz-credential", credential),
        ("x-amz-date", stamp),
        ("policy", policy),
        ("x-amz-signature", signature),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn ten_minutes() -> PresigningConfig {
    PresigningConfig::expires_in(Duration::from_secs(600)).expect("a presigning config")
}

/// What the page runs: every step's outcome, as JSON, to the test.
const SCRIPT: &str = r#"
const [putUrl, postUrl, fields, getPut, getPost, closed, done] = arguments;
(async () => {
  const out = {};
  const put = await fetch(putUrl, {method: 'PUT', body: 'put from a page',
                                   headers: {'Cache-Control': 'no-cache'}});
  out.put = put.status;
  out.putEtag = put.headers.get('etag');
  const form = new FormData();
  for (const [k, v] of fields) form.append(k, v);
  form.append('file', new Blob(['posted from a page']), 'posted.txt');
  const post = await fetch(postUrl, {method: 'POST', body: form});
  out.post = post.status;
  out.postBody = await post.text();
  const a = await fetch(getPut);
  out.getPut = a.status + ' ' + await a.text();
  const b = await fetch(getPost);
  out.getPost = b.status + ' ' + await b.text();
  try { await fetch(closed); out.closed = 'read'; } catch (e) { out.closed = 'refused'; }
  return out;
})().then(r => done(JSON.stringify(r)), e => done(JSON.stringify({error: String(e)})));
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_another_origin_uploads_and_reads_back_in_chromium() {
    if Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: chromedriver is not installed (conformance/install-deps installs chromium and chromium-driver)");
        return;
    }
    let c = S3Cluster::shared();
    let s3 = c.client();
    let origin = serve_page();
    let bucket = bucket_name("cors-page");
    let closed = bucket_name("cors-closed");
    for b in [&bucket, &closed] {
        s3.create_bucket()
            .bucket(b)
            .send()
            .await
            .expect("create a bucket");
    }
    put_bytes(&s3, &closed, "secret", b"not for pages").await;
    let rule = CorsRule::builder()
        .allowed_origins(&origin)
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_methods("POST")
        .allowed_headers("Cache-Control")
        .expose_headers("ETag")
        .max_age_seconds(60)
        .build()
        .expect("a rule");
    s3.put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .expect("a configuration"),
        )
        .send()
        .await
        .expect("PutBucketCors");

    let put_url = s3
        .put_object()
        .bucket(&bucket)
        .key("put.txt")
        .presigned(ten_minutes())
        .await
        .expect("presign the PUT");
    let get = |key: &'static str| {
        s3.get_object()
            .bucket(&bucket)
            .key(key)
            .presigned(ten_minutes())
    };
    let get_put = get("put.txt").await.expect("presign a GET");
    let get_post = get("posted.txt").await.expect("presign a GET");
    let get_closed = s3
        .get_object()
        .bucket(&closed)
        .key("secret")
        .presigned(ten_minutes())
        .await
        .expect("presign a GET");
    let fields = presigned_post(&c, &bucket, "posted.txt");

    let driver_addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address")
    };
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={}", driver_addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    cairn_testkit::eventually(Duration::from_secs(20), "chromedriver to listen", || {
        std::net::TcpStream::connect(driver_addr).ok()
    });
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({
            // As root in a container: no sandbox, no GPU.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://{driver_addr}"))
        .await
        .expect("a WebDriver session in headless Chromium");
    browser.goto(&origin).await.expect("load the page");
    let result = browser
        .execute_async(
            SCRIPT,
            vec![
                serde_json::json!(put_url.uri()),
                serde_json::json!(format!("{}/{bucket}", c.endpoint())),
                serde_json::json!(fields),
                serde_json::json!(get_put.uri()),
                serde_json::json!(get_post.uri()),
                serde_json::json!(get_closed.uri()),
            ],
        )
        .await;
    let _ = browser.close().await;
    let result = result.expect("the page's script ran");
    let text = result.as_str().expect("the script answers a string");
    let out: serde_json::Value = serde_json::from_str(text).expect("the script answers JSON");
    assert!(out.get("error").is_none(), "the page failed: {out}");
    assert_eq!(out["put"], 200, "{out}");
    assert!(
        out["putEtag"].as_str().is_some_and(|e| e.starts_with('"')),
        "ETag exposed to the page: {out}"
    );
    assert_eq!(out["post"], 201, "{out}");
    assert!(
        out["postBody"]
            .as_str()
            .is_some_and(|b| b.contains("<Key>posted.txt</Key>")),
        "{out}"
    );
    assert_eq!(out["getPut"], "200 put from a page", "{out}");
    assert_eq!(out["getPost"], "200 posted from a page", "{out}");
    assert_eq!(out["closed"], "refused", "a bucket without rules: {out}");
    // The uploads are there for S3 clients too.
    assert_eq!(get_bytes(&s3, &bucket, "put.txt").await, b"put from a page");
    assert_eq!(
        get_bytes(&s3, &bucket, "posted.txt").await,
        b"posted from a page"
    );
}
