//! Every row of the tables the invariants relate, read in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use redb::{Database, ReadableDatabase, ReadableTable};

use crate::schema::{
    self, BucketInfo, ChunkInfo, ChunkServerInfo, Inode, ObjectVersion, Stored, UploadInfo,
};

/// Every row of the tables the invariants relate.
pub(super) struct Snapshot {
    pub(super) inodes: HashMap<u64, Inode>,
    pub(super) dentries: Vec<(u64, Vec<u8>, u64)>,
    pub(super) keys: Vec<(String, Vec<u8>, u64)>,
    pub(super) buckets: BTreeMap<String, BucketInfo>,
    pub(super) chunks: BTreeMap<u64, ChunkInfo>,
    pub(super) replica_index: BTreeSet<(u32, u64)>,
    pub(super) replica_deletes: BTreeSet<(u32, u64)>,
    pub(super) servers: BTreeMap<u32, ChunkServerInfo>,
    pub(super) uploads: Vec<UploadInfo>,
    /// (bucket, key, rank, row) of `versions`.
    pub(super) versions: Vec<(String, Vec<u8>, u64, ObjectVersion)>,
}

pub(super) fn snapshot(db: &Database) -> Snapshot {
    let txn = db.begin_read().unwrap();
    let decode_all = |def| -> Vec<Vec<u8>> {
        let t = txn.open_table::<&str, &[u8]>(def).unwrap();
        t.iter()
            .unwrap()
            .map(|e| e.unwrap().1.value().to_vec())
            .collect()
    };
    let inodes = txn
        .open_table(schema::INODES)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), Inode::decode(v.value()).unwrap())
        })
        .collect();
    let dentries = txn
        .open_table(schema::DENTRIES)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            let (p, n) = k.value();
            (p, n.to_vec(), v.value())
        })
        .collect();
    let keys = txn
        .open_table(schema::KEYS)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            let (b, key) = k.value();
            (b.to_string(), key.to_vec(), v.value())
        })
        .collect();
    let buckets = decode_all(schema::BUCKETS)
        .iter()
        .map(|v| {
            let b = BucketInfo::decode(v).unwrap();
            (b.name.clone(), b)
        })
        .collect();
    let chunks = txn
        .open_table(schema::CHUNKS)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), ChunkInfo::decode(v.value()).unwrap())
        })
        .collect();
    let replica_index = txn
        .open_table(schema::REPLICA_INDEX)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| e.unwrap().0.value())
        .collect();
    let uploads = decode_all(schema::UPLOADS)
        .iter()
        .map(|v| UploadInfo::decode(v).unwrap())
        .collect();
    let replica_deletes = txn
        .open_table(schema::REPLICA_DELETES)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| e.unwrap().0.value())
        .collect();
    let servers = txn
        .open_table(schema::CHUNK_SERVERS)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), ChunkServerInfo::decode(v.value()).unwrap())
        })
        .collect();
    let versions = txn
        .open_table(schema::VERSIONS)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            let (b, key, rank) = k.value();
            (
                b.to_string(),
                key.to_vec(),
                rank,
                ObjectVersion::decode(v.value()).unwrap(),
            )
        })
        .collect();
    Snapshot {
        versions,
        replica_deletes,
        servers,
        inodes,
        dentries,
        keys,
        buckets,
        chunks,
        replica_index,
        uploads,
    }
}
