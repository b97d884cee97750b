use std::sync::Arc;

use super::*;

fn lock(ino: u64, owner: u64, start: u64, end: u64, kind: pb::LockType) -> pb::FileLock {
    pb::FileLock {
        ino,
        owner,
        start,
        end,
        r#type: kind as i32,
        pid: 40 + owner as u32,
    }
}

fn call(op: pb::LockOp, session: &str, lock: pb::FileLock) -> pb::LockRequest {
    pb::LockRequest {
        op: op as i32,
        session: session.into(),
        lock: Some(lock),
        held: Vec::new(),
    }
}

/// A service out of its grace (as a leader is a few seconds after it won).
fn settled() -> LockService {
    LockService::new(Instant::now() - GRACE)
}

use pb::LockOp::{LockCancel, LockEndSession, LockReclaim, LockSet, LockTest, LockWait};
use pb::LockType::{LockRead, LockUnlock, LockWrite};

#[tokio::test]
async fn a_lock_of_one_mount_is_seen_and_refused_to_another() {
    let s = settled();
    let got = s
        .call(call(LockSet, "m1", lock(5, 1, 0, 99, LockWrite)))
        .await;
    assert!(got.map(|r| r.granted).unwrap_or(false));
    let refused = s
        .call(call(LockSet, "m2", lock(5, 1, 50, 50, LockRead)))
        .await;
    assert!(
        matches!(refused, Err(ClusterError::WouldBlock(_))),
        "{refused:?}"
    );
    let seen = s
        .call(call(LockTest, "m2", lock(5, 1, 0, 9, LockRead)))
        .await
        .ok()
        .and_then(|r| r.conflict);
    let seen = seen.map(|c| (c.start, c.end, c.r#type, c.pid));
    assert_eq!(seen, Some((0, 99, LockWrite as i32, 41)));
    // Outside the range, and once dropped, nothing is in the way.
    let free = s
        .call(call(LockTest, "m2", lock(5, 1, 100, 200, LockWrite)))
        .await;
    assert_eq!(free.ok().map(|r| r.conflict), Some(None));
    s.call(call(LockSet, "m1", lock(5, 1, 0, u64::MAX, LockUnlock)))
        .await
        .ok();
    let got = s
        .call(call(LockSet, "m2", lock(5, 1, 50, 50, LockWrite)))
        .await;
    assert!(got.is_ok(), "{got:?}");
}

#[tokio::test]
async fn a_waiter_is_woken_by_the_release() {
    let s = Arc::new(settled());
    s.call(call(LockSet, "m1", lock(5, 1, 0, 0, LockWrite)))
        .await
        .ok();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move {
            s.call(call(LockWait, "m2", lock(5, 1, 0, 0, LockWrite)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "the waiter got a held lock");
    let started = Instant::now();
    s.call(call(LockSet, "m1", lock(5, 1, 0, 0, LockUnlock)))
        .await
        .ok();
    let woke = waiter.await.ok().and_then(Result::ok).map(|r| r.granted);
    assert_eq!(woke, Some(true));
    assert!(
        started.elapsed() < WAIT_POLL,
        "woken by the release, not the poll"
    );
    assert_eq!(s.counts().0, 1);
}

#[tokio::test(start_paused = true)]
async fn a_wait_answers_ask_again_after_the_poll() {
    let s = settled();
    s.call(call(LockSet, "m1", lock(5, 1, 0, 0, LockRead)))
        .await
        .ok();
    let again = s
        .call(call(LockWait, "m2", lock(5, 1, 0, 0, LockWrite)))
        .await;
    assert_eq!(again.ok().map(|r| r.granted), Some(false));
    // m2 still counts as waiting for m1 between its polls, so m1 waiting
    // for m2 would close a cycle; once m2 cancels, it would not.
    assert!(s.lock().waits.would_deadlock(&who("m1"), &[who("m2")]));
    s.call(call(LockCancel, "m2", lock(5, 1, 0, 0, LockWrite)))
        .await
        .ok();
    assert!(!s.lock().waits.would_deadlock(&who("m1"), &[who("m2")]));
}

fn who(session: &str) -> LockOwner {
    LockOwner {
        session: session.into(),
        owner: 1,
    }
}

#[tokio::test(start_paused = true)]
async fn two_mounts_waiting_for_each_other_get_edeadlk() {
    let s = Arc::new(settled());
    s.call(call(LockSet, "m1", lock(5, 1, 0, 0, LockWrite)))
        .await
        .ok();
    s.call(call(LockSet, "m2", lock(5, 1, 10, 10, LockWrite)))
        .await
        .ok();
    // m1 waits for m2's byte ...
    let first = {
        let s = s.clone();
        tokio::spawn(async move {
            s.call(call(LockWait, "m1", lock(5, 1, 10, 10, LockWrite)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // ... so m2 waiting for m1's closes the cycle.
    let second = s
        .call(call(LockWait, "m2", lock(5, 1, 0, 0, LockWrite)))
        .await;
    assert!(
        matches!(second, Err(ClusterError::Deadlock(_))),
        "{second:?}"
    );
    let first = first.await.ok().and_then(Result::ok).map(|r| r.granted);
    assert_eq!(first, Some(false), "m1 still waits: nothing was released");
}

#[tokio::test]
async fn a_silent_session_loses_its_locks_after_the_lease() {
    let s = settled();
    s.call(call(LockSet, "dead", lock(5, 1, 0, 9, LockWrite)))
        .await
        .ok();
    // The dead mount's last call was a lease ago.
    if let Some(seen) = s.lock().sessions.get_mut("dead") {
        *seen -= LOCK_LEASE;
    }
    let got = s
        .call(call(LockSet, "alive", lock(5, 1, 0, 9, LockWrite)))
        .await;
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(s.counts(), (1, 1));
}

#[tokio::test]
async fn ending_a_session_drops_its_locks() {
    let s = settled();
    s.call(call(LockSet, "m1", lock(5, 1, 0, 9, LockWrite)))
        .await
        .ok();
    s.call(call(LockSet, "m1", lock(6, 2, 0, 9, LockRead)))
        .await
        .ok();
    s.call(call(LockEndSession, "m1", pb::FileLock::default()))
        .await
        .ok();
    assert_eq!(s.counts(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_new_term_grants_only_claims_during_its_grace() {
    let s = settled();
    s.call(call(LockSet, "m1", lock(5, 1, 0, 9, LockWrite)))
        .await
        .ok();
    let old_epoch = s.lock().epoch;
    s.new_term(Instant::now(), Term::Later);
    assert_eq!(s.counts(), (0, 0));
    // Another mount asks first: in the grace it is told to ask again.
    let early = s
        .call(call(LockSet, "m2", lock(5, 1, 0, 9, LockWrite)))
        .await;
    assert_eq!(early.ok().map(|r| r.granted), Some(false));
    // m1 claims its lock back under the new epoch ...
    let mut claim = call(LockReclaim, "m1", pb::FileLock::default());
    claim.held = vec![lock(5, 1, 0, 9, LockWrite)];
    let claimed = s.call(claim).await.ok();
    assert!(claimed
        .as_ref()
        .is_some_and(|r| r.granted && r.epoch != old_epoch));
    // ... and after the grace m2 finds it held.
    s.lock().grace_until = Instant::now();
    let late = s
        .call(call(LockSet, "m2", lock(5, 1, 0, 9, LockWrite)))
        .await;
    assert!(matches!(late, Err(ClusterError::WouldBlock(_))), "{late:?}");
}

#[tokio::test]
async fn the_first_term_grants_at_once() {
    let s = settled();
    s.new_term(Instant::now(), Term::First);
    let first = s
        .call(call(LockSet, "m2", lock(5, 1, 0, 9, LockWrite)))
        .await;
    assert_eq!(first.ok().map(|r| r.granted), Some(true));
}

#[tokio::test]
async fn bad_calls_are_refused_with_einval() {
    let s = settled();
    let backwards = s
        .call(call(LockSet, "m1", lock(5, 1, 9, 0, LockWrite)))
        .await;
    assert!(matches!(backwards, Err(ClusterError::Invalid(_))));
    let no_session = s.call(call(LockSet, "", lock(5, 1, 0, 0, LockWrite))).await;
    assert!(matches!(no_session, Err(ClusterError::Invalid(_))));
    let mut bad_type = lock(5, 1, 0, 0, LockWrite);
    bad_type.r#type = 9;
    let bad_type = s.call(call(LockSet, "m1", bad_type)).await;
    assert!(matches!(bad_type, Err(ClusterError::Invalid(_))));
    let no_inode = s
        .call(call(LockSet, "m1", lock(0, 1, 0, 0, LockWrite)))
        .await;
    assert!(matches!(no_inode, Err(ClusterError::Invalid(_))));
    assert_eq!(s.counts().0, 0);
}
