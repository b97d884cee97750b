//! Bounded waits: poll a condition until it holds or a deadline passes,
//! and on failure say what was waited for and for how long.

use std::time::{Duration, Instant};

/// How often [`eventually`] asks.
const POLL: Duration = Duration::from_millis(100);
/// How often [`eventually_async`] asks (cheap checks of shared state).
const POLL_ASYNC: Duration = Duration::from_millis(50);

/// Calls `check` until it gives `Some`, at most for `limit`; panics with
/// `what` after that. Blocks the thread: in an async test, call it inside
/// `tokio::task::block_in_place`.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// As [`eventually`] for a condition, sleeping on the tokio timer between
/// checks so that the tasks it waits for go on.
pub async fn eventually_async(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_ASYNC).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_value_once_it_comes() {
        let mut n = 0;
        let got = eventually(Duration::from_secs(5), "three calls", || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(got, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 200ms waiting for nothing")]
    fn says_what_it_waited_for() {
        eventually(Duration::from_millis(200), "nothing", || None::<()>);
    }
}
