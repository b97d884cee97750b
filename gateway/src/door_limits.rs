//! The limits the S3 door puts on every client, with their defaults: how
//! large a request head may be, how many connections one address may hold,
//! how long a connection may stay idle or take to send a request head, how
//! slowly a request body may arrive, and how a burst of failed
//! authentications from one address slows that address down.
//!
//! `cairn gateway` and `cairn up` take each of them as a flag
//! (docs/operating.md, "Limits at the doors").

use std::time::Duration;

/// The door's limits; [`DoorLimits::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DoorLimits {
    /// The largest request head (request line and headers) in bytes; a
    /// larger one is answered 431 and the connection closed. S3 itself
    /// allows 8 KiB of user metadata; 64 KiB leaves room for long
    /// presigned URLs and many `x-amz-*` headers.
    pub max_header_bytes: usize,
    /// Connections one client address may hold open at once (IPv6: one
    /// /64); more from that address are refused at accept, others are
    /// still served.
    pub max_connections_per_address: usize,
    /// A connection with no request in progress and no byte in either
    /// direction for this long is closed (keep-alive idle timeout).
    pub idle_timeout: Duration,
    /// A request head must arrive whole within this long of its first byte
    /// (slowloris). Over HTTP/2, whose frames the door does not parse, the
    /// idle timeout and the header-size limit apply instead.
    pub header_read_timeout: Duration,
    /// A request body must arrive at this many bytes per second at least,
    /// measured over [`DoorLimits::body_rate_window`] of waiting for the
    /// client; a slower one is cut off with `RequestTimeout`. 0 disables.
    pub min_body_rate: u64,
    /// The window over which the body rate is measured: the time the door
    /// waited for the client, not the time the cluster took to store.
    pub body_rate_window: Duration,
    /// Failed authentications (SignatureDoesNotMatch, InvalidAccessKeyId)
    /// one address may make in a burst before it is slowed down.
    pub auth_failure_burst: u32,
    /// Failed authentications per second forgiven after a burst: an address
    /// that keeps failing faster waits before each of its requests is read.
    pub auth_failures_per_second: f64,
    /// The longest wait imposed on a request of a slowed address.
    pub auth_failure_max_delay: Duration,
}

impl Default for DoorLimits {
    fn default() -> DoorLimits {
        DoorLimits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            min_body_rate: DEFAULT_MIN_BODY_RATE,
            body_rate_window: DEFAULT_BODY_RATE_WINDOW,
            auth_failure_burst: DEFAULT_AUTH_FAILURE_BURST,
            auth_failures_per_second: DEFAULT_AUTH_FAILURES_PER_SECOND,
            auth_failure_max_delay: DEFAULT_AUTH_FAILURE_MAX_DELAY,
        }
    }
}

/// hyper reads a request head into one buffer, whose size cannot go under
/// 8 KiB: the smallest header limit the door can enforce.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Benchmarks and busy clients run 16-64 connections from one host; 512
/// leaves room for a NAT of many clients while bounding one attacker.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 512;
/// Longer than the idle time of the SDKs' pools (aws-sdk: 90 s is their
/// limit, they reuse within seconds), shorter than a forgotten socket.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A head is a few hundred bytes: even a slow link sends it in well under
/// a second.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// 1 KiB/s is far below any real link; a body slower than that over 20 s
/// of waiting is a client holding a request open, not uploading.
pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;
pub const DEFAULT_BODY_RATE_WINDOW: Duration = Duration::from_secs(20);
/// A client with a wrong secret retries a few times; a script of twenty
/// failures in a row is guessing.
pub const DEFAULT_AUTH_FAILURE_BURST: u32 = 20;
pub const DEFAULT_AUTH_FAILURES_PER_SECOND: f64 = 1.0;
pub const DEFAULT_AUTH_FAILURE_MAX_DELAY: Duration = Duration::from_secs(5);

impl DoorLimits {
    /// The header limit hyper can apply (at least [`MIN_HEADER_BYTES`]).
    pub fn header_buffer_bytes(&self) -> usize {
        self.max_header_bytes.max(MIN_HEADER_BYTES)
    }
}
