//! The dependency rule: a crate kept free of a stack stays free of it.
//! Read from `cargo tree` (offline: the lock file and the sources a build
//! already fetched are all it needs), so that features are resolved the
//! way Cargo builds the crate alone, which no reading of the manifests
//! here would get right.

use std::path::Path;
use std::process::Command;

/// Crates that must not reach a package through their normal (not dev,
/// not build) dependencies: (crate, package, why).
pub const FORBIDDEN: &[(&str, &str, &str)] = &[(
    "cairn-meta",
    "tonic",
    "the metadata core has no RPC: it takes cairn-common without its `rpc` feature",
)];

/// Why the dependency tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot run cargo tree: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("cargo tree -p {krate} failed: {stderr}")]
    Failed { krate: String, stderr: String },
}

/// The names of the packages `krate` reaches through normal dependencies,
/// itself included, one per package version.
pub fn normal_packages(root: &Path, krate: &str) -> Result<Vec<String>, TreeError> {
    // The cargo that runs the test, else the one that built it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "-p", krate])
        .output()?;
    if !out.status.success() {
        return Err(TreeError::Failed {
            krate: krate.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// What is wrong: each forbidden package a crate reaches.
pub fn problems(root: &Path, forbidden: &[(&str, &str, &str)]) -> Result<Vec<String>, TreeError> {
    let mut out = Vec::new();
    for (krate, package, why) in forbidden {
        let reached = normal_packages(root, krate)?;
        if reached.iter().any(|p| p == package) {
            out.push(format!(
                "{krate} depends on {package} (see `cargo tree -p {krate} -e normal -i \
                 {package}`): {why}"
            ));
        }
    }
    Ok(out)
}
