use std::time::{Duration, Instant};

use cairn_proto as pb;
use tonic::metadata::MetadataValue;

use super::*;
use crate::testing::{client_tls, fake_mds, FakeMds};

fn conn(mds: &[&FakeMds], attempt: Duration) -> MdsConn {
    let addrs: Vec<String> = mds.iter().map(|m| m.addr.clone()).collect();
    MdsConn::new(&addrs, &client_tls(), Duration::from_secs(5), Persist::Disk)
        .unwrap()
        .with_attempt(attempt)
}

fn locate_one() -> pb::LocateChunksRequest {
    pb::LocateChunksRequest {
        chunk_ids: vec![1],
        writer_ino: 0,
    }
}

async fn locate(conn: &MdsConn, retry: Retry) -> Result<pb::LocateChunksReply, ClusterError> {
    conn.metadata(retry, locate_one(), |mut m, r| async move {
        m.locate_chunks(r).await
    })
    .await
}

fn calls(mds: &FakeMds) -> usize {
    mds.state.lock().unwrap().calls
}

/// An MDS that takes calls and never answers (a host gone without a
/// reset looks the same until the PINGs give up): each attempt is
/// bounded, an idempotent call moves on to the next address, one that
/// must not be replayed fails Unavailable.
#[tokio::test]
async fn a_silent_mds_costs_one_attempt() {
    let (silent, good) = (fake_mds().await, fake_mds().await);
    silent.set(|s| s.hang = true);
    let attempt = Duration::from_millis(300);
    let conn = conn(&[&silent, &good], attempt);
    let started = Instant::now();
    let reply = locate(&conn, Retry::Idempotent).await.unwrap();
    assert!(reply.chunks.is_empty());
    let took = started.elapsed();
    assert!(took >= attempt && took < attempt * 3, "{took:?}");
    assert_eq!(calls(&silent), 1);

    // The good one answered last and is asked first now; make the
    // silent one current again for the call that must not be replayed.
    conn.current.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let err = locate(&conn, Retry::Once).await.unwrap_err();
    assert!(matches!(err, ClusterError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("may or may not"), "{err}");
    assert!(started.elapsed() < attempt * 3);
    assert_eq!(calls(&good), 1);
}

/// A follower's refusal names the leader: even a call that must not be
/// replayed goes there (nothing ran), and runs there once.
#[tokio::test]
async fn a_redirect_is_followed_whatever_the_policy() {
    let (follower, leader) = (fake_mds().await, fake_mds().await);
    let mut refusal = Status::unavailable("not the leader");
    refusal.metadata_mut().insert(
        LEADER_HEADER,
        MetadataValue::try_from(leader.addr.as_str()).unwrap(),
    );
    follower.set(|s| s.refuse = Some(refusal));
    let conn = conn(&[&follower, &leader], Duration::from_secs(2));
    locate(&conn, Retry::Once).await.unwrap();
    assert_eq!((calls(&follower), calls(&leader)), (1, 1));
    // The leader is remembered: the next call goes straight there.
    locate(&conn, Retry::Once).await.unwrap();
    assert_eq!((calls(&follower), calls(&leader)), (1, 2));
}

/// An MDS that answers Unavailable without naming a leader (one that lost
/// its majority mid-call) may have applied the change: an idempotent call
/// goes on to the next address, one that must not be replayed stops with
/// the MDS's own error.
#[tokio::test]
async fn an_unavailable_answer_is_replayed_only_when_idempotent() {
    let (lost, good) = (fake_mds().await, fake_mds().await);
    lost.set(|s| {
        s.refuse = Some(Status::from(ClusterError::Unavailable(
            "the leader lost its majority".into(),
        )))
    });
    let conn = conn(&[&lost, &good], Duration::from_secs(2));
    let err = locate(&conn, Retry::Once).await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::Unavailable(m) if m.contains("majority")),
        "{err:?}"
    );
    assert_eq!((calls(&lost), calls(&good)), (1, 0));

    conn.current.store(0, Ordering::Relaxed);
    locate(&conn, Retry::Idempotent).await.unwrap();
    assert_eq!((calls(&lost), calls(&good)), (2, 1));
}

/// An answer that is not a failure to reach the MDS (here: not found)
/// ends the call at once, whatever the policy.
#[tokio::test]
async fn an_error_answer_is_never_retried() {
    let (first, second) = (fake_mds().await, fake_mds().await);
    first.set(|s| s.refuse = Some(Status::from(ClusterError::NotFound("no chunk 1".into()))));
    let conn = conn(&[&first, &second], Duration::from_secs(2));
    let err = locate(&conn, Retry::Idempotent).await.unwrap_err();
    assert!(matches!(err, ClusterError::NotFound(_)), "{err:?}");
    assert_eq!((calls(&first), calls(&second)), (1, 0));
}
