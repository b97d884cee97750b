//! Tests of a whole MDS: group commit, restart, and the gRPC services with
//! their authentication.

use std::{sync::Arc, time::Duration};

use cairn_common::{net, node_cert::Role, pki::Authority, ClusterConfig, ClusterError, ROOT_INO};
use cairn_proto as pb;
use cairn_proto::{
    cluster_admin_client::ClusterAdminClient, join_client::JoinClient,
    metadata_client::MetadataClient,
};
use tonic::{transport::Channel, Code};

use crate::command::{Command, CommandReply, ObjectSpec};
use crate::schema::NodeKind;
use crate::{init_cluster, Mds, MdsError, MdsOptions};

mod durability;
mod grpc_cluster;
mod grpc_metadata;
mod grpc_s3;
mod heal;

const PASSWORD: &str = "correct horse";

/// A new cluster's MDS directory, and the config of a host that holds
/// certificates for roles cs and client (beside the MDS's CA).
fn new_cluster() -> (tempfile::TempDir, std::path::PathBuf, ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let mds_dir = dir.path().join("mds");
    let mut cfg = init_cluster(&mds_dir, "test", "127.0.0.1:0", PASSWORD, 1 << 20).unwrap();
    let node = dir.path().join("node");
    std::fs::create_dir_all(&node).unwrap();
    Authority::load(&mds_dir)
        .unwrap()
        .issue_node_files(&node, &cfg.cluster_id, &[Role::Cs, Role::Client])
        .unwrap();
    cfg.dir = Some(node);
    (dir, mds_dir, cfg)
}

fn put(bucket: &str, key: &str, size: u64) -> Command {
    Command::PutKey {
        bucket: bucket.into(),
        key: key.as_bytes().to_vec(),
        object: ObjectSpec {
            size,
            etag: format!("etag-{key}"),
            ..ObjectSpec::default()
        },
        if_match: None,
        if_none_match: None,
        request_id: 0,
        now_ns: 1,
    }
}

/// A fresh MDS with one bucket; the directory lives as long as the guard.
async fn mds_with_bucket(bucket: &str) -> (tempfile::TempDir, Mds) {
    let (tmp, dir, _) = new_cluster();
    let mds = Mds::open(&dir, MdsOptions::default()).await.unwrap();
    mds.execute(Command::CreateBucket {
        name: bucket.into(),
        owner: String::new(),
        now_ns: 1,
    })
    .await
    .unwrap();
    (tmp, mds)
}

// gRPC: an MDS served on 127.0.0.1 and clients of its services.
struct Served {
    _tmp: tempfile::TempDir,
    cfg: ClusterConfig,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), MdsError>>,
}

async fn serve() -> Served {
    let (tmp, dir, cfg) = new_cluster();
    let mds = Mds::open(
        &dir,
        MdsOptions {
            offline_after: Duration::from_secs(5),
            ..MdsOptions::default()
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mds.serve(listener, async move {
        let _ = stopped.await;
    }));
    Served {
        _tmp: tmp,
        cfg,
        addr,
        stop: Some(stop),
        server,
    }
}

/// A channel to the MDS at `addr` as a `role` node of `cfg`'s cluster.
async fn channel(addr: std::net::SocketAddr, cfg: &ClusterConfig, role: Role) -> Channel {
    let tls = cfg.node_tls(role).unwrap();
    net::connect(&net::endpoint(&addr.to_string()).unwrap(), &tls)
        .await
        .unwrap()
}

/// A TLS channel to the MDS at `addr` that trusts nothing and shows no
/// certificate: what a process outside the cluster can open (the MDS
/// serves Join on it, and only Join).
async fn without_certificate(addr: std::net::SocketAddr) -> Channel {
    let endpoint = net::endpoint(&addr.to_string()).unwrap();
    cairn_common::join::join_channel(&endpoint, None).unwrap().0
}

fn metadata(ch: &Channel) -> MetadataClient<Channel> {
    MetadataClient::new(ch.clone())
}

fn admin(ch: &Channel) -> ClusterAdminClient<Channel> {
    ClusterAdminClient::new(ch.clone())
}

fn heartbeat(cs_id: u32, port: u16) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        cs_id,
        addr: format!("127.0.0.1:{port}"),
        capacity: 100 << 30,
        used: u64::from(cs_id) << 20,
        free: 100 << 30,
        ..Default::default()
    }
}
