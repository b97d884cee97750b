//! Tests of a chunk write: the chain, the fan-out of small pieces, the
//! minimum of replicas and the errors that name what was lost.

use std::time::{Duration, Instant};

use tonic::Code;

use super::*;
use crate::testing::{client, fake_cs, fake_mds, place, Act};

fn piece(byte: u8, len: usize) -> Vec<Bytes> {
    vec![Bytes::from(vec![byte; len])]
}

fn ids(replicas: &[CsAddr]) -> Vec<u32> {
    replicas.iter().map(|c| c.cs_id).collect()
}

#[test]
fn the_minimum_is_every_replica_unless_the_mds_says() {
    let mut loc = ChunkLocation {
        chunk_id: 1,
        version: 1,
        length: 0,
        replicas: (1..=3)
            .map(|i| CsAddr {
                cs_id: i,
                addr: String::new(),
                host: String::new(),
            })
            .collect(),
        shared: false,
        min_replicas: 0,
    };
    assert_eq!(effective_min(&loc), 3);
    loc.min_replicas = 2;
    assert_eq!(effective_min(&loc), 2);
    loc.replicas.clear();
    loc.min_replicas = 0;
    assert_eq!(effective_min(&loc), 1);
}

/// Replicas fail one by one: the write goes on at 2 of 3 (the
/// minimum), the MDS hears of the drop and the survivors move to the
/// new version; then it fails at 1 of 3, Unavailable.
#[tokio::test]
async fn writes_on_at_the_minimum_and_fails_below_it() {
    let mds = fake_mds().await;
    let (c1, c2, c3) = (fake_cs(1).await, fake_cs(2).await, fake_cs(3).await);
    let client = client(&[&mds], Duration::from_secs(5));
    let inner = client.inner.clone();

    let loc = place(&mds, 7, &[&c1, &c2, &c3], 2);
    let mut w = ChunkWrite::new(inner.clone(), loc, true);
    w.write_at(0, piece(1, 1000), false).await.unwrap();
    w.settle_oldest().await.unwrap();
    c3.set(|s| s.write = Act::Fail(Code::Internal));
    w.write_at(1000, piece(2, 1000), false).await.unwrap();
    w.settle_oldest().await.unwrap();
    assert_eq!(ids(&w.live), [1, 2]);
    w.write_at(2000, piece(3, 1000), true).await.unwrap();
    let done = w.finish(true).await.unwrap();
    assert_eq!(ids(&done.replicas), [1, 2]);
    assert_eq!(done.version, 2);
    assert_eq!(done.min_replicas, 2);
    assert_eq!(mds.state.lock().unwrap().drops, [(7, 3)]);
    let mut want = vec![1u8; 1000];
    want.extend([2u8; 1000]);
    want.extend([3u8; 1000]);
    for cs in [&c1, &c2] {
        assert_eq!(cs.chunk(7), Some((2, want.clone())), "CS {}", cs.hop.cs_id);
    }

    // A second chunk: one replica fails, then another.
    c3.set(|s| s.write = Act::Ok);
    let loc = place(&mds, 8, &[&c1, &c2, &c3], 2);
    let mut w = ChunkWrite::new(inner.clone(), loc, true);
    c3.set(|s| s.write = Act::Fail(Code::Internal));
    w.write_at(0, piece(1, 1000), false).await.unwrap();
    w.settle_oldest().await.unwrap();
    assert_eq!(ids(&w.live), [1, 2]);
    c2.set(|s| s.write = Act::Fail(Code::Internal));
    w.write_at(1000, piece(2, 1000), false).await.unwrap();
    let err = w.settle_oldest().await.unwrap_err();
    let ClusterError::Unavailable(msg) = &err else {
        panic!("{err:?}");
    };
    assert!(msg.contains("1 of its 3 replicas"), "{msg}");
    assert!(msg.contains("2 needed"), "{msg}");
    // Nothing more is taken once below the minimum.
    assert!(matches!(
        w.write_at(2000, piece(3, 10), true).await,
        Err(ClusterError::Unavailable(_))
    ));
}

/// An MDS that gives no minimum (0) means every replica.
#[tokio::test]
async fn without_a_minimum_every_replica_must_take_the_write() {
    let mds = fake_mds().await;
    let (c1, c2) = (fake_cs(1).await, fake_cs(2).await);
    let client = client(&[&mds], Duration::from_secs(5));
    let loc = place(&mds, 9, &[&c1, &c2], 0);
    c2.set(|s| s.write = Act::Fail(Code::Internal));
    let mut w = ChunkWrite::new(client.inner.clone(), loc, true);
    w.write_at(0, piece(1, 100), true).await.unwrap();
    assert!(matches!(
        w.finish(true).await,
        Err(ClusterError::Unavailable(_))
    ));
}

/// Below the minimum because every replica lost was full: NoSpace.
/// With any other failure among them: Unavailable.
#[tokio::test]
async fn full_replicas_alone_make_no_space() {
    let mds = fake_mds().await;
    let (c1, c2, c3) = (fake_cs(1).await, fake_cs(2).await, fake_cs(3).await);
    let client = client(&[&mds], Duration::from_secs(5));
    c2.set(|s| s.write = Act::Fail(Code::ResourceExhausted));
    c3.set(|s| s.write = Act::Fail(Code::ResourceExhausted));
    let loc = place(&mds, 10, &[&c1, &c2, &c3], 2);
    let mut w = ChunkWrite::new(client.inner.clone(), loc, true);
    w.write_at(0, piece(1, 100), true).await.unwrap();
    let err = w.finish(true).await.unwrap_err();
    assert!(matches!(err, ClusterError::NoSpace(_)), "{err:?}");

    c3.set(|s| s.write = Act::Fail(Code::Internal));
    let loc = place(&mds, 11, &[&c1, &c2, &c3], 2);
    let mut w = ChunkWrite::new(client.inner.clone(), loc, true);
    w.write_at(0, piece(1, 100), true).await.unwrap();
    let err = w.finish(true).await.unwrap_err();
    assert!(matches!(err, ClusterError::Unavailable(_)), "{err:?}");
}

/// The chain head reports its next hop unreachable and says nothing of
/// the hop after it: that one is sent the piece directly and kept; only
/// the unreachable one is dropped, and becomes a suspect.
#[tokio::test]
async fn a_hop_behind_a_failed_one_gets_the_piece_directly() {
    let mds = fake_mds().await;
    let (c1, c2, c3) = (fake_cs(1).await, fake_cs(2).await, fake_cs(3).await);
    let client = client(&[&mds], Duration::from_secs(5));
    let inner = client.inner.clone();
    let gone = ClusterError::Unavailable("chunk server 2: no answer in time".into());
    c1.set(|s| s.write = Act::Report(vec![(2, gone.clone())]));
    let loc = place(&mds, 12, &[&c1, &c2, &c3], 2);
    let mut w = ChunkWrite::new(inner.clone(), loc, true);
    // Larger than FAN_OUT_BYTES: it goes down the chain.
    let data = piece(5, FAN_OUT_BYTES + 1);
    w.write_at(0, data.clone(), true).await.unwrap();
    let done = w.finish(true).await.unwrap();
    assert_eq!(ids(&done.replicas), [1, 3]);
    assert_eq!(mds.state.lock().unwrap().drops, [(12, 2)]);
    assert_eq!(c3.chunk(12), Some((2, data[0].to_vec())));
    let now = Instant::now();
    assert!(inner.suspects.is_suspect(2, now));
    assert!(!inner.suspects.is_suspect(3, now));
}

/// A replica that never answers costs one `cs_timeout` and becomes a
/// suspect; a later write leaves it out from the start while the
/// others reach the minimum, and keeps it when they do not.
#[tokio::test]
async fn a_silent_replica_times_out_and_later_writes_leave_it_out() {
    let mds = fake_mds().await;
    let (c1, c2, c3) = (fake_cs(1).await, fake_cs(2).await, fake_cs(3).await);
    let timeout = Duration::from_millis(500);
    let client = client(&[&mds], timeout);
    let inner = client.inner.clone();
    c2.set(|s| s.write = Act::Hang);
    let loc = place(&mds, 13, &[&c1, &c2, &c3], 2);
    let started = Instant::now();
    let mut w = ChunkWrite::new(inner.clone(), loc, true);
    w.write_at(0, piece(1, 100), true).await.unwrap();
    let done = w.finish(true).await.unwrap();
    let took = started.elapsed();
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout * 4, "{took:?}");
    assert_eq!(ids(&done.replicas), [1, 3]);
    assert!(inner.suspects.is_suspect(2, Instant::now()));
    assert_eq!(inner.suspects.list(Instant::now()), [2]);

    // The next write does not wait on it.
    let loc = place(&mds, 14, &[&c1, &c2, &c3], 2);
    let started = Instant::now();
    let mut w = ChunkWrite::new(inner.clone(), loc, true);
    assert_eq!(ids(&w.live), [1, 3]);
    w.write_at(0, piece(1, 100), true).await.unwrap();
    let done = w.finish(true).await.unwrap();
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    assert_eq!(ids(&done.replicas), [1, 3]);
    assert_eq!(mds.state.lock().unwrap().drops, [(13, 2), (14, 2)]);

    // Every replica needed: the suspect is tried all the same.
    let loc = place(&mds, 15, &[&c1, &c2, &c3], 3);
    let w = ChunkWrite::new(inner.clone(), loc, true);
    assert_eq!(ids(&w.live), [1, 2, 3]);

    // It answers again: the first success clears it.
    c2.set(|s| s.write = Act::Ok);
    let loc = place(&mds, 16, &[&c2], 1);
    let mut w = ChunkWrite::new(inner.clone(), loc, true);
    w.write_at(0, piece(1, 100), true).await.unwrap();
    w.finish(true).await.unwrap();
    assert!(!inner.suspects.is_suspect(2, Instant::now()));
}
