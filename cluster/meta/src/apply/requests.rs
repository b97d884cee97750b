//! Requests remembered: a PutKey or CompleteUpload reply kept under its
//! request id, so that a retry gets the same answer instead of applying
//! twice.

use std::borrow::Cow;

use cairn_common::ClusterError;
use redb::ReadableTableMetadata;
use serde::{Deserialize, Serialize};

use super::Tables;
use crate::command::CommandReply;
use crate::error::OrIo;
use crate::schema::{self, Stored, MAX_REMEMBERED_REQUESTS};

/// A reply kept so that a retry with the same request id gets the same
/// answer (the `requests` table's record; `seq` orders `request_order`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RememberedRequest {
    pub seq: u64,
    pub reply: CommandReply,
}

/// The envelope of the record (one version so far).
#[derive(Serialize, Deserialize)]
enum RememberedRequestRecord<'a> {
    V1(Cow<'a, RememberedRequest>),
}

impl Stored for RememberedRequest {
    const WHAT: &'static str = "remembered request";

    fn encode(&self) -> Result<Vec<u8>, ClusterError> {
        postcard::to_allocvec(&RememberedRequestRecord::V1(Cow::Borrowed(self)))
            .map_err(|e| schema::encode_err(Self::WHAT, e))
    }

    fn decode(bytes: &[u8]) -> Result<Self, ClusterError> {
        match postcard::from_bytes::<RememberedRequestRecord>(bytes) {
            Ok(RememberedRequestRecord::V1(v)) => Ok(v.into_owned()),
            Err(e) => Err(schema::decode_err(Self::WHAT, e)),
        }
    }
}

/// The reply remembered under `request_id` (0: none asked).
pub(super) fn recall(t: &Tables, request_id: u64) -> Result<Option<CommandReply>, ClusterError> {
    if request_id == 0 {
        return Ok(None);
    }
    let seen = schema::get_record::<u64, _, RememberedRequest>(&t.requests, request_id)?;
    Ok(seen.map(|s| s.reply))
}

/// Remembers a PutKey reply under its request id, forgetting the oldest
/// beyond [`MAX_REMEMBERED_REQUESTS`].
pub(super) fn remember(
    t: &mut Tables,
    request_id: u64,
    reply: &CommandReply,
) -> Result<(), ClusterError> {
    let mut counters = t.counters()?;
    let seq = counters.next_request_seq;
    counters.next_request_seq += 1;
    t.put_counters(&counters)?;
    let record = RememberedRequest {
        seq,
        reply: reply.clone(),
    };
    let bytes = record.encode()?;
    t.requests.insert(request_id, bytes.as_slice()).io()?;
    t.request_order.insert(seq, request_id).io()?;
    while t.request_order.len().io()? > MAX_REMEMBERED_REQUESTS {
        let Some((_, id)) = t
            .request_order
            .pop_first()
            .io()?
            .map(|(k, v)| (k.value(), v.value()))
        else {
            break;
        };
        t.requests.remove(id).io()?;
    }
    Ok(())
}
