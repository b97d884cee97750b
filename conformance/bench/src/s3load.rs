//! The S3 load: one neutral client (the official `aws-sdk-s3`) driving the
//! same operations against any endpoint: Cairn's gateway and Garage.
//!
//! Every phase is bounded twice: by a count of operations and by a time
//! limit; a phase cut by its time limit reports the rate of what it did.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{ensure, Context};
use aws_sdk_s3::{
    config::{Credentials, Region},
    primitives::ByteStream,
};
use bytes::Bytes;
use futures::StreamExt;

/// An S3 endpoint with a key that may write one bucket.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Target {
    /// host:port of the endpoint.
    pub fn addr(&self) -> String {
        self.endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }

    /// Path style, plain HTTP, the SDK's default checksums and retries.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_over(aws_smithy_http_client::Builder::new().build_http())
    }

    /// As [`Target::client`], over HTTPS trusting `ca_pem` only.
    pub fn https_client(&self, ca_pem: &[u8]) -> anyhow::Result<aws_sdk_s3::Client> {
        use aws_smithy_http_client::tls;
        let context = tls::TlsContext::builder()
            .with_trust_store(tls::TrustStore::empty().with_pem_certificate(ca_pem.to_vec()))
            .build()
            .context("a TLS context with the CA")?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(context)
            .build_https();
        Ok(self.client_over(http))
    }

    fn client_over(&self, http: aws_sdk_s3::config::SharedHttpClient) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "cairn-bench",
            ))
            .force_path_style(true)
            .http_client(http)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// How much load each phase sends.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Size and count of the large objects (PUT then GET, one at a time).
    pub big_size: usize,
    pub big_count: usize,
    /// Count of 1 MiB objects, at `concurrency`.
    pub mid_count: usize,
    /// Count of 4 KiB objects, at `concurrency`; also the keys listed.
    pub small_count: usize,
    pub concurrency: usize,
    /// Time limit of each phase.
    pub limit: Duration,
}

/// Figures of one endpoint: MiB/s for the throughput phases, operations
/// (or keys) per second for the others.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// The endpoint's name.
    pub name: String,
    pub put_big: f64,
    pub get_big: f64,
    pub put_mid: f64,
    pub get_mid: f64,
    pub put_small: f64,
    pub get_small: f64,
    pub list: f64,
    /// Keys the LIST phase walked through.
    pub listed: usize,
}

/// A deterministic block of `len` bytes, varied by `seed` (nothing dedups
/// or compresses).
pub fn payload(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

pub async fn put(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: String,
    body: Bytes,
) -> anyhow::Result<()> {
    c.put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(body))
        .send()
        .await
        .with_context(|| format!("PUT {bucket}/{key}"))?;
    Ok(())
}

/// GETs a whole object; returns its length.
pub async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> anyhow::Result<u64> {
    let resp = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("GET {bucket}/{key}"))?;
    let mut body = resp.body;
    let mut n = 0u64;
    while let Some(piece) = body.next().await {
        n += piece
            .with_context(|| format!("GET {bucket}/{key} body"))?
            .len() as u64;
    }
    Ok(n)
}

/// Runs `op(i)` for i in 0..count at `concurrency`, until the count is
/// done or `limit` has passed. Returns how many ran and the seconds taken.
pub async fn bounded<F, Fut>(
    count: usize,
    concurrency: usize,
    limit: Duration,
    op: F,
) -> anyhow::Result<(usize, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let t = Instant::now();
    let done = AtomicU64::new(0);
    let mut results = futures::stream::iter(0..count)
        .map(|i| {
            let (op, done) = (&op, &done);
            async move {
                if t.elapsed() >= limit {
                    return Ok(());
                }
                op(i).await?;
                done.fetch_add(1, Ordering::Relaxed);
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    drop(results);
    let n = done.load(Ordering::Relaxed) as usize;
    ensure!(n > 0, "no operation finished within {limit:?}");
    Ok((n, t.elapsed().as_secs_f64()))
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    crate::mb_per_s(bytes, secs)
}

/// The whole S3 load against `bucket` (which exists and is empty).
pub async fn run(target: &Target, bucket: &str, sizes: &Sizes) -> anyhow::Result<Figures> {
    let c = target.client();
    let mut f = Figures {
        name: target.name.clone(),
        ..Default::default()
    };
    let log = |what: &str, v: f64, unit: &str| {
        eprintln!("  {}: {what}: {v:.1} {unit}", target.name);
    };

    // Large objects, one at a time: the streaming path of a single client.
    let big: Vec<Bytes> = (0..2).map(|i| payload(100 + i, sizes.big_size)).collect();
    let (n, s) = bounded(sizes.big_count, 1, sizes.limit, |i| {
        put(&c, bucket, format!("big/{i}"), big[i % 2].clone())
    })
    .await?;
    f.put_big = mib_s((n * sizes.big_size) as u64, s);
    log("PUT large", f.put_big, "MiB/s");
    let big_len = sizes.big_size as u64;
    let (n, s) = bounded(n, 1, sizes.limit, |i| {
        let c = &c;
        async move {
            let got = get(c, bucket, &format!("big/{i}")).await?;
            ensure!(got == big_len, "big/{i}: {got} bytes, {big_len} written");
            Ok(())
        }
    })
    .await?;
    f.get_big = mib_s(n as u64 * big_len, s);
    log("GET large", f.get_big, "MiB/s");

    // 1 MiB objects at the given concurrency.
    let mid: Vec<Bytes> = (0..16).map(|i| payload(200 + i, 1 << 20)).collect();
    let (n, s) = bounded(sizes.mid_count, sizes.concurrency, sizes.limit, |i| {
        put(&c, bucket, format!("mid/{i:06}"), mid[i % 16].clone())
    })
    .await?;
    f.put_mid = mib_s((n as u64) << 20, s);
    log("PUT 1 MiB", f.put_mid, "MiB/s");
    let (n, s) = bounded(n, sizes.concurrency, sizes.limit, |i| {
        let c = &c;
        async move {
            let got = get(c, bucket, &format!("mid/{i:06}")).await?;
            ensure!(got == 1 << 20, "mid/{i:06}: {got} bytes");
            Ok(())
        }
    })
    .await?;
    f.get_mid = mib_s((n as u64) << 20, s);
    log("GET 1 MiB", f.get_mid, "MiB/s");

    // 4 KiB objects: operations per second. The keys are also what the
    // LIST phase walks, so the count is topped up after a cut phase.
    let small: Vec<Bytes> = (0..64).map(|i| payload(300 + i, 4096)).collect();
    let (n, s) = bounded(sizes.small_count, sizes.concurrency, sizes.limit, |i| {
        put(&c, bucket, format!("small/{i:06}"), small[i % 64].clone())
    })
    .await?;
    f.put_small = n as f64 / s;
    let mut made = n;
    log("PUT 4 KiB", f.put_small, "ops/s");
    if n < sizes.small_count {
        eprintln!(
            "  {}: topping up to {} keys for the LIST phase",
            target.name, sizes.small_count
        );
        let rest = sizes.small_count - n;
        let (m, _) = bounded(rest, sizes.concurrency, sizes.limit * 6, |i| {
            put(
                &c,
                bucket,
                format!("small/{:06}", n + i),
                small[i % 64].clone(),
            )
        })
        .await?;
        made = n + m;
    }
    let (n, s) = bounded(made, sizes.concurrency, sizes.limit, |i| {
        let c = &c;
        async move {
            // A stride spreads the reads over the whole key range.
            let k = (i * 7919) % made;
            let got = get(c, bucket, &format!("small/{k:06}")).await?;
            ensure!(got == 4096, "small/{k:06}: {got} bytes");
            Ok(())
        }
    })
    .await?;
    f.get_small = n as f64 / s;
    log("GET 4 KiB", f.get_small, "ops/s");

    // LIST: ListObjectsV2 pages of 1000 over every key, three passes.
    let t = Instant::now();
    let mut listed = 0usize;
    for _ in 0..3 {
        let mut token: Option<String> = None;
        let mut keys = 0usize;
        loop {
            let resp = c
                .list_objects_v2()
                .bucket(bucket)
                .prefix("small/")
                .max_keys(1000)
                .set_continuation_token(token.take())
                .send()
                .await
                .context("ListObjectsV2")?;
            keys += resp.contents().len();
            match resp.next_continuation_token() {
                Some(next) if resp.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
            ensure!(keys <= made, "LIST returned more keys than were made");
        }
        ensure!(keys == made, "LIST walked {keys} keys, {made} were made");
        listed += keys;
        if t.elapsed() > sizes.limit {
            break;
        }
    }
    f.list = listed as f64 / t.elapsed().as_secs_f64();
    f.listed = made;
    log("LIST", f.list, "keys/s");
    Ok(f)
}

/// Creates `bucket` through S3 (for endpoints whose key may create one).
pub async fn create_bucket(target: &Target, bucket: &str) -> anyhow::Result<()> {
    target
        .client()
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("CreateBucket {bucket} on {}", target.name))?;
    Ok(())
}
