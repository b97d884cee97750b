//! Tests of the store: the index, the data path, capacity, recovery.

use super::*;
use crate::identity::write_identity;

#[test]
fn queue_depth_is_the_peak_since_the_last_heartbeat_and_max_latency_resets() {
    let stats = Stats::default();
    {
        let _a = stats.begin();
        let _b = stats.begin();
        let _c = stats.begin();
    }
    let _held = stats.begin();
    assert_eq!(stats.take_queue_depth(), 3);
    // The next interval starts from what is still in progress.
    assert_eq!(stats.take_queue_depth(), 1);
    stats.record_sync(std::time::Duration::from_millis(30));
    stats.record_sync(std::time::Duration::from_millis(10));
    assert!((stats.take_latency_max_ms() - 30.0).abs() < 1e-9);
    assert_eq!(stats.take_latency_max_ms(), 0.0);
}

fn identity(capacity: u64) -> CsIdentity {
    CsIdentity {
        cluster_name: "c".into(),
        cluster_id: "id".into(),
        cs_id: 3,
        host: "h".into(),
        tier: 0,
        capacity,
        journal: None,
    }
}

fn open(dir: &Path, id: &CsIdentity) -> Store {
    if CsIdentity::load(dir).is_err() {
        write_identity(dir, id).unwrap();
    }
    Store::open(dir, id).unwrap()
}

/// Creating many more replicas than the open-file limit keeps the
/// descriptors bounded, and every replica still reads back.
#[test]
fn creating_many_replicas_keeps_open_files_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &identity(0));
    let n = (MAX_OPEN_FILES * 2) as u64;
    for chunk in 1..=n {
        store
            .write(
                chunk,
                1,
                0,
                &[Bytes::from(chunk.to_le_bytes().to_vec())],
                true,
            )
            .unwrap();
        assert!(
            store.open_files.load(Ordering::Relaxed) <= MAX_OPEN_FILES,
            "{} replica files open after {chunk} creations",
            store.open_files.load(Ordering::Relaxed)
        );
    }
    for chunk in [1, n / 2, n] {
        let got = store.read(chunk, 1, 0, 8).unwrap();
        assert_eq!(&got[..], &chunk.to_le_bytes());
    }
}

/// Random operations against a model (chunk -> version, bytes), with
/// reopens along the way, with and without a journal. Prints its seed;
/// `CAIRN_TEST_SEED=<seed>` replays a run (`cairn_testkit::seed`).
#[test]
fn random_operations_match_a_model() {
    use rand::{Rng, SeedableRng};
    let guard = cairn_testkit::Seed::take("cs store random operations");
    let seed = guard.value();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for with_journal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (csdir, id) = if with_journal {
            journaled(dir.path())
        } else {
            (dir.path().to_path_buf(), identity(0))
        };
        let mut store = Some(open(&csdir, &id));
        let mut model: HashMap<u64, (u64, Vec<u8>)> = HashMap::new();
        for step in 0..400 {
            let st = store.as_ref().unwrap();
            let chunk = rng.random_range(0..6u64);
            let ctx = format!("seed {seed} journal {with_journal} step {step} chunk {chunk}");
            match rng.random_range(0..10) {
                0..=4 => {
                    let version = match model.get(&chunk) {
                        Some((v, _)) if rng.random_bool(0.9) => *v,
                        _ => rng.random_range(1..4),
                    };
                    let create = rng.random_bool(0.5);
                    let offset = rng.random_range(0..300_000u64);
                    let len = rng.random_range(0..150_000usize);
                    let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                    let got =
                        st.write(chunk, version, offset, &[Bytes::from(data.clone())], create);
                    match model.get_mut(&chunk) {
                        Some((v, bytes)) if *v == version => {
                            let new_len = got.expect(&ctx);
                            if len > 0 {
                                let end = offset as usize + len;
                                if bytes.len() < end {
                                    bytes.resize(end, 0);
                                }
                                bytes[offset as usize..end].copy_from_slice(&data);
                            }
                            assert_eq!(new_len, bytes.len() as u64, "{ctx}");
                        }
                        Some(_) => assert!(
                            matches!(got, Err(ReplicaError::VersionMismatch { .. })),
                            "{ctx}: {got:?}"
                        ),
                        None if create => {
                            got.expect(&ctx);
                            let mut bytes = Vec::new();
                            if len > 0 {
                                bytes.resize(offset as usize + len, 0);
                                bytes[offset as usize..].copy_from_slice(&data);
                            }
                            model.insert(chunk, (version, bytes));
                        }
                        None => assert!(
                            matches!(got, Err(ReplicaError::NotFound { .. })),
                            "{ctx}: {got:?}"
                        ),
                    }
                }
                5 => {
                    let got = st.delete(chunk, 0);
                    assert!(got.is_ok(), "{ctx}: {got:?}");
                    model.remove(&chunk);
                }
                6 => {
                    if let Some((v, _)) = model.get_mut(&chunk) {
                        let new = *v + rng.random_range(1..3);
                        st.set_version(chunk, *v, new).expect(&ctx);
                        *v = new;
                    }
                }
                7 => {
                    // A crash-free restart: everything must come back.
                    drop(store.take());
                    store = Some(open(&csdir, &id));
                }
                _ => {
                    let version = model.get(&chunk).map_or(1, |(v, _)| *v);
                    let offset = rng.random_range(0..400_000u64);
                    let len = rng.random_range(0..200_000u64);
                    let got = st.read(chunk, version, offset, len);
                    match model.get(&chunk) {
                        Some((_, bytes)) => {
                            let from = (offset as usize).min(bytes.len());
                            let to = ((offset + len) as usize).min(bytes.len());
                            assert!(got.expect(&ctx)[..] == bytes[from..to], "{ctx}");
                        }
                        None => assert!(
                            matches!(got, Err(ReplicaError::NotFound { chunk_id, .. }) if chunk_id == chunk),
                            "{ctx}: {got:?}"
                        ),
                    }
                }
            }
            let st = store.as_ref().unwrap();
            let mut listed: Vec<(u64, u64, u64)> = st
                .list()
                .iter()
                .map(|r| (r.chunk_id, r.version, r.length))
                .collect();
            listed.sort();
            let mut expected: Vec<(u64, u64, u64)> = model
                .iter()
                .map(|(&c, (v, b))| (c, *v, b.len() as u64))
                .collect();
            expected.sort();
            assert_eq!(listed, expected, "{ctx}");
            let used: u64 = expected.iter().map(|e| HEADER_SIZE + e.2).sum();
            assert_eq!(st.space().used, used, "{ctx}");
        }
    }
}

#[test]
fn create_write_read_rename_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &identity(0));
    let b = |s: &'static [u8]| [Bytes::from_static(s)];
    assert!(matches!(
        store.write(9, 1, 0, &b(b"x"), false),
        Err(ReplicaError::NotFound { .. })
    ));
    assert_eq!(store.write(9, 1, 0, &b(b"hello"), true).unwrap(), 5);
    assert!(matches!(
        store.write(9, 2, 0, &b(b"x"), true),
        Err(ReplicaError::VersionMismatch { have: 1, .. })
    ));
    store.set_version(9, 1, 2).unwrap();
    store.set_version(9, 1, 2).unwrap(); // idempotent
    assert!(matches!(
        store.read(9, 1, 0, 5),
        Err(ReplicaError::VersionMismatch { .. })
    ));
    assert_eq!(store.read(9, 2, 0, 100).unwrap().as_ref(), b"hello");
    assert!(replica_path(&dir.path().join(CHUNKS_DIR), 9, 2).exists());
    assert_eq!(
        store.list(),
        [ReplicaInfo {
            chunk_id: 9,
            version: 2,
            length: 5
        }]
    );
    drop(store);

    // The index is rebuilt from disk.
    let store = open(dir.path(), &identity(0));
    assert_eq!(store.read(9, 2, 1, 3).unwrap().as_ref(), b"ell");
    store.delete(9, 2).unwrap();
    store.delete(9, 2).unwrap();
    assert!(store.list().is_empty());
    assert!(!replica_path(&dir.path().join(CHUNKS_DIR), 9, 2).exists());
}

#[test]
fn a_second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path(), &identity(0));
    match Store::open(dir.path(), &identity(0)) {
        Err(CsError::InUse { holder, .. }) => {
            assert!(holder.contains(&std::process::id().to_string()))
        }
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("expected InUse, got a second store"),
    }
}

#[test]
fn capacity_refuses_growth_and_keeps_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &identity(HEADER_SIZE + 1000));
    store
        .write(1, 1, 0, &[Bytes::from(vec![1u8; 900])], true)
        .unwrap();
    let err = store
        .write(1, 1, 900, &[Bytes::from(vec![2u8; 200])], false)
        .unwrap_err();
    assert!(matches!(err, ReplicaError::Full { cs_id: 3, .. }), "{err}");
    assert!(
        err.to_string().starts_with("chunk server 3 is full"),
        "{err}"
    );
    // Overwriting inside the replica needs no space and still works.
    store
        .write(1, 1, 0, &[Bytes::from(vec![3u8; 10])], false)
        .unwrap();
    let data = store.read(1, 1, 0, 2000).unwrap();
    assert_eq!(data.len(), 900);
    assert_eq!(&data[..10], &[3u8; 10]);
    assert!(data[10..].iter().all(|&b| b == 1));
    // A new replica does not fit either.
    assert!(matches!(
        store.write(2, 1, 0, &[Bytes::from(vec![1u8; 200])], true),
        Err(ReplicaError::Full { .. })
    ));
    assert_eq!(store.list().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_synced_writes_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path(), &identity(0)));
    let writes = (0..64u64).map(|i| {
        let store = Arc::clone(&store);
        async move {
            let s = Arc::clone(&store);
            tokio::task::spawn_blocking(move || {
                s.write(i, 1, 0, &[Bytes::from(format!("object {i}"))], true)
            })
            .await
            .unwrap()?;
            store.sync(i, 1).await
        }
    });
    for result in futures::future::join_all(writes).await {
        result.unwrap();
    }
    let flushes = store.flushes();
    assert!(
        (1..64).contains(&flushes),
        "64 synced writes took {flushes} flushes"
    );
    for i in 0..64u64 {
        assert_eq!(
            store.read(i, 1, 0, 100).unwrap(),
            Bytes::from(format!("object {i}"))
        );
    }
}

/// A CS directory `cs` with a journal, beside it in `dir`.
fn journaled(dir: &Path) -> (PathBuf, CsIdentity) {
    let jpath = dir.join("journal");
    Journal::create(&jpath, crate::journal::MIN_SIZE).unwrap();
    let mut id = identity(0);
    id.journal = Some(crate::identity::JournalConfig {
        path: jpath,
        size: crate::journal::MIN_SIZE,
    });
    let csdir = dir.join("cs");
    fs::create_dir(&csdir).unwrap();
    (csdir, id)
}

#[tokio::test]
async fn with_a_journal_synced_writes_flush_the_journal_not_the_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let (csdir, id) = journaled(dir.path());
    let store = open(&csdir, &id);
    for i in 0..5 {
        store
            .write(i, 1, 0, &[Bytes::from_static(b"data")], true)
            .unwrap();
        store.sync(i, 1).await.unwrap();
    }
    assert_eq!(store.flushes(), 0);
    assert_eq!(store.journal_flushes(), 5);
}

#[test]
fn a_replica_that_cannot_be_replayed_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let (csdir, id) = journaled(dir.path());
    let store = open(&csdir, &id);
    store
        .write(1, 1, 0, &[Bytes::from_static(b"precious")], true)
        .unwrap();
    store
        .write(2, 1, 0, &[Bytes::from_static(b"fine")], true)
        .unwrap();
    drop(store);
    let path = replica_path(&csdir.join(CHUNKS_DIR), 1, 1);
    let mut raw = fs::read(&path).unwrap();
    raw[100] ^= 0xff; // the header's CRC table
    fs::write(&path, raw).unwrap();
    let store = open(&csdir, &id);
    assert!(matches!(
        store.read(1, 1, 0, 10),
        Err(ReplicaError::NotFound { .. })
    ));
    assert!(csdir
        .join(CHUNKS_DIR)
        .join("01")
        .join("0000000000000001.1.damaged")
        .exists());
    assert_eq!(store.read(2, 1, 0, 10).unwrap().as_ref(), b"fine");
    assert_eq!(store.list().len(), 1);
}

#[test]
fn journal_replay_restores_unsynced_replica_content() {
    let dir = tempfile::tempdir().unwrap();
    let (csdir, id) = journaled(dir.path());
    let store = open(&csdir, &id);
    store
        .write(1, 1, 0, &[Bytes::from_static(b"journaled data")], true)
        .unwrap();
    store
        .write(2, 1, 0, &[Bytes::from_static(b"gone")], true)
        .unwrap();
    store.delete(2, 1).unwrap();
    store
        .write(3, 1, 0, &[Bytes::from_static(b"renamed")], true)
        .unwrap();
    store.set_version(3, 1, 2).unwrap();
    drop(store);
    // Simulate a crash that lost replica 1's file (created after the
    // last checkpoint, never synced): the journal brings it back whole.
    fs::remove_file(replica_path(&csdir.join(CHUNKS_DIR), 1, 1)).unwrap();
    let store = open(&csdir, &id);
    assert_eq!(
        store.read(1, 1, 0, 100).unwrap().as_ref(),
        b"journaled data"
    );
    assert!(
        matches!(
            store.read(2, 1, 0, 100),
            Err(ReplicaError::NotFound { chunk_id: 2, .. })
        ),
        "a deleted replica stays deleted"
    );
    assert_eq!(store.read(3, 2, 0, 100).unwrap().as_ref(), b"renamed");
    assert!(!replica_path(&csdir.join(CHUNKS_DIR), 3, 1).exists());
}
