//! The revoked node certificates: the list every process of the cluster
//! refuses at the handshake and at each call (issue 20).
//!
//! Invariant: the list holds only certificates that have not expired as of
//! the latest revocation; an expired one is refused by its validity
//! anyway, so the list stays as short as the live certificates revoked.

use cairn_common::ClusterError;
use redb::ReadableTable;

use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::schema::{self, RevokedCert, Stored};

pub(super) fn revoke(
    t: &mut Tables,
    serial: &[u8],
    subject: &str,
    not_after: i64,
    now_ns: i64,
) -> Result<CommandReply, ClusterError> {
    if serial.is_empty() || serial.len() > 20 {
        return Err(ClusterError::Invalid(
            "a certificate serial has 1 to 20 bytes".into(),
        ));
    }
    let now_s = now_ns.div_euclid(1_000_000_000);
    let mut expired = Vec::new();
    for row in t.revoked_certs.iter().io()? {
        let (k, v) = row.io()?;
        if RevokedCert::decode(v.value())?.not_after < now_s {
            expired.push(k.value().to_vec());
        }
    }
    for k in expired {
        t.revoked_certs.remove(k.as_slice()).io()?;
    }
    if not_after < now_s {
        return Ok(CommandReply::Done);
    }
    if schema::get_record::<&[u8], _, RevokedCert>(&t.revoked_certs, serial)?.is_none() {
        let row = RevokedCert {
            subject: subject.to_string(),
            not_after,
            revoked_ns: now_ns,
        };
        t.revoked_certs
            .insert(serial, row.encode()?.as_slice())
            .io()?;
    }
    Ok(CommandReply::Done)
}
