//! An in-process cluster on loopback: one MDS and three chunk servers on
//! three host labels, in temporary directories, stopped on `stop`.

use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_common::ClusterConfig;
use cairn_cs::{make_cs, ChunkServer, MakeCsOptions};
use cairn_mds::{init_cluster, Mds, MdsOptions};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub struct Cluster {
    pub config: ClusterConfig,
    dirs: Vec<tempfile::TempDir>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Chunk size of the test cluster: small, so that files of a few MiB
/// cross chunk boundaries.
pub const CHUNK_SIZE: u64 = 1 << 20;

impl Cluster {
    pub async fn start() -> Cluster {
        Cluster::start_with(CHUNK_SIZE).await
    }

    pub async fn start_with(chunk_size: u64) -> Cluster {
        let mds_dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let mut config = init_cluster(mds_dir.path(), "fstest", &addr, "password", chunk_size)
            .expect("init cluster");
        // This host's certificates, signed by the CA the MDS just made.
        let node_dir = mds_dir.path().join("node");
        std::fs::create_dir_all(&node_dir).expect("node dir");
        cairn_common::pki::Authority::load(mds_dir.path())
            .expect("the cluster CA")
            .issue_node_files(
                &node_dir,
                &config.cluster_id,
                &[
                    cairn_common::node_cert::Role::Cs,
                    cairn_common::node_cert::Role::Client,
                ],
            )
            .expect("node certificates");
        config.dir = Some(node_dir);
        let mds = Mds::open(mds_dir.path(), MdsOptions::default())
            .await
            .expect("open MDS");
        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        tasks.push(tokio::spawn(async move {
            let r = mds
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = r {
                eprintln!("MDS ended: {e}");
            }
        }));
        let mut dirs = vec![mds_dir];
        for i in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let cs_dir = dir.path().join("cs");
            make_cs(
                MakeCsOptions {
                    dir: cs_dir.clone(),
                    journal: None,
                    host: Some(format!("host{i}")),
                    tier: 0,
                    capacity: Some(4 << 30),
                },
                &config,
            )
            .await
            .expect("make-cs");
            let cs = ChunkServer::open(&cs_dir, config.clone())
                .await
                .expect("open CS");
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let cs_addr = listener.local_addr().expect("addr").to_string();
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            tasks.push(tokio::spawn(async move {
                let r = cs
                    .serve(listener, cs_addr, async {
                        let _ = stopped.await;
                    })
                    .await;
                if let Err(e) = r {
                    eprintln!("CS ended: {e}");
                }
            }));
            dirs.push(dir);
        }
        let cluster = Cluster {
            config,
            dirs,
            stops,
            tasks,
        };
        // Wait until the three chunk servers have heartbeated.
        let client = cluster.client();
        cairn_testkit::until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            "the three chunk servers to become active",
            || async {
                let stat = client.stat().await.map_err(|e| e.to_string())?;
                let active = stat
                    .chunk_servers
                    .iter()
                    .filter(|c| {
                        c.status == cairn_common::summary::CsStatus::Active && !c.addr.is_empty()
                    })
                    .count();
                match active {
                    3 => Ok(()),
                    n => Err(format!("{n} active")),
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        cluster
    }

    pub fn client(&self) -> Client {
        Client::connect(
            &self.config,
            ClientOptions {
                host: Some("client-host".into()),
                mds_timeout: Duration::from_secs(5),
                ..cairn_fs::client_options()
            },
        )
        .expect("client")
    }

    /// Stops the MDS only (the chunk servers keep running).
    pub async fn stop_mds(&mut self) {
        if !self.stops.is_empty() {
            let _ = self.stops.remove(0).send(());
            let task = self.tasks.remove(0);
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }

    pub async fn stop(mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
        self.dirs.clear();
    }
}
