//! Every call to the cluster is bounded in time: a dead or hung MDS or
//! chunk server gives the caller EIO after the timeout, never a hung mount.

use std::{future::Future, time::Duration};

use cairn_common::ClusterError;

use crate::error::{Error, Result};

/// Runs `fut`, failing with [`Error::TimedOut`] after `timeout`.
pub async fn timed<T>(
    timeout: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, ClusterError>>,
) -> Result<T> {
    let flight = crate::metrics::part().map(|p| p.start(what));
    let outcome = tokio::time::timeout(timeout, fut).await;
    if let Some(flight) = flight {
        flight.done(matches!(outcome, Ok(Ok(_))));
    }
    match outcome {
        Ok(result) => result.map_err(Error::from),
        Err(_) => {
            tracing::warn!(what, secs = timeout.as_secs(), "cluster call timed out");
            Err(Error::TimedOut {
                what: what.to_string(),
                secs: timeout.as_secs(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_becomes_eio() {
        let never = std::future::pending::<Result<(), ClusterError>>();
        let err = timed(Duration::from_secs(5), "lookup", never)
            .await
            .unwrap_err();
        assert_eq!(err.errno(), libc::EIO);
        assert!(matches!(err, Error::TimedOut { .. }));
        let ok = timed(Duration::from_secs(5), "x", async {
            Ok::<_, ClusterError>(7)
        })
        .await;
        assert_eq!(ok, Ok(7));
    }
}
