//! The feed and the write leases, driven call by call; time is passed in
//! where the lease runs out, so no test waits for it.

use super::*;

fn watch(session: &str, epoch: u64, since: u64) -> pb::WatchRequest {
    pb::WatchRequest {
        session: session.into(),
        epoch,
        since,
        held: Vec::new(),
        released: Vec::new(),
        now: false,
    }
}

fn lease(session: &str, ino: u64) -> pb::WriteLeaseRequest {
    pb::WriteLeaseRequest {
        session: session.into(),
        ino,
        release: false,
    }
}

/// A watch from where the feed is now: (epoch, cursor).
async fn cursor(w: &FileWatch, session: &str) -> (u64, u64) {
    let first = w.watch(watch(session, 0, 0)).await.unwrap();
    assert!(first.lost, "a first call has no cursor yet");
    (first.epoch, first.next)
}

fn past_grace(w: &FileWatch) {
    w.lock().grace_until = Instant::now();
}

#[tokio::test]
async fn a_watch_is_answered_the_files_other_sessions_changed() {
    let w = FileWatch::new(Instant::now());
    let (epoch, since) = cursor(&w, "a").await;
    w.changed(7, "a");
    w.changed(8, "b");
    w.changed(8, "b");
    w.changed(9, "");
    let r = w.watch(watch("a", epoch, since)).await.unwrap();
    assert!(!r.lost);
    assert_eq!(
        r.changed,
        vec![8, 9],
        "its own change is left out, repeats once"
    );
    assert_eq!(r.next, since + 4);
    // Nothing new: the long poll ends empty, the cursor where it was.
    let started = tokio::time::Instant::now();
    let idle = w.watch(watch("a", epoch, r.next)).await.unwrap();
    assert!(idle.changed.is_empty() && !idle.lost);
    assert_eq!(idle.next, r.next);
    assert!(started.elapsed() >= WATCH_POLL - Duration::from_millis(100));
}

#[tokio::test]
async fn a_waiting_watch_wakes_at_a_change() {
    let w = std::sync::Arc::new(FileWatch::new(Instant::now()));
    let (epoch, since) = cursor(&w, "a").await;
    let waiting = tokio::spawn({
        let w = w.clone();
        async move { w.watch(watch("a", epoch, since)).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    w.changed(5, "b");
    let r = waiting.await.unwrap();
    assert_eq!(r.changed, vec![5]);
    assert!(started.elapsed() < WATCH_POLL / 2);
}

#[tokio::test]
async fn a_cursor_of_another_epoch_or_too_old_is_lost() {
    let w = FileWatch::new(Instant::now());
    let (epoch, since) = cursor(&w, "a").await;
    for i in 0..(MAX_LOG as u64 + 10) {
        w.changed(i + 1, "b");
    }
    let r = w.watch(watch("a", epoch, since)).await.unwrap();
    assert!(r.lost, "the log no longer reaches the cursor");
    w.new_term(Instant::now(), Term::Later);
    let r2 = w.watch(watch("a", r.epoch, r.next)).await.unwrap();
    assert!(
        r2.lost && r2.epoch != r.epoch,
        "a new leader's feed is another one"
    );
}

#[tokio::test]
async fn a_second_writer_waits_while_the_first_is_asked_to_give_the_lease_back() {
    let w = std::sync::Arc::new(FileWatch::new(Instant::now()));
    past_grace(&w);
    let (epoch, since) = cursor(&w, "a").await;
    let _ = cursor(&w, "b").await;
    assert!(w.write_lease(lease("a", 3)).await.unwrap().granted);
    assert!(
        w.write_lease(lease("a", 3)).await.unwrap().granted,
        "a holder asks again freely"
    );
    let b = tokio::spawn({
        let w = w.clone();
        async move { w.write_lease(lease("b", 3)).await.unwrap() }
    });
    let r = w.watch(watch("a", epoch, since)).await.unwrap();
    assert_eq!(
        r.revoke,
        vec![3],
        "the holder is told another mount wants it"
    );
    w.write_lease(pb::WriteLeaseRequest {
        release: true,
        ..lease("a", 3)
    })
    .await
    .unwrap();
    assert!(
        b.await.unwrap().granted,
        "the waiter has it once it is given back"
    );
    // Now the first one waits in turn, and is answered "ask again".
    let again = w.write_lease(lease("a", 3)).await.unwrap();
    assert!(!again.granted);
}

#[tokio::test]
async fn a_file_is_leased_to_the_mount_that_made_it() {
    let w = FileWatch::new(Instant::now());
    past_grace(&w);
    let _ = cursor(&w, "a").await;
    w.created(4, "a");
    w.created(5, "unknown");
    assert_eq!(w.counts().0, 1, "a session never heard of gets none");
    let held_by_a = w.lock().leases.get(&4).map(|l| l.session.clone());
    assert_eq!(held_by_a.as_deref(), Some("a"));
}

#[test]
fn a_silent_session_loses_its_leases() {
    let start = Instant::now();
    let mut inner = Inner::fresh(start, Term::Later);
    inner.grace_until = start;
    let step = inner.lease_step(&lease("a", 9), start).unwrap();
    assert!(matches!(
        step,
        Step::Done(pb::WriteLeaseReply { granted: true, .. })
    ));
    let step = inner.lease_step(&lease("b", 9), start).unwrap();
    assert!(matches!(step, Step::Wait));
    // b keeps calling, a is silent.
    let later = start + LEASE - Duration::from_millis(1);
    inner.touch("b", later).unwrap();
    assert!(!inner.expire(later), "not yet");
    let after = start + LEASE;
    assert!(inner.expire(after), "a's lease runs out with its session");
    let step = inner.lease_step(&lease("b", 9), after).unwrap();
    assert!(matches!(
        step,
        Step::Done(pb::WriteLeaseReply { granted: true, .. })
    ));
}

#[tokio::test]
async fn after_a_change_of_leader_the_holders_claim_their_leases_back() {
    let w = FileWatch::new(Instant::now());
    // The holder claims its own back with its watch.
    let claim = pb::WatchRequest {
        held: vec![6, 7],
        ..watch("a", 12345, 1)
    };
    let r = w.watch(claim).await.unwrap();
    assert!(r.lost, "another epoch's cursor");
    assert!(r.taken.is_empty(), "both claims were free");
    assert_eq!(
        w.lock()
            .leases
            .get(&6)
            .map(|l| l.session.clone())
            .as_deref(),
        Some("a")
    );
    // A claim of a lease another session holds by now is refused.
    let late = pb::WatchRequest {
        held: vec![6],
        ..watch("c", 999, 1)
    };
    assert_eq!(w.watch(late).await.unwrap().taken, vec![6]);
}

#[tokio::test]
async fn bad_calls_are_refused() {
    let w = FileWatch::new(Instant::now());
    assert!(matches!(
        w.watch(watch("", 0, 0)).await,
        Err(ClusterError::Invalid(_))
    ));
    assert!(matches!(
        w.write_lease(lease("a", 0)).await,
        Err(ClusterError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_watch_now_is_answered_at_once_with_or_without_changes() {
    let w = FileWatch::new(Instant::now());
    let (epoch, since) = cursor(&w, "a").await;
    let now = |since| pb::WatchRequest {
        now: true,
        ..watch("a", epoch, since)
    };
    // Nothing changed: answered at once (a long poll would take 2 s).
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(WATCH_POLL / 2, w.watch(now(since)))
        .await
        .expect("answered before the poll's end")
        .unwrap();
    assert!(started.elapsed() < WATCH_POLL / 2);
    assert!(r.changed.is_empty() && !r.lost && !r.more);
    assert_eq!(r.next, since);
    // More changes than one answer holds: `more`, then the rest.
    for ino in 0..MAX_CHANGED as u64 + 3 {
        w.changed(ino + 1, "b");
    }
    let first = w.watch(now(since)).await.unwrap();
    assert_eq!(first.changed.len(), MAX_CHANGED);
    assert!(first.more, "the answer was cut");
    let rest = w.watch(now(first.next)).await.unwrap();
    assert_eq!(rest.changed.len(), 3);
    assert!(!rest.more);
}

#[tokio::test]
async fn the_first_term_grants_leases_and_keeps_hashes_at_once() {
    let w = FileWatch::new(Instant::now());
    w.new_term(Instant::now(), Term::First);
    assert!(w.quiet(9, Instant::now()), "no earlier holder to wait for");
    let _ = cursor(&w, "a").await;
    assert!(w.write_lease(lease("a", 3)).await.unwrap().granted);

    w.new_term(Instant::now(), Term::Later);
    assert!(
        !w.quiet(9, Instant::now()),
        "holders of the last term may claim"
    );
}
