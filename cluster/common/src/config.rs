//! The cluster's config as each node keeps it:
//! `$CAIRN_CONFIG_DIR/<cluster>/cluster.toml` (default `/etc/cairn`), with
//! the node's certificates beside it (see [`crate::tls::node`]); the
//! directory is mode 0700 because it holds their keys.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where configs live unless `CAIRN_CONFIG_DIR` says otherwise.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/cairn";

const FILE_NAME: &str = "cluster.toml";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(
        "cluster `{name}` has no config at {path}: run `cairn -c {name} make-mds -I ...` to create \
         the cluster, or `cairn -c {name} auth-node --mds ADDR` to join this host to it"
    )]
    Missing { name: String, path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid cluster config: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` is not a valid cluster name: use letters, digits, `-` and `_`")]
    BadName(String),
}

#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub name: String,
    pub cluster_id: String,
    /// Every MDS's client address (host:port).
    pub mds_addrs: Vec<String>,
    /// Largest chunk, fixed at creation.
    pub chunk_size: u64,
    /// The directory the config was read from or written to, where the
    /// node's certificates are; None for one made in memory (the default
    /// config directory is then assumed).
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

/// Two configs are equal when they say the same; where each was read
/// from (`dir`) is not part of what it says.
impl PartialEq for ClusterConfig {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.name,
            &self.cluster_id,
            &self.mds_addrs,
            self.chunk_size,
        ) == (
            &other.name,
            &other.cluster_id,
            &other.mds_addrs,
            other.chunk_size,
        )
    }
}

impl Eq for ClusterConfig {}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("name", &self.name)
            .field("cluster_id", &self.cluster_id)
            .field("mds_addrs", &self.mds_addrs)
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

/// The base directory of cluster configs.
pub fn config_dir() -> PathBuf {
    std::env::var_os("CAIRN_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR))
}

pub fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadName(name.to_string()))
    }
}

impl ClusterConfig {
    pub fn path_in(base: &Path, name: &str) -> PathBuf {
        base.join(name).join(FILE_NAME)
    }

    /// Loads cluster `name` from `base`.
    pub fn load_from(base: &Path, name: &str) -> Result<ClusterConfig, ConfigError> {
        check_name(name)?;
        let path = Self::path_in(base, name);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing {
                    name: name.to_string(),
                    path,
                })
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let cfg: ClusterConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut cfg = cfg;
        cfg.dir = Some(base.join(name));
        if cfg.mds_addrs.is_empty() {
            return Err(ConfigError::Parse {
                path,
                message: "mds_addrs must name at least one MDS".into(),
            });
        }
        Ok(cfg)
    }

    /// Loads cluster `name` from the default config directory.
    pub fn load(name: &str) -> Result<ClusterConfig, ConfigError> {
        Self::load_from(&config_dir(), name)
    }

    /// Writes the config atomically with mode 0600.
    pub fn save_to(&self, base: &Path) -> Result<PathBuf, ConfigError> {
        check_name(&self.name)?;
        let path = Self::path_in(base, &self.name);
        let write_err = |source| ConfigError::Write {
            path: path.clone(),
            source,
        };
        let dir = base.join(&self.name);
        fs::create_dir_all(&dir).map_err(write_err)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(write_err)?;
        let text = toml::to_string(self).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write_err)?;
        f.write_all(text.as_bytes()).map_err(write_err)?;
        f.sync_all().map_err(write_err)?;
        fs::rename(&tmp, &path).map_err(write_err)?;
        Ok(path)
    }

    /// This host's identity as a `role` node of the cluster, from the
    /// certificates beside the config (`auth-node` puts them there).
    #[cfg(feature = "rpc")]
    pub fn node_tls(
        &self,
        role: crate::node_cert::Role,
    ) -> Result<crate::tls::NodeTls, crate::tls::NodeTlsError> {
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| config_dir().join(&self.name));
        crate::tls::NodeTls::load(&dir, &self.cluster_id, role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ClusterConfig {
            name: "c1".into(),
            cluster_id: "id".into(),
            mds_addrs: vec!["127.0.0.1:9100".into()],
            chunk_size: 64 << 20,
            dir: Some(dir.path().join("c1")),
        };
        let path = cfg.save_to(dir.path()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ClusterConfig::load_from(dir.path(), "c1").unwrap(), cfg);
        assert!(matches!(
            ClusterConfig::load_from(dir.path(), "nope"),
            Err(ConfigError::Missing { .. })
        ));
        assert!(matches!(
            ClusterConfig::load_from(dir.path(), "../x"),
            Err(ConfigError::BadName(n)) if n == "../x"
        ));
    }
}
