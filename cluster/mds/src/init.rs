//! Cluster creation (`make-mds -I`) and the cluster password.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    sync::Arc,
};

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use cairn_common::pki::Authority;
use cairn_common::{
    config::check_name, time::now_ns, ClusterConfig, CHECKSUM_BLOCK, MAX_CHUNK_SIZE,
};
use rand::RngCore;
use redb::{Database, Durability};

use crate::apply::{apply, create_tables};
use crate::command::Command;
use crate::error::MdsError;
use crate::schema::ClusterMeta;

/// The state file inside an MDS directory.
pub const DB_FILE: &str = "mds.redb";
/// The lock file held by the process that owns an MDS directory.
pub const LOCK_FILE: &str = "mds.lock";

/// Replica count of a new cluster's root (PCS's default of 3 copies on 3
/// hosts); inherited by every bucket and file unless changed.
pub const DEFAULT_REPLICAS: u32 = 3;

/// Takes the exclusive lock of an MDS directory for as long as the returned
/// file is open.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, MdsError> {
    let path = dir.join(LOCK_FILE);
    let file = cairn_common::host::open_lock_file(&path)
        .map_err(MdsError::io(format!("cannot open {}", path.display())))?;
    match cairn_common::host::try_lock_exclusive(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(MdsError::Locked {
            dir: dir.to_path_buf(),
            lock: path,
        }),
        Err(e) => Err(MdsError::io(format!("cannot lock {}", path.display()))(e)),
    }
}

/// Creates a cluster: the MDS state in `dir` (made if missing; refused if it
/// already holds an MDS), a random cluster id, the password hash, and the
/// cluster CA (`ca.pem`, `ca.key` in `dir`).
/// Returns the config that the CLI writes to the config directory.
pub fn init_cluster(
    dir: &Path,
    name: &str,
    listen_addr: &str,
    password: &str,
    chunk_size: u64,
) -> Result<ClusterConfig, MdsError> {
    check_name(name).map_err(|e| MdsError::Invalid(e.to_string()))?;
    if password.is_empty() {
        return Err(MdsError::Invalid(
            "the cluster password is empty: other hosts join with it (`auth-node`)".into(),
        ));
    }
    if listen_addr.is_empty() {
        return Err(MdsError::Invalid(
            "the MDS needs an address (host:port)".into(),
        ));
    }
    if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE || !chunk_size.is_multiple_of(CHECKSUM_BLOCK)
    {
        return Err(MdsError::Invalid(format!(
            "chunk size {chunk_size}: a multiple of {CHECKSUM_BLOCK} bytes, at most {MAX_CHUNK_SIZE}"
        )));
    }
    fs::create_dir_all(dir).map_err(MdsError::io(format!("cannot create {}", dir.display())))?;
    let _lock = lock_dir(dir)?;
    let db_path: PathBuf = dir.join(DB_FILE);
    if db_path.exists() {
        return Err(MdsError::AlreadyInitialised {
            dir: dir.to_path_buf(),
            file: db_path,
        });
    }

    let mut rng = rand::rng();
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    let meta = ClusterMeta {
        name: name.to_string(),
        cluster_id: hex::encode(id),
        secret: Vec::new(),
        password_hash: hash_password(password)?,
        chunk_size,
        mds_addrs: vec![listen_addr.to_string()],
        created_ns: now_ns(),
        default_replicas: DEFAULT_REPLICAS,
    };

    let result = create_db(&db_path, &meta).and_then(|()| {
        // The cluster's CA, which every MDS holds to sign node certificates.
        Ok(Authority::generate(&meta.cluster_id)?.save(dir)?)
    });
    if result.is_err() {
        // Leave no half-made MDS behind: a retry must not be refused.
        let _ = fs::remove_file(&db_path);
    }
    result?;
    tracing::info!(cluster = name, id = %meta.cluster_id, dir = %dir.display(), "cluster created");
    Ok(meta.config())
}

/// Makes the directory of an MDS joining a running group as `node_id`
/// (the leader gave the id, the cluster record, `meta`, postcard-encoded,
/// and the cluster CA, `ca`). Its state starts as a fresh cluster's; the
/// first snapshot from the leader replaces it whole.
pub fn create_member(
    dir: &Path,
    meta: &[u8],
    ca: &Authority,
    node_id: u64,
    addr: &str,
) -> Result<(), MdsError> {
    let meta: ClusterMeta = postcard::from_bytes(meta).map_err(|e| {
        MdsError::Invalid(format!("the leader sent an unreadable cluster record: {e}"))
    })?;
    fs::create_dir_all(dir).map_err(MdsError::io(format!("cannot create {}", dir.display())))?;
    let _lock = lock_dir(dir)?;
    let db_path: PathBuf = dir.join(DB_FILE);
    for existing in [db_path.clone(), dir.join(crate::raft::RAFT_FILE)] {
        if existing.exists() {
            return Err(MdsError::AlreadyInitialised {
                dir: dir.to_path_buf(),
                file: existing,
            });
        }
    }
    let result = create_db(&db_path, &meta)
        .and_then(|()| crate::raft::LogStore::create_member(dir, node_id, addr))
        .and_then(|()| Ok(ca.save(dir)?));
    if result.is_err() {
        let _ = fs::remove_file(&db_path);
        let _ = fs::remove_file(dir.join(crate::raft::RAFT_FILE));
    }
    result?;
    tracing::info!(cluster = %meta.name, node_id, dir = %dir.display(), "MDS made to join the cluster");
    Ok(())
}

fn create_db(db_path: &Path, meta: &ClusterMeta) -> Result<(), MdsError> {
    let db = Database::create(db_path)
        .map_err(MdsError::db(format!("cannot create {}", db_path.display())))?;
    let db = Arc::new(db);
    let mut txn = db
        .begin_write()
        .map_err(MdsError::db("cannot begin the first transaction"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(MdsError::db("cannot set durability"))?;
    create_tables(&txn)?;
    apply(
        &txn,
        &Command::InitCluster {
            meta: meta.clone(),
            now_ns: meta.created_ns,
        },
    )?;
    txn.commit()
        .map_err(MdsError::db(format!("cannot write {}", db_path.display())))?;
    Ok(())
}

/// Argon2id with its default (OWASP) parameters, in PHC format with a random
/// salt.
pub(crate) fn hash_password(password: &str) -> Result<String, MdsError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| MdsError::Password(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| MdsError::Password(e.to_string()))
}

/// Whether `password` matches a stored hash. A damaged hash matches nothing.
pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored cluster password hash is damaged");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_password() {
        let hash = hash_password("open sesame").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("open sesame"));
        assert!(verify_password("open sesame", &hash));
        assert!(!verify_password("open sesame!", &hash));
        assert!(!verify_password("open sesame", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("open sesame").unwrap());
    }

    #[test]
    fn init_refuses_bad_arguments_and_a_second_init() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mds");
        assert!(matches!(
            init_cluster(&path, "c1", "127.0.0.1:1", "", 64 << 20),
            Err(MdsError::Invalid(_))
        ));
        assert!(matches!(
            init_cluster(&path, "bad name", "127.0.0.1:1", "pw", 64 << 20),
            Err(MdsError::Invalid(_))
        ));
        assert!(matches!(
            init_cluster(&path, "c1", "127.0.0.1:1", "pw", 1000),
            Err(MdsError::Invalid(_))
        ));
        let cfg = init_cluster(&path, "c1", "127.0.0.1:1", "pw", 64 << 20).unwrap();
        assert_eq!(cfg.name, "c1");
        assert_eq!(cfg.mds_addrs, vec!["127.0.0.1:1".to_string()]);
        // The cluster CA, beside the MDS's state, its key private.
        let ca = Authority::load(&path).unwrap();
        assert!(ca.cert_pem().contains("BEGIN CERTIFICATE"));
        assert_eq!(cfg.cluster_id.len(), 32);
        let err = init_cluster(&path, "c1", "127.0.0.1:1", "pw", 64 << 20).unwrap_err();
        assert!(matches!(err, MdsError::AlreadyInitialised { .. }));
        assert!(err.to_string().contains("already holds an MDS"));
    }
}
