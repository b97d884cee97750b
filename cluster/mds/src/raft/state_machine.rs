//! The raft state machine: the MDS state in `mds.redb`, changed only by
//! [`crate::apply::apply`].
//!
//! An entry carries several commands (group commit); each is applied in
//! its own transaction, then the entry's log id is recorded as the last
//! applied one. None of these transactions is fsynced: redb persists
//! non-durable commits only with a later durable one, all together, and
//! durable commits (at least every [`DURABLE_EVERY`], and before every
//! snapshot) are made only between entries, under `gate`. So an entry's
//! effects and its "applied" mark are on disk together or not at all, and
//! a restart replays exactly the entries the state lacks from the raft log,
//! which is only ever purged up to a snapshot. Snapshots read the state
//! between entries too.
//!
//! A snapshot is every table of the state read in one read transaction
//! (consistent by redb's MVCC), so building one never stops the writers.

use std::{
    io::Cursor,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use cairn_common::ClusterError;
use openraft::{
    storage::RaftStateMachine, AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use redb::{
    Database, Durability, Key, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle, Value, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::{NodeId, Response, TypeConfig};
use crate::apply::apply;
use crate::command::{Command, CommandReply};
use crate::error::MdsError;
use crate::schema;

/// The state machine's own records, in `mds.redb` beside the state.
const SM: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state_machine");
const APPLIED: &str = "last_applied";
const MEMBERSHIP: &str = "membership";

/// Longest time applied entries stay without an fsync of the state.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

type SResult<T> = Result<T, StorageError<NodeId>>;
type Rows = Vec<(Vec<u8>, Vec<u8>)>;
type Membership = StoredMembership<NodeId, openraft::BasicNode>;

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// A snapshot's content: every state table, by name, as raw key and value
/// bytes. `version` guards the format.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    version: u32,
    tables: Vec<(String, Rows)>,
}

const SNAPSHOT_VERSION: u32 = 1;

struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    data: Vec<u8>,
}

/// Clones share the database and the current snapshot.
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    /// Held while an entry is applied; durable commits and snapshot reads
    /// take it, so they fall between entries.
    gate: Arc<Mutex<()>>,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    last_durable: Arc<Mutex<Instant>>,
}

impl StateMachine {
    pub fn open(db: Arc<Database>) -> Result<StateMachine, MdsError> {
        let txn = db
            .begin_write()
            .map_err(MdsError::db("cannot begin a transaction"))?;
        txn.open_table(SM)
            .map_err(MdsError::db("cannot open the state machine table"))?;
        txn.commit()
            .map_err(MdsError::db("cannot commit the state machine table"))?;
        Ok(StateMachine {
            db,
            gate: Arc::new(Mutex::new(())),
            current: Arc::new(Mutex::new(None)),
            last_durable: Arc::new(Mutex::new(Instant::now())),
        })
    }

    fn read_applied(
        txn: &ReadTransaction,
    ) -> Result<(Option<LogId<NodeId>>, Membership), AnyError> {
        let sm = txn.open_table(SM).map_err(any)?;
        let applied = match sm.get(APPLIED).map_err(any)? {
            Some(v) => postcard::from_bytes(v.value()).map_err(any)?,
            None => None,
        };
        let membership = match sm.get(MEMBERSHIP).map_err(any)? {
            Some(v) => postcard::from_bytes(v.value()).map_err(any)?,
            None => Membership::default(),
        };
        Ok((applied, membership))
    }

    fn write_applied(
        txn: &WriteTransaction,
        applied: &LogId<NodeId>,
        membership: Option<&Membership>,
    ) -> Result<(), AnyError> {
        let mut sm = txn.open_table(SM).map_err(any)?;
        let bytes = postcard::to_allocvec(&Some(*applied)).map_err(any)?;
        sm.insert(APPLIED, bytes.as_slice()).map_err(any)?;
        if let Some(m) = membership {
            let bytes = postcard::to_allocvec(m).map_err(any)?;
            sm.insert(MEMBERSHIP, bytes.as_slice()).map_err(any)?;
        }
        Ok(())
    }

    /// Applies one command in its own non-durable transaction; a refused
    /// command's transaction is aborted and leaves nothing. With
    /// `applied_entry`, the same transaction records that entry as applied
    /// unless the command is refused.
    fn apply_command_inner(
        &self,
        command: &Command,
        applied_entry: Option<&LogId<NodeId>>,
    ) -> Result<Result<CommandReply, ClusterError>, AnyError> {
        let mut txn = self.db.begin_write().map_err(any)?;
        txn.set_durability(Durability::None).map_err(any)?;
        // A panic in apply is a bug; it refuses that command (on every MDS
        // alike) instead of taking the MDS down.
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&txn, command)))
                .unwrap_or_else(|_| {
                    tracing::error!(command = command.name(), "apply panicked: command refused");
                    Err(ClusterError::Io(format!(
                        "internal error applying {}",
                        command.name()
                    )))
                });
        match applied {
            Ok(reply) => {
                if let Some(log_id) = applied_entry {
                    StateMachine::write_applied(&txn, log_id, None)?;
                }
                txn.commit().map_err(any)?;
                Ok(Ok(reply))
            }
            Err(e) => {
                tracing::debug!(command = command.name(), error = %e, "command refused");
                txn.abort().map_err(any)?;
                Ok(Err(e))
            }
        }
    }

    /// Applies the commands of one entry. The first commands' transactions
    /// do not record the entry as applied; the last command's transaction
    /// does (or, when it is refused, a transaction of its own after it: one
    /// commit per entry in the usual case). A crash part-way leaves the entry
    /// unapplied with some of its commands' effects: a replay would apply
    /// those twice. Redb's durability makes that impossible: the entry's
    /// transactions are non-durable and only a later durable commit
    /// (made between entries, never inside one) persists them, all or none.
    fn apply_entry(
        &self,
        log_id: &LogId<NodeId>,
        commands: &[Command],
    ) -> Result<Response, AnyError> {
        let _gate = self
            .gate
            .lock()
            .map_err(|_| any("state machine gate poisoned"))?;
        let mut replies = Vec::with_capacity(commands.len());
        let mut recorded = false;
        for (i, command) in commands.iter().enumerate() {
            let last = i + 1 == commands.len();
            let reply = self.apply_command_inner(command, last.then_some(log_id))?;
            recorded = last && reply.is_ok();
            replies.push(reply);
        }
        if !recorded {
            self.mark_applied(log_id, None)?;
        }
        Ok(Response(replies))
    }

    fn mark_applied(
        &self,
        log_id: &LogId<NodeId>,
        membership: Option<&Membership>,
    ) -> Result<(), AnyError> {
        let mut txn = self.db.begin_write().map_err(any)?;
        txn.set_durability(Durability::None).map_err(any)?;
        StateMachine::write_applied(&txn, log_id, membership)?;
        txn.commit().map_err(any)
    }

    /// Persists every applied entry so far with one fsync.
    fn make_durable(&self) -> Result<(), AnyError> {
        let _gate = self
            .gate
            .lock()
            .map_err(|_| any("state machine gate poisoned"))?;
        let mut txn = self.db.begin_write().map_err(any)?;
        txn.set_durability(Durability::Immediate).map_err(any)?;
        txn.commit().map_err(any)?;
        if let Ok(mut t) = self.last_durable.lock() {
            *t = Instant::now();
        }
        Ok(())
    }

    fn build(&self) -> Result<StoredSnapshot, AnyError> {
        let txn = {
            let _gate = self
                .gate
                .lock()
                .map_err(|_| any("state machine gate poisoned"))?;
            self.db.begin_read().map_err(any)?
        };
        let (applied, membership) = StateMachine::read_applied(&txn)?;
        let file = SnapshotFile {
            version: SNAPSHOT_VERSION,
            tables: dump_tables(&txn)?,
        };
        drop(txn);
        // The log is purged up to this snapshot next: the state it covers
        // must be on disk first.
        self.make_durable()?;
        let data = postcard::to_allocvec(&file).map_err(any)?;
        let snapshot_id = match &applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => "empty".to_string(),
        };
        Ok(StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: applied,
                last_membership: membership,
                snapshot_id,
            },
            data,
        })
    }

    fn install(
        &self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        data: &[u8],
    ) -> Result<(), AnyError> {
        let file: SnapshotFile = postcard::from_bytes(data).map_err(any)?;
        if file.version != SNAPSHOT_VERSION {
            return Err(any(format!("snapshot format {} unknown", file.version)));
        }
        let mut txn = self.db.begin_write().map_err(any)?;
        txn.set_durability(Durability::Immediate).map_err(any)?;
        load_tables(&txn, file.tables)?;
        {
            let mut sm = txn.open_table(SM).map_err(any)?;
            let bytes = postcard::to_allocvec(&meta.last_log_id).map_err(any)?;
            sm.insert(APPLIED, bytes.as_slice()).map_err(any)?;
            let bytes = postcard::to_allocvec(&meta.last_membership).map_err(any)?;
            sm.insert(MEMBERSHIP, bytes.as_slice()).map_err(any)?;
        }
        txn.commit().map_err(any)
    }
}

/// Every table of the state, in `schema`'s order. A table added to the
/// schema must be added here and in [`load_tables`] (a test checks that
/// every table in a database is in the snapshot).
fn dump_tables(txn: &ReadTransaction) -> Result<Vec<(String, Rows)>, AnyError> {
    Ok(vec![
        dump(txn, schema::INODES)?,
        dump(txn, schema::DENTRIES)?,
        dump(txn, schema::KEYS)?,
        dump(txn, schema::BUCKETS)?,
        dump(txn, schema::CHUNKS)?,
        dump(txn, schema::REPLICA_INDEX)?,
        dump(txn, schema::REPLICA_DELETES)?,
        dump(txn, schema::CHUNK_SERVERS)?,
        dump(txn, schema::META)?,
        dump(txn, schema::REQUESTS)?,
        dump(txn, schema::REQUEST_ORDER)?,
        dump(txn, schema::ACCESS_KEYS)?,
        dump(txn, schema::UPLOADS)?,
        dump(txn, schema::UPLOAD_INDEX)?,
        dump(txn, schema::VERSIONS)?,
        dump(txn, schema::BUCKET_SETTINGS)?,
        dump(txn, schema::REVOKED_CERTS)?,
    ])
}

fn load_tables(txn: &WriteTransaction, tables: Vec<(String, Rows)>) -> Result<(), AnyError> {
    let mut by_name: std::collections::BTreeMap<String, Rows> = tables.into_iter().collect();
    let mut take = |name: &str| by_name.remove(name).unwrap_or_default();
    load(txn, schema::INODES, take("inodes"))?;
    load(txn, schema::DENTRIES, take("dentries"))?;
    load(txn, schema::KEYS, take("keys"))?;
    load(txn, schema::BUCKETS, take("buckets"))?;
    load(txn, schema::CHUNKS, take("chunks"))?;
    load(txn, schema::REPLICA_INDEX, take("replica_index"))?;
    load(txn, schema::REPLICA_DELETES, take("replica_deletes"))?;
    load(txn, schema::CHUNK_SERVERS, take("chunk_servers"))?;
    load(txn, schema::META, take("meta"))?;
    load(txn, schema::REQUESTS, take("requests"))?;
    load(txn, schema::REQUEST_ORDER, take("request_order"))?;
    load(txn, schema::ACCESS_KEYS, take("access_keys"))?;
    load(txn, schema::UPLOADS, take("uploads"))?;
    load(txn, schema::UPLOAD_INDEX, take("upload_index"))?;
    load(txn, schema::VERSIONS, take("versions"))?;
    load(txn, schema::BUCKET_SETTINGS, take("bucket_settings"))?;
    load(txn, schema::REVOKED_CERTS, take("revoked_certs"))?;
    if let Some(name) = by_name.keys().next() {
        return Err(any(format!(
            "the snapshot holds table `{name}`, which this MDS does not know: upgrade it"
        )));
    }
    Ok(())
}

fn dump<K: Key + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<(String, Rows), AnyError> {
    let table = txn.open_table(def).map_err(any)?;
    let mut rows = Vec::new();
    for item in table.iter().map_err(any)? {
        let (k, v) = item.map_err(any)?;
        rows.push((
            K::as_bytes(&k.value()).as_ref().to_vec(),
            V::as_bytes(&v.value()).as_ref().to_vec(),
        ));
    }
    Ok((def.name().to_string(), rows))
}

fn load<K: Key + 'static, V: Value + 'static>(
    txn: &WriteTransaction,
    def: TableDefinition<K, V>,
    rows: Rows,
) -> Result<(), AnyError> {
    let mut table = txn.open_table(def).map_err(any)?;
    table.retain(|_, _| false).map_err(any)?;
    for (k, v) in &rows {
        table
            .insert(K::from_bytes(k), V::from_bytes(v))
            .map_err(any)?;
    }
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        let built = self
            .build()
            .map_err(|e| StorageError::from(StorageIOError::read_state_machine(e)))?;
        tracing::info!(snapshot = %built.meta.snapshot_id, bytes = built.data.len(), "snapshot built");
        let snapshot = Snapshot {
            meta: built.meta.clone(),
            snapshot: Box::new(Cursor::new(built.data.clone())),
        };
        if let Ok(mut current) = self.current.lock() {
            *current = Some(built);
        }
        Ok(snapshot)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> SResult<(Option<LogId<NodeId>>, Membership)> {
        let read = || -> Result<_, AnyError> {
            let txn = self.db.begin_read().map_err(any)?;
            StateMachine::read_applied(&txn)
        };
        read().map_err(|e| StorageIOError::read_state_machine(e).into())
    }

    async fn apply<I>(&mut self, entries: I) -> SResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut replies = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            let reply = match &entry.payload {
                EntryPayload::Blank => self
                    .mark_applied(&log_id, None)
                    .map(|_| Response(Vec::new())),
                EntryPayload::Membership(m) => {
                    let stored = Membership::new(Some(log_id), m.clone());
                    self.mark_applied(&log_id, Some(&stored))
                        .map(|_| Response(Vec::new()))
                }
                EntryPayload::Normal(request) => self.apply_entry(&log_id, &request.commands),
            };
            replies.push(reply.map_err(|e| StorageError::from(StorageIOError::apply(log_id, e)))?);
        }
        let due = self
            .last_durable
            .lock()
            .map(|t| t.elapsed() >= DURABLE_EVERY)
            .unwrap_or(true);
        if due {
            self.make_durable()
                .map_err(|e| StorageError::from(StorageIOError::write_state_machine(e)))?;
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> SResult<()> {
        let data = snapshot.into_inner();
        self.install(meta, &data).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), e))
        })?;
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "snapshot installed");
        if let Ok(mut current) = self.current.lock() {
            *current = Some(StoredSnapshot {
                meta: meta.clone(),
                data,
            });
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<TypeConfig>>> {
        let current = self.current.lock().map_err(|_| {
            StorageError::from(StorageIOError::read_snapshot(
                None,
                any("snapshot lock poisoned"),
            ))
        })?;
        Ok(current.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table a state database holds is carried by a snapshot (the
    /// state machine's own record aside, which the snapshot meta carries).
    #[test]
    fn snapshot_covers_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        crate::apply::create_tables(&txn).unwrap();
        txn.open_table(SM).unwrap();
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let dumped: std::collections::BTreeSet<String> = dump_tables(&txn)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for table in txn.list_tables().unwrap() {
            let name = table.name().to_string();
            if name != SM.name() {
                assert!(dumped.contains(&name), "table {name} is not in snapshots");
            }
        }
    }
}
