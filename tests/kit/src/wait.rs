//! Bounded waits: poll a condition until it holds or a deadline passes,
//! and on failure say what was waited for and for how long. The one
//! poller of every harness: [`eventually`] (a test's thread),
//! [`eventually_async`] (a cheap check in an async test), [`until`] (an
//! async check, such as an RPC, with an error instead of a panic, for the
//! benchmark harness and launchers that report rather than fail).

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// How often [`eventually`] asks.
const POLL: Duration = Duration::from_millis(100);
/// How often [`eventually_async`] asks (cheap checks of shared state).
const POLL_ASYNC: Duration = Duration::from_millis(50);

/// Calls `check` until it gives `Some`, at most for `limit`; panics with
/// `what` after that. Blocks the thread: in an async test, call it inside
/// `tokio::task::block_in_place`.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    within(limit, what, || check().ok_or_else(String::new)).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`eventually`] with an error instead of a panic: `Err(reason)`
/// means "not yet", and the last reason goes into the [`TimedOut`].
pub fn within<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, TimedOut> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match check() {
            Ok(v) => return Ok(v),
            Err(reason) => reason,
        };
        if Instant::now() >= deadline {
            return Err(TimedOut {
                what: what.to_string(),
                limit,
                last: Some(last).filter(|l| !l.is_empty()),
            });
        }
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

/// A wait that ran out of time: says what was waited for, how long, and
/// the last thing the check said.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {limit:?} waiting for {what}{}", last.as_ref().map(|l| format!(" (last: {l})")).unwrap_or_default())]
pub struct TimedOut {
    pub what: String,
    pub limit: Duration,
    pub last: Option<String>,
}

/// Awaits `check` every `every` until it gives `Ok`, at most for `limit`
/// (the check's own time included). `Err(reason)` means "not yet"; the
/// last reason goes into the [`TimedOut`] error. Never panics.
pub async fn until<T, F, Fut>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match check().await {
            Ok(v) => return Ok(v),
            Err(reason) => reason,
        };
        if Instant::now() + every > deadline {
            return Err(TimedOut {
                what: what.to_string(),
                limit,
                last: Some(last).filter(|l| !l.is_empty()),
            });
        }
        tokio::time::sleep(every).await;
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

    #[tokio::test]
    async fn until_gives_the_value_or_says_why_not() {
        let mut n = 0;
        let got = until(
            Duration::from_secs(5),
            Duration::from_millis(1),
            "n",
            || {
                n += 1;
                let v = n;
                async move {
                    if v == 3 {
                        Ok(v)
                    } else {
                        Err(format!("n is {v}"))
                    }
                }
            },
        )
        .await
        .expect("three calls");
        assert_eq!(got, 3);
        let err = until(
            Duration::from_millis(50),
            Duration::from_millis(10),
            "never",
            || async { Err::<(), _>("still no".to_string()) },
        )
        .await
        .expect_err("times out");
        assert_eq!(
            err.to_string(),
            "timed out after 50ms waiting for never (last: still no)"
        );
    }
}
