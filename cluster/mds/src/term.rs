//! Which term a new leader begins: whether clients can hold anything an
//! earlier leader granted (write leases, locks), which they claim back
//! during a grace before anyone else is granted them.

use std::time::Duration;

/// The kind of term a leader begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// The cluster's first term: no leader came before, so nothing was
    /// granted and there is nothing to claim back. A brand-new cluster's
    /// first write does not wait out a grace.
    First,
    /// An earlier leader may have granted leases and locks that live
    /// clients hold and claim back.
    Later,
}

impl Term {
    /// The kind of term numbered `number` (openraft's first elected term
    /// is 1; a restarted MDS elects itself in a higher one, since its vote
    /// is persisted).
    pub fn numbered(number: u64) -> Term {
        if number <= 1 {
            Term::First
        } else {
            Term::Later
        }
    }

    /// The grace of this term, `full` when there may be claims.
    pub fn grace(self, full: Duration) -> Duration {
        match self {
            Term::First => Duration::ZERO,
            Term::Later => full,
        }
    }
}
