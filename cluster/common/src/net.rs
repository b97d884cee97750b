//! Channels for cluster RPC, and the deadlines of chained calls.
//!
//! Every connection one Cairn process makes to another (client -> MDS,
//! client -> CS, CS -> CS, CS -> MDS, MDS -> MDS) is built here, in mutual
//! TLS with the node's certificate ([`crate::tls`]), so that each notices
//! a peer that vanished in the same way and soon. A host that loses power
//! or its cable sends no reset: without help a connection to it looks open
//! until the kernel gives up retransmitting (about 15 minutes on Linux),
//! and a call on it waits as long. Three mechanisms bound that:
//!
//! * HTTP/2 PINGs: once nothing has been read from the peer for
//!   [`KEEPALIVE_INTERVAL`], idle connection or not, a PING goes out; if
//!   nothing comes back within [`KEEPALIVE_TIMEOUT`] the connection is
//!   closed and every call on it fails with `Unavailable`.
//! * `TCP_USER_TIMEOUT`: data the peer has not acknowledged for
//!   [`TCP_USER_TIMEOUT`] closes the socket, which covers a sender whose
//!   PINGs are stuck behind data in a full send buffer.
//! * TCP keepalive probes on a socket with nothing to send, which the
//!   kernel answers for a process that is stopped but not for a vanished
//!   host.
//!
//! Invariants:
//! * A call on a channel made here to a host that vanished fails at most
//!   `KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT` (5 s) after the last frame
//!   read from it, with or without a deadline of its own; a connection
//!   attempt to it fails after [`CONNECT_TIMEOUT`].
//! * A chained call gives each hop less time than its caller
//!   ([`next_budget`]), so that a hop whose next hop does not answer can
//!   still answer its own caller, naming that hop, before the caller gives
//!   up on it.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use thiserror::Error;
use tonic::transport::{Channel, Endpoint};

use crate::tls::{connector::NodeConnector, NodeTls};

/// Largest gRPC message to or from an MDS, in either direction: listings
/// of 10 000 entries with their layouts, and raft snapshots' pieces,
/// exceed tonic's 4 MiB default.
pub const MDS_MAX_MESSAGE: usize = 64 << 20;

/// Largest gRPC message to or from a chunk server: data pieces are at most
/// 4 MiB (`cairn-client`'s piece size) with their framing.
pub const CS_MAX_MESSAGE: usize = 16 << 20;

/// How long a connection attempt may take. SYNs are retransmitted after
/// 1 s and 3 s: three seconds is two tries, plenty on a LAN, and short
/// enough that a caller with other peers to try moves on quickly.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Quiet time after which a PING checks the peer. Short, because data
/// calls wait on it (see the invariant); a PING is a few bytes every two
/// seconds, and a busy connection sends none (any frame read counts).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// How long a PING may go unanswered. A peer's HTTP/2 layer answers PINGs
/// from its I/O loop, not from request handlers, so a busy but live peer
/// answers in milliseconds; three seconds leaves room for a loaded
/// machine's scheduler without keeping a dead peer for long.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Unacknowledged data older than this closes the socket. Longer than the
/// PING check so that it only acts where PINGs cannot (a full send
/// buffer), and far shorter than the kernel's default of ~15 minutes.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP keepalive: first probe after this much idle time, then every
/// [`TCP_KEEPALIVE_INTERVAL`], [`TCP_KEEPALIVE_RETRIES`] times. A backstop
/// to the PINGs for connections whose HTTP/2 layer is idle.
pub const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
pub const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
pub const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// HTTP/2 flow-control windows: large enough that one data stream on a
/// fast network never waits for a window update in the middle of a chunk
/// (a piece is 4 MiB; a chain hop keeps a few in flight).
pub const STREAM_WINDOW: u32 = 8 << 20;
pub const CONNECTION_WINDOW: u32 = 32 << 20;

/// Largest HTTP/2 frame a peer may send: data pieces cross in a few frames
/// instead of dozens of 16 KiB ones.
pub const MAX_FRAME: u32 = 1 << 20;

/// The most a hop keeps of its budget for itself (see [`hop_margin`]):
/// time for its answer to travel back and for the scheduling delays of a
/// loaded machine between the moment it stops waiting and the moment its
/// caller would.
pub const HOP_MARGIN: Duration = Duration::from_secs(1);

/// An address that is not one.
#[derive(Debug, Error)]
#[error("bad address `{addr}`: {source}")]
pub struct BadAddress {
    pub addr: String,
    #[source]
    pub source: tonic::transport::Error,
}

/// The endpoint for `addr` (`host:port`, or a URI with `http://`), with
/// every setting above. The scheme stays `http`: TLS is the connector's
/// ([`lazy`], [`connect`]), with the node's own settings. Callers may add a per-call timeout to it.
pub fn endpoint(addr: &str) -> Result<Endpoint, BadAddress> {
    let uri = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(uri).map_err(|source| BadAddress {
        addr: addr.to_string(),
        source,
    })?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

/// The TCP connector under every channel: tonic's `Endpoint` cannot set
/// `TCP_USER_TIMEOUT`, so the socket options are set here.
pub fn connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    // The scheme was checked by `endpoint`; as tonic's own connector does.
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_keepalive(Some(TCP_KEEPALIVE_IDLE));
    http.set_keepalive_interval(Some(TCP_KEEPALIVE_INTERVAL));
    http.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
    http.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
    http
}

/// A channel on `endpoint` that connects on first use (and again after a
/// connection is lost), in mutual TLS as `tls`.
pub fn lazy(endpoint: &Endpoint, tls: &NodeTls) -> Channel {
    endpoint.connect_with_connector_lazy(NodeConnector::new(connector(), tls))
}

/// A lazily connecting channel to `addr` with every setting above.
pub fn channel(addr: &str, tls: &NodeTls) -> Result<Channel, BadAddress> {
    Ok(lazy(&endpoint(addr)?, tls))
}

/// A channel on `endpoint`, connected now.
pub async fn connect(
    endpoint: &Endpoint,
    tls: &NodeTls,
) -> Result<Channel, tonic::transport::Error> {
    endpoint
        .connect_with_connector(NodeConnector::new(connector(), tls))
        .await
}

/// What a hop given `budget` keeps for itself: [`HOP_MARGIN`], or a
/// quarter of a small budget, so that budgets shrink down a chain of any
/// length without ever reaching zero.
pub fn hop_margin(budget: Duration) -> Duration {
    HOP_MARGIN.min(budget / 4)
}

/// A hop given `budget` for its answer (from the moment it has the
/// request) waits for the next hop at most this long, and tells the next
/// hop this as its own budget. The next hop then stops waiting on the hop
/// after it a margin before this one stops waiting on it, and answers in
/// that margin: a hop that does not answer costs its caller's wait only,
/// never the waits of the healthy hops before it.
pub fn next_budget(budget: Duration) -> Duration {
    budget - hop_margin(budget)
}

/// A budget as the wire's `budget_ms`, where 0 means "the server's
/// default": never 0 for a budget that was set.
pub fn budget_ms(budget: Duration) -> u32 {
    u32::try_from(budget.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// The wire's `budget_ms` as a budget; None for 0 (the server's default).
pub fn budget_from_ms(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hop's wait on the next ends at least a margin before its
    /// caller's wait on it, along a chain, for small and large budgets.
    #[test]
    fn every_hop_stops_waiting_before_its_caller() {
        for client_wait in [
            Duration::from_millis(40),
            Duration::from_secs(2),
            Duration::from_secs(8),
            Duration::from_secs(600),
        ] {
            // The client waits `client_wait` and sends the first hop
            // `next_budget(client_wait)`.
            let mut caller_wait = client_wait;
            let mut budget = next_budget(client_wait);
            for hop in 0..6 {
                assert!(budget < caller_wait, "hop {hop}: {budget:?}");
                assert!(caller_wait - budget >= hop_margin(caller_wait), "hop {hop}");
                assert!(budget > Duration::ZERO, "hop {hop} of {client_wait:?}");
                assert!(budget_ms(budget) >= 1);
                // This hop waits on the next until `next_budget(budget)`.
                caller_wait = budget;
                budget = next_budget(budget);
            }
        }
    }

    #[test]
    fn the_default_budget_gives_a_second_per_hop() {
        let client = Duration::from_secs(8);
        let hops: Vec<u32> =
            std::iter::successors(Some(next_budget(client)), |b| Some(next_budget(*b)))
                .take(3)
                .map(budget_ms)
                .collect();
        assert_eq!(hops, [7000, 6000, 5000]);
    }

    #[test]
    fn budgets_cross_the_wire_without_becoming_the_default() {
        assert_eq!(budget_ms(Duration::from_micros(10)), 1);
        assert_eq!(budget_ms(Duration::from_secs(1 << 40)), u32::MAX);
        assert_eq!(budget_from_ms(0), None);
        assert_eq!(budget_from_ms(1500), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn addresses_with_and_without_a_scheme_make_endpoints() {
        assert_eq!(
            endpoint("127.0.0.1:9").unwrap().uri().to_string(),
            "http://127.0.0.1:9/"
        );
        assert!(endpoint("http://127.0.0.1:9").is_ok());
        let bad = endpoint("not an address").unwrap_err();
        assert_eq!(bad.addr, "not an address");
    }
}
