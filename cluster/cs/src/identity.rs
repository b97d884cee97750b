//! A chunk server's directory and identity.
//!
//! A CS directory holds:
//! * `cs.toml`: who this CS is ([`CsIdentity`]): cluster name and id, the CS
//!   id the MDS assigned, host label, tier, capacity, journal. Written once,
//!   atomically (temporary file, fsync, rename, fsync of the directory), by
//!   `make-cs`; its presence is what makes a directory a CS directory.
//! * `lock`: held with an exclusive `flock` by the running CS, and holding
//!   its pid for the error message of a second one.
//! * `chunks/00` .. `chunks/ff`: the replica files (see [`crate::replica`]).
//!
//! Invariant: a directory holds at most one CS, of exactly one cluster;
//! `make_cs` refuses any directory that is not new or empty.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use cairn_common::{net, node_cert::Role, ClusterConfig};
use cairn_proto::{cluster_admin_client::ClusterAdminClient, RegisterCsRequest};
use serde::{Deserialize, Serialize};

use crate::{
    error::{error_chain, CsError},
    journal::Journal,
    sync::sync_dir,
};

/// Name of the identity file in a CS directory.
pub const IDENTITY_FILE: &str = "cs.toml";
/// Name of the lock file in a CS directory.
pub const LOCK_FILE: &str = "lock";
/// Directory of the replica files.
pub const CHUNKS_DIR: &str = "chunks";

/// Who a chunk server is, as `cs.toml` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsIdentity {
    pub cluster_name: String,
    pub cluster_id: String,
    pub cs_id: u32,
    /// Failure-domain label.
    pub host: String,
    pub tier: u32,
    /// Bytes this CS may hold; 0: bounded by the disk only.
    pub capacity: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalConfig>,
}

/// Where a CS keeps its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalConfig {
    pub path: PathBuf,
    pub size: u64,
}

/// What `make-cs` is asked to prepare.
#[derive(Debug, Clone)]
pub struct MakeCsOptions {
    /// The CS directory (created if its parent exists).
    pub dir: PathBuf,
    /// Journal file and its size in bytes.
    pub journal: Option<(PathBuf, u64)>,
    /// Failure-domain label; default: this machine's hostname.
    pub host: Option<String>,
    pub tier: u32,
    /// Bytes this CS may hold; default: the disk's size.
    pub capacity: Option<u64>,
}

pub use cairn_common::host::hostname;

/// Format of `cs.toml` this build writes; older ones are migrated on load.
pub const IDENTITY_FORMAT: u32 = 1;

/// `cs.toml` as stored: the identity with a format marker.
#[derive(Serialize, Deserialize)]
struct IdentityFile {
    format: u32,
    #[serde(flatten)]
    identity: CsIdentity,
}

impl CsIdentity {
    /// Reads `cs.toml` of `dir`.
    pub fn load(dir: &Path) -> Result<CsIdentity, CsError> {
        let path = dir.join(IDENTITY_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CsError::NotACsDir {
                    dir: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(CsError::io("read", path, e)),
        };
        let file: IdentityFile = toml::from_str(&text).map_err(|e| CsError::BadIdentity {
            path: path.clone(),
            message: e.to_string(),
        })?;
        match file.format {
            IDENTITY_FORMAT => Ok(file.identity),
            other => Err(CsError::BadIdentity {
                path,
                message: format!(
                    "format {other} is newer than this build understands ({IDENTITY_FORMAT}): \
                     upgrade cairn"
                ),
            }),
        }
    }
}

/// Writes `identity` as `dir/cs.toml`, atomically, and creates the replica
/// directories. `make_cs` uses it after registering with the MDS; tests and
/// tools that obtained a CS id otherwise use it directly. Refuses a
/// directory that already has a `cs.toml`.
pub fn write_identity(dir: &Path, identity: &CsIdentity) -> Result<(), CsError> {
    if let Ok(existing) = CsIdentity::load(dir) {
        return Err(CsError::AlreadyACs {
            dir: dir.to_path_buf(),
            cs_id: existing.cs_id,
            cluster: existing.cluster_name,
        });
    }
    create_chunk_dirs(dir)?;
    let file = IdentityFile {
        format: IDENTITY_FORMAT,
        identity: identity.clone(),
    };
    let text = toml::to_string(&file).map_err(|e| CsError::BadIdentity {
        path: dir.join(IDENTITY_FILE),
        message: e.to_string(),
    })?;
    let tmp = dir.join(format!(".{IDENTITY_FILE}.tmp"));
    let path = dir.join(IDENTITY_FILE);
    let mut f = fs::File::create(&tmp).map_err(|e| CsError::io("create", &tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CsError::io("write", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| CsError::io("rename into place", &path, e))?;
    sync_dir(dir)
}

/// Creates `chunks/00` .. `chunks/ff` (idempotent) and makes them durable.
pub(crate) fn create_chunk_dirs(dir: &Path) -> Result<(), CsError> {
    let chunks = dir.join(CHUNKS_DIR);
    for i in 0..=255u8 {
        let sub = chunks.join(format!("{i:02x}"));
        fs::create_dir_all(&sub).map_err(|e| CsError::io("create", &sub, e))?;
    }
    sync_dir(&chunks)?;
    sync_dir(dir)
}

/// Checks that `dir` may become a CS directory of `cfg`'s cluster, creating
/// it if only its parent exists.
fn check_new_dir(dir: &Path, cfg: &ClusterConfig) -> Result<(), CsError> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(CsError::NotADirectory {
                dir: dir.to_path_buf(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent_exists = dir
                .parent()
                .map(|p| p.as_os_str().is_empty() || p.is_dir())
                .unwrap_or(false);
            if !parent_exists {
                return Err(CsError::ParentMissing {
                    dir: dir.to_path_buf(),
                });
            }
            fs::create_dir(dir).map_err(|e| CsError::io("create", dir, e))?;
        }
        Err(e) => return Err(CsError::io("inspect", dir, e)),
    }
    match CsIdentity::load(dir) {
        Ok(existing) if existing.cluster_id != cfg.cluster_id => {
            return Err(CsError::OtherCluster {
                dir: dir.to_path_buf(),
                found: existing.cluster_name,
                found_id: existing.cluster_id,
                expected: cfg.name.clone(),
            })
        }
        Ok(existing) => {
            return Err(CsError::AlreadyACs {
                dir: dir.to_path_buf(),
                cs_id: existing.cs_id,
                cluster: existing.cluster_name,
            })
        }
        Err(CsError::NotACsDir { .. }) => {}
        Err(e) => return Err(e),
    }
    for entry in fs::read_dir(dir).map_err(|e| CsError::io("list", dir, e))? {
        let entry = entry.map_err(|e| CsError::io("list", dir, e))?;
        // The root of a freshly made filesystem is a fine CS directory.
        if entry.file_name() == "lost+found" {
            continue;
        }
        return Err(CsError::NotEmpty {
            dir: dir.to_path_buf(),
            example: entry.file_name().to_string_lossy().into_owned(),
        });
    }
    let probe = dir.join(".cairn-write-probe");
    fs::write(&probe, b"probe")
        .and_then(|()| fs::remove_file(&probe))
        .map_err(|source| CsError::NotWritable {
            dir: dir.to_path_buf(),
            source,
        })?;
    Ok(())
}

/// Asks the MDS for a CS id, trying each of its addresses in turn.
async fn register(
    cfg: &ClusterConfig,
    request: RegisterCsRequest,
) -> Result<(String, u32), CsError> {
    let tls = cfg.node_tls(Role::Cs)?;
    let mut failures = Vec::new();
    for addr in &cfg.mds_addrs {
        let endpoint = match net::endpoint(addr) {
            Ok(e) => e.timeout(Duration::from_secs(30)),
            Err(e) => {
                failures.push(format!("{addr}: {e}"));
                continue;
            }
        };
        let channel = match net::connect(&endpoint, &tls).await {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{addr}: {}", error_chain(&e)));
                continue;
            }
        };
        let mut client = ClusterAdminClient::new(channel);
        match client.register_cs(request.clone()).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                if reply.cluster_id != cfg.cluster_id {
                    return Err(CsError::MdsOtherCluster {
                        addr: addr.clone(),
                        mds_cluster_id: reply.cluster_id,
                        expected: cfg.cluster_id.clone(),
                    });
                }
                return Ok((addr.clone(), reply.cs_id));
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {
                failures.push(format!("{addr}: {}", error_chain(&status)));
            }
            Err(status) => {
                return Err(CsError::MdsRefused {
                    addr: addr.clone(),
                    what: "register a chunk server",
                    message: status.message().to_string(),
                })
            }
        }
    }
    Err(CsError::MdsUnreachable {
        addrs: cfg.mds_addrs.join(", "),
        detail: failures.join("; "),
    })
}

/// Prepares `opts.dir` as a new chunk server of `cfg`'s cluster: checks the
/// directory, registers with the MDS, creates the journal if asked, and
/// writes `cs.toml`.
pub async fn make_cs(opts: MakeCsOptions, cfg: &ClusterConfig) -> Result<CsIdentity, CsError> {
    let dir = opts.dir.clone();
    check_new_dir(&dir, cfg)?;
    // The CS may be started from another directory: keep the journal's
    // path absolute.
    let journal = match opts.journal {
        Some((path, size)) => {
            let path = std::path::absolute(&path).map_err(|e| CsError::io("resolve", &path, e))?;
            Journal::check_new(&path, size)?;
            Some((path, size))
        }
        None => None,
    };
    let host = opts.host.clone().unwrap_or_else(hostname);
    let (mds, cs_id) = register(
        cfg,
        RegisterCsRequest {
            host: host.clone(),
            tier: opts.tier,
            capacity: opts.capacity.unwrap_or(0),
            journal: journal.is_some(),
        },
    )
    .await?;
    let identity = CsIdentity {
        cluster_name: cfg.name.clone(),
        cluster_id: cfg.cluster_id.clone(),
        cs_id,
        host,
        tier: opts.tier,
        capacity: opts.capacity.unwrap_or(0),
        journal: journal.map(|(path, size)| JournalConfig { path, size }),
    };
    if let Some(j) = &identity.journal {
        Journal::create(&j.path, j.size)?;
    }
    write_identity(&dir, &identity)?;
    tracing::info!(cs_id, mds = %mds, dir = %dir.display(), "chunk server registered");
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ClusterConfig {
        ClusterConfig {
            name: "c1".into(),
            cluster_id: "id-1".into(),
            // Nothing listens on port 1 of loopback.
            mds_addrs: vec!["127.0.0.1:1".into()],
            chunk_size: 64 << 20,
            dir: Some(cairn_testkit::node::node_dir("id-1")),
        }
    }

    fn identity(cluster_id: &str) -> CsIdentity {
        CsIdentity {
            cluster_name: "c1".into(),
            cluster_id: cluster_id.into(),
            cs_id: 4,
            host: "h".into(),
            tier: 0,
            capacity: 0,
            journal: None,
        }
    }

    fn opts(dir: PathBuf) -> MakeCsOptions {
        MakeCsOptions {
            dir,
            journal: None,
            host: None,
            tier: 0,
            capacity: None,
        }
    }

    #[tokio::test]
    async fn refuses_used_dirs_and_explains_an_absent_mds() {
        let base = tempfile::tempdir().unwrap();
        let err = make_cs(opts(base.path().join("a/b")), &cfg())
            .await
            .unwrap_err();
        assert!(matches!(err, CsError::ParentMissing { .. }), "{err}");

        let taken = base.path().join("taken");
        fs::create_dir(&taken).unwrap();
        write_identity(&taken, &identity("id-1")).unwrap();
        let err = make_cs(opts(taken.clone()), &cfg()).await.unwrap_err();
        assert!(matches!(err, CsError::AlreadyACs { cs_id: 4, .. }), "{err}");

        let foreign = base.path().join("foreign");
        fs::create_dir(&foreign).unwrap();
        write_identity(&foreign, &identity("id-2")).unwrap();
        let err = make_cs(opts(foreign), &cfg()).await.unwrap_err();
        assert!(matches!(err, CsError::OtherCluster { .. }), "{err}");

        let full = base.path().join("full");
        fs::create_dir(&full).unwrap();
        fs::write(full.join("photo.jpg"), b"x").unwrap();
        let err = make_cs(opts(full), &cfg()).await.unwrap_err();
        assert!(err.to_string().contains("photo.jpg"), "{err}");

        // The root of a new filesystem (only lost+found) is accepted.
        let mount = base.path().join("mount");
        fs::create_dir_all(mount.join("lost+found")).unwrap();
        let err = make_cs(opts(mount), &cfg()).await.unwrap_err();
        assert!(matches!(err, CsError::MdsUnreachable { .. }), "{err}");

        // A new directory passes the checks and stops at the MDS, with a
        // message that says what to check.
        let fresh = base.path().join("fresh");
        let err = make_cs(opts(fresh.clone()), &cfg()).await.unwrap_err();
        assert!(matches!(err, CsError::MdsUnreachable { .. }), "{err}");
        assert!(err.to_string().contains("is `cairn mds` running?"), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1: "), "{err}");
        assert!(fresh.is_dir());
        assert!(!fresh.join(IDENTITY_FILE).exists());
    }

    #[test]
    fn identity_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut id = identity("id-1");
        id.journal = Some(JournalConfig {
            path: "j".into(),
            size: 1 << 20,
        });
        write_identity(dir.path(), &id).unwrap();
        assert_eq!(CsIdentity::load(dir.path()).unwrap(), id);
        assert!(dir.path().join("chunks/ff").is_dir());
        assert!(matches!(
            write_identity(dir.path(), &id),
            Err(CsError::AlreadyACs { .. })
        ));
    }
}
