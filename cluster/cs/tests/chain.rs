//! Three chunk servers in one process, on loopback: chain writes, reads from
//! every replica, a dead hop, who may connect (mutual TLS) and call, corruption and capacity, all
//! through the real gRPC service.
//!
//! The cluster config names an MDS address where nothing listens: the
//! servers' heartbeats fail and retry, which must not disturb anything.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use cairn_common::{
    net,
    node_cert::{cert_file, cluster_dns_name, key_file, node_request, Role},
    pki::Authority,
    tls::{connector::NodeConnector, reload::provider, NodeTls},
    ClusterConfig,
};
use cairn_cs::{store::replica_path, write_identity, ChunkServer, CsError, CsIdentity};
use cairn_proto::{
    chunk_service_client::ChunkServiceClient, write_request, CsAddr, ReadRequest,
    SetVersionRequest, SyncRequest, WriteHeader, WriteReply, WriteRequest,
};
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{transport::Channel, Code, Status};

const CLUSTER_ID: &str = "test-cluster-id";

/// The cluster's CA and node certificates: the test process's, which a
/// child chunk server (see [`ChildCs`]) is given.
fn node_dir() -> PathBuf {
    std::env::var_os(CHILD_NODE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| cairn_testkit::node::node_dir(CLUSTER_ID))
}

fn cfg() -> ClusterConfig {
    ClusterConfig {
        name: "test".into(),
        cluster_id: CLUSTER_ID.into(),
        // Port 1 on loopback: nobody answers, heartbeats fail fast.
        mds_addrs: vec!["127.0.0.1:1".into()],
        chunk_size: 64 << 20,
        dir: Some(node_dir()),
    }
}

fn identity(cs_id: u32, capacity: u64) -> CsIdentity {
    CsIdentity {
        cluster_name: "test".into(),
        cluster_id: cfg().cluster_id,
        cs_id,
        host: format!("host{cs_id}"),
        tier: 0,
        capacity,
        journal: None,
    }
}

struct Running {
    cs_id: u32,
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), CsError>>,
    dir: tempfile::TempDir,
}

impl Running {
    fn hop(&self) -> CsAddr {
        CsAddr {
            cs_id: self.cs_id,
            addr: self.addr.clone(),
            host: format!("host{}", self.cs_id),
        }
    }

    /// Stops the server and waits (bounded) until it has stopped.
    async fn kill(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("chunk server did not stop within 20s")
            .unwrap()
            .unwrap();
        self.dir
    }
}

async fn start(cs_id: u32, capacity: u64) -> Running {
    let dir = tempfile::tempdir().unwrap();
    write_identity(dir.path(), &identity(cs_id, capacity)).unwrap();
    let cs = ChunkServer::open(dir.path(), cfg()).await.unwrap();
    assert_eq!(cs.cs_id(), cs_id);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(cs.serve(listener, addr.clone(), async {
        let _ = stopped.await;
    }));
    Running {
        cs_id,
        addr,
        stop: Some(stop),
        task,
        dir,
    }
}

type Client = ChunkServiceClient<Channel>;

fn wrap(channel: Channel) -> Client {
    ChunkServiceClient::new(channel)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20)
}

async fn client_as(addr: &str, role: Role) -> Client {
    let tls = NodeTls::load(&node_dir(), CLUSTER_ID, role).unwrap();
    let channel = net::connect(&net::endpoint(addr).unwrap(), &tls)
        .await
        .unwrap();
    wrap(channel)
}

async fn client(addr: &str) -> Client {
    client_as(addr, Role::Client).await
}

fn header(chunk_id: u64, chain: Vec<CsAddr>) -> WriteHeader {
    WriteHeader {
        chunk_id,
        version: 1,
        offset: 0,
        chain,
        sync: true,
        create: true,
        budget_ms: 0,
    }
}

fn write_stream(header: WriteHeader, data: Bytes) -> impl futures::Stream<Item = WriteRequest> {
    let mut msgs = vec![WriteRequest {
        msg: Some(write_request::Msg::Header(header)),
    }];
    let mut at = 0;
    while at < data.len() {
        let end = (at + (1 << 20)).min(data.len());
        msgs.push(WriteRequest {
            msg: Some(write_request::Msg::Data(data.slice(at..end))),
        });
        at = end;
    }
    futures::stream::iter(msgs)
}

async fn write(
    client: &mut Client,
    header: WriteHeader,
    data: Bytes,
) -> Result<WriteReply, Status> {
    client
        .write(write_stream(header, data))
        .await
        .map(|r| r.into_inner())
}

async fn read(
    client: &mut Client,
    chunk_id: u64,
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, Status> {
    let mut stream = client
        .read(ReadRequest {
            chunk_id,
            version: 1,
            offset,
            length,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        assert!(piece.data.len() <= 1 << 20, "pieces are about 1 MiB");
        out.extend_from_slice(&piece.data);
    }
    Ok(out)
}

fn random_data(len: usize) -> Bytes {
    let seed: u64 = rand::rng().random();
    println!("data seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    Bytes::from(v)
}

fn replica_files(dir: &Path) -> usize {
    let chunks = dir.join("chunks");
    std::fs::read_dir(&chunks)
        .unwrap()
        .map(|sub| std::fs::read_dir(sub.unwrap().path()).unwrap().count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_write_reaches_every_replica_and_survives_a_dead_hop() {
    let cs1 = start(1, 0).await;
    let cs2 = start(2, 0).await;
    let cs3 = start(3, 0).await;
    let mut c1 = client(&cs1.addr).await;

    let data = random_data((5 << 20) + 12345);
    let started = Instant::now();
    let reply = write(
        &mut c1,
        header(42, vec![cs2.hop(), cs3.hop()]),
        data.clone(),
    )
    .await
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "3-hop synced chain write: {:.0} MB/s",
        data.len() as f64 / secs / 1e6
    );
    assert_eq!(reply.written, [1, 2, 3], "{reply:?}");
    assert!(reply.failed.is_empty(), "{reply:?}");
    assert_eq!(reply.chunk_length, data.len() as u64);

    for cs in [&cs1, &cs2, &cs3] {
        let mut c = client(&cs.addr).await;
        let got = read(&mut c, 42, 0, 0).await.unwrap();
        assert!(got == data[..], "replica on cs {} differs", cs.cs_id);
        // A read past the end returns only the bytes that exist.
        let tail = read(&mut c, 42, data.len() as u64 - 10, 1000)
            .await
            .unwrap();
        assert_eq!(tail, data[data.len() - 10..]);
        // An odd range inside.
        let mid = read(&mut c, 42, 70_000, 2_000_000).await.unwrap();
        assert!(mid == data[70_000..2_070_000]);
        c.sync(SyncRequest {
            chunk_id: 42,
            version: 1,
        })
        .await
        .unwrap();
    }

    // CS3 dies: a further chain write succeeds on CS1 and CS2 and names CS3.
    let hop3 = cs3.hop();
    let _dir3 = cs3.kill().await;
    let data2 = random_data((3 << 20) + 7);
    let reply = write(&mut c1, header(43, vec![cs2.hop(), hop3]), data2.clone())
        .await
        .unwrap();
    assert_eq!(reply.written, [1, 2], "{reply:?}");
    assert_eq!(reply.failed.len(), 1, "{reply:?}");
    assert_eq!(reply.failed[0].cs_id, 3, "{reply:?}");
    assert!(!reply.failed[0].error.is_empty());
    for cs in [&cs1, &cs2] {
        let mut c = client(&cs.addr).await;
        assert!(read(&mut c, 43, 0, 0).await.unwrap() == data2[..]);
    }

    // The first hop dead: CS1 alone has it, and only the dead hop is
    // reported, tagged as unreachable. CS2, behind it, never saw the data:
    // it is neither written nor failed, for the client to send it directly.
    let reply = write(
        &mut c1,
        header(
            44,
            vec![
                CsAddr {
                    cs_id: 3,
                    addr: "127.0.0.1:1".into(),
                    host: String::new(),
                },
                cs2.hop(),
            ],
        ),
        Bytes::from_static(b"small"),
    )
    .await
    .unwrap();
    assert_eq!(reply.written, [1], "{reply:?}");
    let failed: Vec<u32> = reply.failed.iter().map(|f| f.cs_id).collect();
    assert_eq!(failed, [3], "{reply:?}");
    assert!(reply.failed[0].errno == "UNAVAILABLE", "{reply:?}");
    cs1.kill().await;
    cs2.kill().await;
}

/// A client of this cluster's CA without a certificate of its own.
fn without_certificate() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(node_dir().join("ca.pem")).unwrap();
    for cert in CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// A client identity in a directory of its own: `ca.pem` of this cluster
/// and a client certificate `cert_pem` with its key.
fn identity_dir(cert_pem: &str, key_pem: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(node_dir().join("ca.pem"), dir.path().join("ca.pem")).unwrap();
    std::fs::write(cert_file(dir.path(), Role::Client), cert_pem).unwrap();
    std::fs::write(key_file(dir.path(), Role::Client), key_pem).unwrap();
    dir
}

/// Every peer that is not a node of this cluster with a valid certificate
/// is refused at the handshake: a connection is never made, so not one
/// call reaches the service, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_a_valid_certificate_are_refused_at_the_handshake() {
    let cs = start(1, 0).await;
    let endpoint = net::endpoint(&cs.addr).unwrap();
    let name = ServerName::try_from(cluster_dns_name(CLUSTER_ID)).unwrap();
    let mut refused = Vec::new();

    // Plain HTTP/2, as before mutual TLS.
    refused.push((
        "plaintext",
        endpoint.connect_with_connector(net::connector()).await,
    ));
    // TLS, trusting the cluster CA, with no certificate.
    let bare = NodeConnector::with(net::connector(), without_certificate(), name.clone());
    refused.push((
        "no certificate",
        endpoint.connect_with_connector(bare).await,
    ));
    // A certificate of another cluster's CA, naming this cluster's id.
    let other = tempfile::tempdir().unwrap();
    Authority::new_node_dir(other.path(), CLUSTER_ID).unwrap();
    let tls = NodeTls::load(other.path(), CLUSTER_ID, Role::Client).unwrap();
    refused.push(("another cluster", net::connect(&endpoint, &tls).await));
    // A certificate of this cluster's CA that has expired.
    let ca = Authority::load(&node_dir()).unwrap();
    let (key, csr) = node_request().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .issue_node_between(
            CLUSTER_ID,
            Role::Client,
            &csr,
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        )
        .unwrap();
    let dir = identity_dir(&expired, &key.serialize_pem());
    let tls = NodeTls::load(dir.path(), CLUSTER_ID, Role::Client).unwrap();
    refused.push(("expired", net::connect(&endpoint, &tls).await));

    for (what, connected) in refused {
        // A client learns of some refusals only at its first call (HTTP/2
        // over plain TCP, TLS 1.3's verdict on a client certificate).
        if let Ok(channel) = connected {
            let err = write(
                &mut wrap(channel),
                header(7, vec![]),
                Bytes::from_static(b"x"),
            )
            .await
            .expect_err(what);
            // A transport error, never an answer of the service. Which one
            // depends on timing (a reset, a closed connection, TLS bytes
            // read as HTTP/2): its source says it is the transport's.
            let transport = std::error::Error::source(&err)
                .is_some_and(|s| s.downcast_ref::<tonic::transport::Error>().is_some());
            assert!(transport, "{what}: {err:?}");
        }
    }
    // Nothing was stored; a node of the cluster is served.
    assert_eq!(replica_files(cs.dir.path()), 0);
    let mut good = client(&cs.addr).await;
    let err = read(&mut good, 7, 0, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");
    cs.kill().await;
}

/// A valid node of the wrong role: a client may not read for copies,
/// which only chunk servers do (at the MDS's order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_chunk_servers_read_for_copies() {
    let cs = start(1, 0).await;
    let mut c = client(&cs.addr).await;
    write(&mut c, header(9, vec![]), Bytes::from_static(b"kept"))
        .await
        .unwrap();
    let request = ReadRequest {
        chunk_id: 9,
        version: 1,
        offset: 0,
        length: 0,
    };
    let err = c.read_for_copy(request).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    let mut peer = client_as(&cs.addr, Role::Cs).await;
    assert!(peer.read_for_copy(request).await.is_ok());
    cs.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_replica_is_a_data_loss_error_not_bad_bytes() {
    let cs = start(1, 0).await;
    let mut c = client(&cs.addr).await;
    let data = random_data(300_000);
    write(&mut c, header(5, vec![]), data.clone())
        .await
        .unwrap();
    let path = replica_path(&cs.dir.path().join("chunks"), 5, 1);
    let mut raw = std::fs::read(&path).unwrap();
    let at = 8192 + 200_000;
    raw[at] ^= 0xff;
    std::fs::write(&path, &raw).unwrap();
    // Blocks before the bad one read fine; any read touching it fails.
    assert!(read(&mut c, 5, 0, 65536).await.unwrap() == data[..65536]);
    let err = read(&mut c, 5, 0, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{err}");
    // Block 3 (196608..262144) holds the bad byte, even for a read that
    // stops before it; block 4 is intact.
    let err = read(&mut c, 5, 199_000, 10).await.unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{err}");
    assert!(err.message().contains("block 3"), "{err}");
    assert!(read(&mut c, 5, 262_144, 0).await.unwrap() == data[262_144..]);
    cs.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_capacity_are_refused_and_version_rules_hold() {
    let cs = start(3, 2 << 20).await;
    let mut c = client(&cs.addr).await;
    let data = random_data(1 << 20);
    write(&mut c, header(1, vec![]), data.clone())
        .await
        .unwrap();
    let err = write(&mut c, header(2, vec![]), random_data(2 << 20))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().starts_with("chunk server 3 is full"), "{err}");
    // What was stored is untouched.
    assert!(read(&mut c, 1, 0, 0).await.unwrap() == data[..]);

    // Not created and not asked to create: not found.
    let mut h = header(9, vec![]);
    h.create = false;
    let err = write(&mut c, h, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");
    // Another version of an existing replica: refused.
    let mut h = header(1, vec![]);
    h.version = 2;
    let err = write(&mut c, h, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    // Version change, idempotent; the old version is gone.
    for _ in 0..2 {
        c.set_version(SetVersionRequest {
            chunk_id: 1,
            old_version: 1,
            new_version: 2,
        })
        .await
        .unwrap();
    }
    let err = read(&mut c, 1, 0, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    cs.kill().await;
}

#[tokio::test]
async fn open_refuses_foreign_missing_and_busy_directories() {
    let empty = tempfile::tempdir().unwrap();
    let err = ChunkServer::open(empty.path(), cfg()).await.err().unwrap();
    assert!(err.to_string().contains("make-cs"), "{err}");

    let foreign = tempfile::tempdir().unwrap();
    let mut id = identity(1, 0);
    id.cluster_id = "another-cluster".into();
    write_identity(foreign.path(), &id).unwrap();
    let err = ChunkServer::open(foreign.path(), cfg())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, CsError::OtherCluster { .. }), "{err}");

    let busy = tempfile::tempdir().unwrap();
    write_identity(busy.path(), &identity(1, 0)).unwrap();
    let first = ChunkServer::open(busy.path(), cfg()).await.unwrap();
    let err = ChunkServer::open(busy.path(), cfg()).await.err().unwrap();
    assert!(matches!(err, CsError::InUse { .. }), "{err}");
    drop(first);
    // Once the first is gone the directory opens again.
    ChunkServer::open(busy.path(), cfg()).await.unwrap();
}

/// Throughput of a pipelined 3-hop chain on loopback, for the record; the
/// bound asserted is loose (the machine is shared), the figure is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hop_chain_moves_a_full_chunk_quickly() {
    let cs1 = start(1, 0).await;
    let cs2 = start(2, 0).await;
    let cs3 = start(3, 0).await;
    let mut c1 = client(&cs1.addr).await;
    let data = random_data(64 << 20);
    for (chunk, sync) in [(100, false), (101, true)] {
        let mut h = header(chunk, vec![cs2.hop(), cs3.hop()]);
        h.sync = sync;
        let started = Instant::now();
        let reply = write(&mut c1, h, data.clone()).await.unwrap();
        let mbps = data.len() as f64 / started.elapsed().as_secs_f64() / 1e6;
        println!("64 MiB through 3 hops (sync={sync}): {mbps:.0} MB/s");
        assert_eq!(reply.written, [1, 2, 3]);
        assert!(mbps > 10.0, "{mbps:.0} MB/s");
    }
    let mut c3 = client(&cs3.addr).await;
    let started = Instant::now();
    let got = read(&mut c3, 101, 0, 0).await.unwrap();
    println!(
        "64 MiB read: {:.0} MB/s",
        got.len() as f64 / started.elapsed().as_secs_f64() / 1e6
    );
    assert!(got == data[..]);
    for cs in [cs1, cs2, cs3] {
        cs.kill().await;
    }
}

/// Set in a child process of this test binary: the directory of the chunk
/// server it runs (see [`child_chunk_server`]).
const CHILD_DIR_ENV: &str = "CAIRN_TEST_CHILD_CS_DIR";
/// Set in such a child: the directory of the cluster's certificates.
const CHILD_NODE_ENV: &str = "CAIRN_TEST_CHILD_NODE_DIR";
/// The child's first line on stdout: this, then its address.
const CHILD_ADDR: &str = "child chunk server at ";

/// Not a test of its own: in a child process started by [`ChildCs`] it
/// runs the chunk server of `CAIRN_TEST_CHILD_CS_DIR` on 127.0.0.1 until
/// killed; anywhere else it returns at once.
#[test]
fn child_chunk_server() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cs = ChunkServer::open(Path::new(&dir), cfg()).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        println!("{CHILD_ADDR}{addr}");
        cs.serve(listener, addr, futures::future::pending())
            .await
            .unwrap();
    });
}

/// A chunk server in a process of its own, so that it can be stopped
/// (SIGSTOP) as a host that vanished: its sockets stay open and nothing
/// answers on them. Dropping it, even in a failed test, resumes and kills
/// the process.
struct ChildCs {
    cs_id: u32,
    addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ChildCs {
    fn start(cs_id: u32) -> ChildCs {
        let dir = tempfile::tempdir().unwrap();
        write_identity(dir.path(), &identity(cs_id, 0)).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_chunk_server", "--nocapture"])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_NODE_ENV, node_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then drains the pipe so that the child never
        // blocks on it.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(addr) = line.strip_prefix(CHILD_ADDR) {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let mut running = ChildCs {
            cs_id,
            addr: String::new(),
            child,
            _dir: dir,
        };
        running.addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the child chunk server did not start within 30s");
        running
    }

    fn hop(&self) -> CsAddr {
        CsAddr {
            cs_id: self.cs_id,
            addr: self.addr.clone(),
            host: format!("host{}", self.cs_id),
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: a plain syscall on the pid of our own child, which is not
        // reaped before Drop.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

impl Drop for ChildCs {
    fn drop(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or(0);
        if pid > 0 {
            // SAFETY: as in `signal`; a stopped process must be resumed to
            // die of SIGKILL promptly and release its directory.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The middle hop of a chain of three is stopped (like a cut cable: no
/// reset, no answer). The head answers within the budget it was given,
/// naming the stopped hop alone; the hop behind it, not reached, is not
/// reported failed, and the piece sent to it directly (as the client does)
/// leaves the chunk whole on the two others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_middle_hop_costs_only_itself_within_the_budget() {
    let cs1 = start(1, 0).await;
    let cs2 = ChildCs::start(2);
    let cs3 = start(3, 0).await;
    let mut c1 = client(&cs1.addr).await;
    let mut c3 = client(&cs3.addr).await;

    // The connections down the chain are up, as in a running cluster.
    let reply = write(
        &mut c1,
        header(60, vec![cs2.hop(), cs3.hop()]),
        random_data(1000),
    )
    .await
    .unwrap();
    assert_eq!(reply.written, [1, 2, 3], "{reply:?}");

    cs2.signal(libc::SIGSTOP);
    let budget = Duration::from_secs(3);
    let data = random_data((2 << 20) + 5);
    let mut h = header(61, vec![cs2.hop(), cs3.hop()]);
    h.budget_ms = u32::try_from(budget.as_millis()).unwrap();
    let started = Instant::now();
    let reply = tokio::time::timeout(budget, write(&mut c1, h.clone(), data.clone()))
        .await
        .expect("the chain head did not answer within its budget")
        .unwrap();
    println!("answered in {:?}", started.elapsed());
    assert_eq!(reply.written, [1], "{reply:?}");
    let failed: Vec<u32> = reply.failed.iter().map(|f| f.cs_id).collect();
    assert_eq!(failed, [2], "{reply:?}");
    assert!(reply.failed[0].errno == "UNAVAILABLE", "{reply:?}");

    // CS3 gets the piece straight from the writer.
    h.chain.clear();
    let reply = write(&mut c3, h, data.clone()).await.unwrap();
    assert_eq!(reply.written, [3], "{reply:?}");
    for c in [&mut c1, &mut c3] {
        assert!(read(c, 61, 0, 0).await.unwrap() == data[..]);
    }
    cs2.signal(libc::SIGCONT);
    drop(cs2);
    cs1.kill().await;
    cs3.kill().await;
}

/// A full hop behind the head is reported with its kind, so that a writer
/// can tell "no room" from "gone" without reading the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hop_is_reported_as_no_space() {
    let cs1 = start(1, 0).await;
    let cs2 = start(2, 1 << 20).await;
    let mut c1 = client(&cs1.addr).await;
    let reply = write(&mut c1, header(70, vec![cs2.hop()]), random_data(2 << 20))
        .await
        .unwrap();
    assert_eq!(reply.written, [1], "{reply:?}");
    assert_eq!(reply.failed.len(), 1, "{reply:?}");
    assert_eq!(reply.failed[0].cs_id, 2, "{reply:?}");
    assert!(reply.failed[0].errno == "ENOSPC", "{reply:?}");
    cs1.kill().await;
    cs2.kill().await;
}
