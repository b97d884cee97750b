//! HTTPS at the S3 door (`cairn up --tls`): the official SDK works over
//! TLS with the cluster CA and fails with a certificate error trusting
//! another CA; HTTP/2 and HTTP/1.1 are offered by ALPN; the certificate is
//! replaced (files rewritten, then SIGHUP, or the files alone) while eight
//! writers PUT, and no request fails.

mod common;

use std::{
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use aws_sdk_s3::primitives::ByteStream;
use cairn_common::pki::{self, Authority};
use common::s3::*;
use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};

/// A rustls client trusting `ca_pem`, offering `alpn`.
#[allow(deprecated, reason = "ring's provider, as the gateway's")]
fn tls_client(ca_pem: &[u8], alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("a PEM certificate")).expect("a CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// What a new handshake with the gateway gives: the leaf certificate and
/// the protocol chosen by ALPN, or the handshake's error.
async fn handshake(
    addr: SocketAddr,
    ca_pem: &[u8],
    alpn: &[&[u8]],
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tls_client(ca_pem, alpn)
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or("no certificate")?;
    Ok((leaf, session.alpn_protocol().map(<[u8]>::to_vec)))
}

fn first_der(pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sdk_works_over_https_with_the_cluster_ca() {
    let cluster = S3Cluster::start_tls();
    assert!(cluster.endpoint().starts_with("https://"));
    let s3 = cluster.client();
    let bucket = bucket_name("tls");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let body = vec![7u8; 300_000];
    s3.put_object()
        .bucket(&bucket)
        .key("a/b")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PUT over https");
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("a/b")
        .send()
        .await
        .expect("GET over https");
    assert_eq!(body_bytes(got).await, body);
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("list over https");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/b"]);

    // Both protocols by ALPN, HTTP/2 first.
    let ca = cluster.ca_pem.clone().expect("the CA");
    let (_, h2) = handshake(cluster.addr, &ca, &[b"h2", b"http/1.1"])
        .await
        .expect("handshake");
    assert_eq!(h2.as_deref(), Some(&b"h2"[..]));
    let (_, h1) = handshake(cluster.addr, &ca, &[b"http/1.1"])
        .await
        .expect("handshake");
    assert_eq!(h1.as_deref(), Some(&b"http/1.1"[..]));

    // The private keys under DIR/etc are the owner's alone.
    for key in ["ca.key", "s3.key"] {
        let mode = std::fs::metadata(cluster.etc().join("local").join(key))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    // `cairn up` says which CA to trust.
    assert!(
        cluster.stdout().contains("--ca-bundle"),
        "{}",
        cluster.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_another_ca_fails_with_a_certificate_error() {
    let cluster = S3Cluster::start_tls();
    let other = Authority::generate("another-cluster").expect("a CA");
    let s3 = sdk_client_tls(
        &cluster.endpoint(),
        &cluster.access_key,
        &cluster.secret_key,
        other.cert_pem().as_bytes(),
    );
    let refused = s3.list_buckets().send().await;
    let err = refused.expect_err("a gateway the client cannot verify is refused");
    let chain = format!("{:?}", aws_sdk_s3::error::DisplayErrorContext(&err));
    assert!(
        chain.to_ascii_lowercase().contains("certificate"),
        "not a certificate error: {chain}"
    );
    let direct = handshake(cluster.addr, other.cert_pem().as_bytes(), &[b"h2"]).await;
    let why = direct.expect_err("the handshake fails");
    assert!(why.contains("UnknownIssuer"), "{why}");
    // The right CA still works: the failure was the trust, not the server.
    cluster.client().list_buckets().send().await.expect("list");
}

/// Writes a new certificate for the gateway, signed by the cluster CA, and
/// returns its leaf.
fn rotate_files(cluster: &S3Cluster) -> Vec<u8> {
    let dir = cluster.etc().join("local");
    let ca = Authority::load(&dir).expect("the cluster CA");
    let issued = ca
        .issue_server("Cairn S3 gateway", &["127.0.0.1", "localhost"])
        .expect("a certificate");
    pki::write_pair(
        &dir.join("s3.pem"),
        &issued.cert_pem,
        &dir.join("s3.key"),
        &issued.key_pem,
    )
    .expect("write the new certificate");
    first_der(&issued.cert_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_the_certificate_under_eight_writers_fails_no_request() {
    const WRITERS: usize = 8;
    const PUTS_EACH: usize = 30;
    const LIMIT: Duration = Duration::from_secs(120);
    let cluster = Arc::new(S3Cluster::start_tls());
    let ca = cluster.ca_pem.clone().expect("the CA");
    let bucket = bucket_name("rotate");
    cluster
        .client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let (first_leaf, _) = handshake(cluster.addr, &ca, &[b"h2"])
        .await
        .expect("handshake");

    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (cluster, bucket, done) = (cluster.clone(), bucket.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut s3 = cluster.client();
            for i in 0..PUTS_EACH {
                if started.elapsed() > LIMIT {
                    break;
                }
                // Half the writers open a new connection for every PUT, so
                // that handshakes go on during each rotation.
                if w % 2 == 0 {
                    s3 = cluster.client();
                }
                let put = s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("w{w}/{i}"))
                    .body(ByteStream::from(vec![w as u8; 64 << 10]))
                    .send()
                    .await;
                if let Err(e) = put {
                    failures.push(format!(
                        "w{w}/{i}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    ));
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            failures
        }));
    }

    // Three rotations while the writers run: two announced by SIGHUP, the
    // last by the change of the files alone.
    let total = WRITERS * PUTS_EACH;
    let mut leaves = vec![first_leaf];
    for (round, at) in [total / 6, total / 3, total / 2].into_iter().enumerate() {
        let done_now = done.clone();
        cairn_testkit::eventually_async(LIMIT, &format!("{at} PUTs done"), move || {
            done_now.load(Ordering::SeqCst) >= at
        })
        .await;
        let leaf = rotate_files(&cluster);
        if round < 2 {
            let hup = std::process::Command::new("kill")
                .args(["-HUP", &cluster.pid().to_string()])
                .status()
                .expect("run kill");
            assert!(hup.success());
        }
        // A new handshake gets the new certificate, soon.
        let what = format!("round {round}: the new certificate to be served");
        let addr = cluster.addr;
        cairn_testkit::until(
            Duration::from_secs(20),
            Duration::from_millis(100),
            &what,
            || {
                let (ca, leaf) = (&ca, &leaf);
                async move {
                    let (served, _) = handshake(addr, ca, &[b"h2"]).await.expect("handshake");
                    if served == *leaf {
                        Ok(())
                    } else {
                        Err("the old certificate".to_string())
                    }
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        leaves.push(leaf);
    }
    let mut failures = Vec::new();
    for w in writers {
        failures.extend(w.await.expect("writer"));
    }
    assert!(
        failures.is_empty(),
        "{} PUTs failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(done.load(Ordering::SeqCst), total, "every PUT ran in time");
    leaves.dedup();
    assert_eq!(leaves.len(), 4, "each rotation served a new certificate");
    let listed = cluster
        .client()
        .list_objects_v2()
        .bucket(&bucket)
        .max_keys(1000)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.contents().len(), total);
}

/// `cairn gateway` of the cluster with `args`, its listen file in `dir`.
fn gateway_command(cluster: &S3Cluster, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(cairn_testkit::cairn_bin());
    cmd.arg("gateway")
        .args(args)
        .env("CAIRN_CONFIG_DIR", cluster.etc())
        .env("CAIRN_CLUSTER", LOCAL_CLUSTER)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_gateway_serves_https_and_a_plain_listener_and_refuses_a_wrong_key() {
    let cluster = S3Cluster::start_tls();
    let dir = cluster.etc().join("local");
    let (cert, key, ca_key) = (dir.join("s3.pem"), dir.join("s3.key"), dir.join("ca.key"));

    // A key that is not the certificate's: refused before serving, naming
    // both files.
    let out = gateway_command(&cluster, &["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&ca_key)
        .output()
        .expect("run cairn gateway");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not serve the certificate"), "{err}");
    assert!(err.contains("ca.key") && err.contains("s3.pem"), "{err}");

    // The right pair, with a plain listener beside it.
    let listen = cluster.root.path().join("gateway.listen");
    let mut cmd = gateway_command(
        &cluster,
        &[
            "--listen",
            "127.0.0.1:0",
            "--plain-listen",
            "127.0.0.1:0",
            "--tls-cert",
        ],
    );
    cmd.arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cairn_testkit::listen_into(&mut cmd, &listen);
    let mut child = cmd.spawn().expect("spawn cairn gateway");
    let https = cairn_testkit::bound(&listen, "s3", &mut child, Duration::from_secs(20));
    let plain = cairn_testkit::bound(&listen, "s3-plain", &mut child, Duration::from_secs(20));
    let ca = cluster.ca_pem.clone().expect("the CA");
    let secure = sdk_client_tls(
        &format!("https://{https}"),
        &cluster.access_key,
        &cluster.secret_key,
        &ca,
    );
    let insecure = sdk_client(
        &format!("http://{plain}"),
        &cluster.access_key,
        &cluster.secret_key,
    );
    let bucket = bucket_name("gw-tls");
    secure
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create over https");
    let listed = insecure
        .list_buckets()
        .send()
        .await
        .expect("list over http");
    assert!(listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some(bucket.as_str())));
    // The TLS port speaks no plain HTTP.
    let plain_on_tls = sdk_client(
        &format!("http://{https}"),
        &cluster.access_key,
        &cluster.secret_key,
    );
    // No S3 answer at all (not an S3 error): the connection fails.
    let err = plain_on_tls
        .list_buckets()
        .send()
        .await
        .expect_err("plain HTTP on the TLS port");
    assert!(
        matches!(
            err,
            aws_sdk_s3::error::SdkError::DispatchFailure(_)
                | aws_sdk_s3::error::SdkError::ResponseError(_)
        ),
        "{err:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
