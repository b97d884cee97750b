//! Cairn's test kit, used only by tests and the benchmark harness
//! (`publish = false`; nothing that ships links it).
//!
//! - [`bin`]: the `cairn` binary the tests run.
//! - [`listen`]: daemons on ports the system chooses, read back from the
//!   listen file each daemon writes.
//! - [`wait`]: bounded waits that say what they waited for.
//! - [`seed`]: one seed (`CAIRN_TEST_SEED`) for anything random in a
//!   test, printed on failure.
//! - [`house`]: the checks of the workspace's source (file lengths, module
//!   cycles) that `conformance/test-all` runs first.

pub mod bin;
pub mod house;
pub mod listen;
pub mod node;
pub mod seed;
pub mod wait;

pub use bin::cairn_bin;
pub use listen::{announced, bound, listen_into, read_bound, reserve_port, ListenError};
pub use seed::{given_seed, Seed};
pub use wait::{eventually, eventually_async, until, within, TimedOut};
