//! The `cairn` binary the tests run: `CAIRN_BIN` when set, else the one
//! beside the running test in the same target directory (`cargo test` of
//! the `cairn` package builds it first; other packages' tests need
//! `cargo build --bin cairn`, which `cargo build --workspace
//! --all-targets` does).

use std::path::{Path, PathBuf};

/// The path of the `cairn` binary.
///
/// # Panics
/// When there is none: the message says how to build it.
pub fn cairn_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/TEST-HASH -> target/<profile>/cairn
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("cairn"))
        .expect("a target directory");
    assert!(
        bin.is_file(),
        "no cairn binary at {}: build it first (cargo build --bin cairn) or set CAIRN_BIN",
        bin.display()
    );
    bin
}
