//! When a metadata call may be sent again: the policy each call site
//! states ([`Retry`]) and the one rule that applies it to a failed attempt
//! ([`Retry::allows`]). The loop that follows it is `MdsConn::call`.
//!
//! The question is always the same: could the MDS have applied the call?
//! A follower's refusal and a refused connection say no; a lost answer
//! says "maybe". Replaying a "maybe" is harmless only for a call whose
//! second application changes nothing, so the caller, who knows what the
//! call does, says which kind it is; the error never decides it.

/// What may be done again with a metadata call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to replay: a read; a change that leaves the same state when
    /// applied twice (setting a value); a change the MDS recognises as a
    /// repeat (`PutKey` and `CompleteUpload` carry a request id, the
    /// mount's unlinks name their inode). Sent again after any failure
    /// that may leave it unapplied (no answer, a lost connection, an MDS
    /// that answered Unavailable), to the next address and after a
    /// growing pause, until the client's `mds_timeout`.
    Idempotent,
    /// Must not be replayed once the MDS may have applied it (create,
    /// rename, allocate a chunk, add an MDS): sent again only when it
    /// certainly did not run, that is a follower refused it (naming the
    /// leader) or the connection was refused before it left. Any other
    /// failure ends the call; no answer in time is `Unavailable` saying
    /// that the change may or may not have been made.
    Once,
}

/// Why one attempt of a call got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A follower, or an MDS while no leader is elected, refused the call
    /// without running it.
    NotLeader,
    /// The connection was refused: the request never left this host.
    Refused,
    /// No answer within the attempt's time: it may have run.
    NoAnswer,
    /// The connection broke during the call, or the MDS answered
    /// Unavailable (a leader that lost its majority mid-call): it may
    /// have run.
    Lost,
}

impl Retry {
    /// Whether a call under this policy may be sent again after `failure`
    /// (time permitting: the caller also stops at its deadline).
    pub(crate) fn allows(self, failure: Failure) -> bool {
        match failure {
            Failure::NotLeader | Failure::Refused => true,
            Failure::NoAnswer | Failure::Lost => self == Retry::Idempotent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table: only "certainly not run" failures are retried for
    /// a call that must not be replayed.
    #[test]
    fn only_idempotent_calls_are_replayed_after_a_maybe() {
        use Failure::*;
        let table = [
            (NotLeader, true, true),
            (Refused, true, true),
            (NoAnswer, true, false),
            (Lost, true, false),
        ];
        for (failure, idempotent, once) in table {
            assert_eq!(Retry::Idempotent.allows(failure), idempotent, "{failure:?}");
            assert_eq!(Retry::Once.allows(failure), once, "{failure:?}");
        }
    }
}
