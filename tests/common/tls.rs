//! Looking at cluster TLS from outside: whether a server refuses a
//! certificate, which certificate it serves, and a TCP proxy that records
//! what crosses it.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use cairn_common::{
    pki,
    tls::{serial_of, NodeTls},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// At most this much traffic is kept by a recording proxy.
const CAPTURE_LIMIT: usize = 64 << 20;

/// Whether the TLS server at `addr` refuses `tls`'s certificate: the
/// handshake fails, or (TLS 1.3: the client finishes first) the session
/// ends before the server's first HTTP/2 frame.
pub async fn refuses(addr: &str, tls: &NodeTls) -> bool {
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let connector = tokio_rustls::TlsConnector::from(tls.client_config());
        let mut session = connector.connect(tls.server_name(), tcp).await?;
        session
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await?;
        let mut buf = [0u8; 64];
        session.read(&mut buf).await
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(n)) => n == 0,
        Ok(Err(_)) => true,
        Err(_) => panic!("the server at {addr} neither served nor refused within 5 s"),
    }
}

/// The serial of the certificate the TLS server at `addr` serves now.
pub async fn served_serial(addr: &str, tls: &NodeTls) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let connector = tokio_rustls::TlsConnector::from(tls.client_config());
    let session = connector
        .connect(tls.server_name(), tcp)
        .await
        .expect("handshake");
    let leaf = session.get_ref().1.peer_certificates().expect("a chain")[0].clone();
    serial_of(&leaf).expect("a serial")
}

pub fn file_serial(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).expect("certificate file");
    serial_of(&pki::first_cert_der(&pem).expect("PEM")).expect("serial")
}

/// A TCP proxy on 127.0.0.1 in front of `target` that keeps a copy of
/// what passes, each direction in its own buffer (client to server first).
pub struct Recorder {
    pub addr: SocketAddr,
    up: Arc<Mutex<Vec<u8>>>,
    down: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start(target: String) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(Mutex::new(Vec::new()));
        let (up2, down2) = (up.clone(), down.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, up2.clone()));
                tokio::spawn(pump(sr, cw, down2.clone()));
            }
        });
        Recorder {
            addr,
            up,
            down,
            task,
        }
    }

    pub fn up(&self) -> Vec<u8> {
        self.up.lock().expect("capture").clone()
    }

    pub fn both(&self) -> Vec<u8> {
        let mut all = self.up();
        all.extend_from_slice(&self.down.lock().expect("capture"));
        all
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut seen = seen.lock().expect("capture");
            if seen.len() + n <= CAPTURE_LIMIT {
                seen.extend_from_slice(&buf[..n]);
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
