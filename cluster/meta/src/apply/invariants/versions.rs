//! The invariants of S3 versions (`schema::versions`), and random version
//! commands for the seeded sequences.

use std::collections::{BTreeMap, BTreeSet};

use rand::{rngs::StdRng, Rng};

use super::{pick, random_key, Fixture, Snapshot};
use crate::command::{Command, ProtectionChange};
use crate::schema::Versioning;

/// A row's table key matches its id; a key with a current object has it
/// newer than all its rows; a key without one is hidden by a delete marker
/// (its newest row); at most one null version per key; markers hold nothing.
/// A row as the checks see it: (seq, null, delete marker).
type RowShape = (u64, bool, bool);

pub(super) fn check(s: &Snapshot) -> Result<(), String> {
    let mut per_key: BTreeMap<(&str, &[u8]), Vec<RowShape>> = BTreeMap::new();
    for (bucket, key, rank, row) in &s.versions {
        if *rank != row.id.rank() {
            return Err(format!(
                "version row of {bucket}/{key:?} at rank {rank} has id {:?}",
                row.id
            ));
        }
        if row.delete_marker && !row.layout.is_empty() {
            return Err(format!("delete marker of {bucket}/{key:?} holds chunks"));
        }
        if !s.buckets.contains_key(bucket) {
            return Err(format!("version row of missing bucket {bucket}"));
        }
        per_key
            .entry((bucket.as_str(), key.as_slice()))
            .or_default()
            .push((row.id.seq, row.id.null, row.delete_marker));
    }
    let currents: BTreeMap<(&str, &[u8]), u64> = s
        .keys
        .iter()
        .map(|(b, k, ino)| ((b.as_str(), k.as_slice()), *ino))
        .collect();
    for ((bucket, key), rows) in &per_key {
        let nulls = rows.iter().filter(|r| r.1).count();
        let current = currents
            .get(&(*bucket, *key))
            .and_then(|ino| s.inodes.get(ino));
        match current {
            Some(node) => {
                if rows
                    .iter()
                    .any(|r| r.0 >= node.version.seq && node.version.seq != 0)
                {
                    return Err(format!(
                        "{bucket}/{key:?}: current version {:?} is not the newest of {rows:?}",
                        node.version
                    ));
                }
                if nulls + usize::from(node.version.null) > 1 {
                    return Err(format!("{bucket}/{key:?}: two null versions"));
                }
            }
            None => {
                if !rows[0].2 {
                    return Err(format!(
                        "{bucket}/{key:?}: no current object but its newest version {rows:?} is no delete marker"
                    ));
                }
                if nulls > 1 {
                    return Err(format!("{bucket}/{key:?}: two null versions"));
                }
            }
        }
    }
    Ok(())
}

/// A random versioning command: turn versioning on or suspend it, delete a
/// current object or a version by id, or tag one.
pub(super) fn random_command(s: &Snapshot, rng: &mut StdRng, bucket: &str, now_ns: i64) -> Command {
    let ids: Vec<(String, Vec<u8>, String)> = s
        .versions
        .iter()
        .map(|(b, k, _, row)| (b.clone(), k.clone(), row.id.to_wire()))
        .chain(s.keys.iter().filter_map(|(b, k, ino)| {
            s.inodes
                .get(ino)
                .map(|n| (b.clone(), k.clone(), n.version.to_wire()))
        }))
        .filter(|(_, _, id)| !id.is_empty())
        .collect();
    match rng.random_range(0..10) {
        0..=1 => Command::SetBucketVersioning {
            bucket: bucket.to_string(),
            versioning: if rng.random_bool(0.7) {
                Versioning::Enabled
            } else {
                Versioning::Suspended
            },
        },
        2..=5 => {
            let (bucket, key, id) = pick(rng, &ids)
                .unwrap_or_else(|| (bucket.to_string(), random_key(rng), "null".into()));
            Command::DeleteObject {
                bucket,
                key,
                version_id: Some(id),
                bypass_governance: false,
                now_ns,
            }
        }
        6..=7 => {
            let keys: Vec<(String, Vec<u8>)> = s
                .keys
                .iter()
                .map(|(b, k, _)| (b.clone(), k.clone()))
                .collect();
            let (bucket, key) = pick(rng, &keys).unwrap_or((bucket.to_string(), random_key(rng)));
            Command::DeleteObject {
                bucket,
                key,
                version_id: None,
                bypass_governance: false,
                now_ns,
            }
        }
        _ => {
            let (bucket, key, id) = pick(rng, &ids)
                .unwrap_or_else(|| (bucket.to_string(), random_key(rng), "null".into()));
            Command::SetProtection {
                bucket,
                key,
                version_id: rng.random_bool(0.5).then_some(id),
                change: ProtectionChange {
                    tags: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
                    ..ProtectionChange::default()
                },
                bypass_governance: false,
                now_ns,
            }
        }
    }
}

/// Deletes every version of every key by id, until none is left.
pub(super) fn remove_all(f: &mut Fixture) {
    for _ in 0..64 {
        let s = super::snapshot(&f.db);
        let mut targets: BTreeSet<(String, Vec<u8>, String)> = s
            .versions
            .iter()
            .map(|(b, k, _, row)| (b.clone(), k.clone(), row.id.to_wire()))
            .collect();
        for (b, k, ino) in &s.keys {
            if let Some(node) = s.inodes.get(ino) {
                if !node.version.to_wire().is_empty() {
                    targets.insert((b.clone(), k.clone(), node.version.to_wire()));
                }
            }
        }
        if targets.is_empty() {
            return;
        }
        for (bucket, key, id) in targets {
            f.run(Command::DeleteObject {
                bucket,
                key,
                version_id: Some(id),
                bypass_governance: true,
                now_ns: 1,
            })
            .unwrap_or_else(|e| panic!("deleting a version: {e}"));
        }
    }
    panic!("versions left after 64 rounds of deleting them");
}
