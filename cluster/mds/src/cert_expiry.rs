//! The ends of the cluster's node certificates, as the leader sees them:
//! its own, each chunk server's (shown in its heartbeats' TLS session) and
//! each door's (in its reports'), for `cairn stat`, the metrics and a
//! warning event [`WARN_BEFORE_SECS`] before a certificate ends.
//!
//! A warning is raised once per certificate (serial) while this MDS runs;
//! a renewed certificate has a new serial and warns again when its turn
//! comes.

use std::{collections::BTreeSet, time::Instant};

use cairn_common::{
    node_cert::peer_role,
    pki::RENEW_BEFORE_SECS,
    tls::{cert_id, serial_hex},
};
use cairn_proto as pb;

use crate::events::Severity;
use crate::state::State;

/// How long before its end a certificate is warned about.
pub const WARN_BEFORE_SECS: i64 = RENEW_BEFORE_SECS;

/// The serials already warned about.
pub type Warned = BTreeSet<String>;

/// Every node certificate the leader knows, its own first.
pub fn node_certs(state: &State, now: Instant) -> Vec<pb::NodeCert> {
    let mut out = Vec::new();
    let own = state.tls.cert().current();
    if let Some(leaf) = own.cert.first() {
        if let Some(id) = cert_id(leaf) {
            out.push(pb::NodeCert {
                node: format!("mds{}", state.members.node_id),
                role: peer_role(leaf, &state.meta.cluster_id)
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                serial: serial_hex(&id.serial),
                subject: id.subject,
                not_after: id.not_after,
            });
        }
    }
    let mut servers: Vec<_> = state.registry.snapshot().into_iter().collect();
    servers.sort_by_key(|(id, _)| *id);
    for (cs_id, live) in servers {
        if let Some(id) = live.figures.cert {
            out.push(pb::NodeCert {
                node: format!("cs{cs_id}"),
                role: "cs".into(),
                serial: serial_hex(&id.serial),
                subject: id.subject,
                not_after: id.not_after,
            });
        }
    }
    for door in state.doors.snapshot(now) {
        if !door.cert_serial.is_empty() {
            out.push(pb::NodeCert {
                node: format!("{}@{}", door.kind, door.host),
                role: "client".into(),
                serial: door.cert_serial,
                subject: door.cert_subject,
                not_after: door.cert_not_after,
            });
        }
    }
    out
}

/// Raises a warning event for each certificate within
/// [`WARN_BEFORE_SECS`] of its end, once per certificate.
pub fn warn(state: &State, warned: &mut Warned, now: Instant) {
    let unix_now = cairn_common::time::now_ns().div_euclid(1_000_000_000);
    for cert in node_certs(state, now) {
        let left = cert.not_after - unix_now;
        if left >= WARN_BEFORE_SECS || !warned.insert(cert.serial.clone()) {
            continue;
        }
        state.events.push(
            cert.node.clone(),
            Severity::Warn,
            format!(
                "the {} certificate of {} ends in {} days (serial {}): run `cairn cert rotate` \
                 on its host",
                cert.role,
                cert.node,
                left.div_euclid(86_400).max(0),
                cert.serial
            ),
        );
    }
}
