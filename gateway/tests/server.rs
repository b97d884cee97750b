//! The HTTP front without a cluster: requests that are answered before any
//! cluster call (authentication, routing, NotImplemented) get the S3 error,
//! its status, an `x-amz-request-id`, and no body on HEAD.

use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;
use cairn_gateway::{serve_with_keys, AccessKey, GatewayConfig, MapKeyStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let cluster = ClusterConfig {
        name: "t".into(),
        cluster_id: "t".into(),
        // Nothing listens there: these tests never reach the cluster.
        mds_addrs: vec!["127.0.0.1:9".into()],
        chunk_size: 1 << 20,
        dir: Some(cairn_testkit::node::node_dir("t")),
    };
    let client = Client::connect(
        &cluster,
        ClientOptions {
            host: Some("test".into()),
            mds_timeout: Duration::from_millis(200),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = GatewayConfig::new(addr);
    let keys = MapKeyStore::new([AccessKey::new("AKTEST", "secret")]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        serve_with_keys(client, config, keys, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop)
}

/// Sends a raw HTTP/1.1 request and returns the whole answer as text.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn errors_before_the_cluster() {
    let (addr, stop) = start().await;

    let anonymous = raw(
        addr,
        "GET /bucket/key HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(anonymous.starts_with("HTTP/1.1 403"), "{anonymous}");
    assert!(anonymous.to_ascii_lowercase().contains("x-amz-request-id:"));
    assert!(anonymous.contains("<Code>AccessDenied</Code>"));
    assert!(anonymous.contains("<Resource>/bucket/key</Resource>"));

    let head = raw(
        addr,
        "HEAD /bucket/key HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(!head.contains("<Error>"));

    let unknown = raw(
        addr,
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-amz-date: 20130524T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=NOPE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n\r\n",
    )
    .await;
    // The date is far from now: the skew check answers first.
    assert!(
        unknown.contains("<Code>RequestTimeTooSkewed</Code>"),
        "{unknown}"
    );

    let garbage = raw(
        addr,
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nAuthorization: Bearer x\r\n\r\n",
    )
    .await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");

    let bad_path = raw(
        addr,
        "GET /b/%ff HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(bad_path.contains("<Code>InvalidURI</Code>"), "{bad_path}");

    let method = raw(
        addr,
        "PATCH /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(method.starts_with("HTTP/1.1 405"), "{method}");

    let _ = stop.send(());
}
