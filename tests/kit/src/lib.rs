//! Cairn's test kit, used only as a dev-dependency (`publish = false`).
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
pub mod seed;
pub mod wait;

pub use bin::cairn_bin;
pub use listen::{bound, listen_into, read_bound, reserve_port};
pub use seed::{given_seed, Seed};
pub use wait::{eventually, eventually_async};
