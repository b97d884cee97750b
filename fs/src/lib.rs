//! `cairn-fs`: the FUSE door of a Cairn cluster.
//!
//! The filesystem logic ([`fs::Fs`]: open files, write buffers, read-ahead,
//! directory listings, the namespace rules of the projection) is plain
//! async Rust over a [`backend::Backend`], which the real
//! [`cairn_client::Client`] implements, and the tests run it over the
//! MDS's real metadata core in memory (`test_backend`). `fuse.rs` is a thin adapter that hands every kernel
//! request to the async runtime and answers from there; `mount.rs` mounts,
//! waits for the shutdown signal and unmounts. What POSIX behaviour is
//! promised is written down in `SEMANTICS.md`.

pub mod attr;
pub mod backend;
pub mod cached;
pub mod dir;
pub mod dirty;
pub mod entry_cache;
pub mod error;
pub mod etag;
pub mod fs;
pub mod fuse;
pub mod metrics;
pub mod mount;
pub mod names;
pub mod open_file;
pub mod prefetch;
pub mod readcache;
pub mod sse;
#[cfg(feature = "test-backend")]
pub mod test_backend;
pub mod timed;
pub mod twins;
pub mod unlinks;
pub mod version_tree;

pub use error::Error;
pub use fs::{Fs, FsOptions, FsStats};
pub use mount::{
    check_mountpoint, client_options, mount, mount_backend, mount_with, MountError, MountOptions,
    ReadCacheOptions,
};
pub use readcache::{CacheStats, ReadCache};

#[cfg(test)]
mod tests;
