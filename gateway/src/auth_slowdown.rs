//! Failed authentications counted per client address, so that an address
//! guessing secrets is slowed down and nobody else is. Each address has a
//! bucket of `burst` free failures that refills at `per_second`; past it,
//! the requests of that address are let in one at a time, `1/per_second`
//! apart, once the bucket's debt is paid; one that would wait more than
//! `max_delay` is refused at once (S3's `SlowDown`), so that many parallel
//! connections guess no faster than one. The table is bounded: when full,
//! addresses whose bucket has refilled are forgotten first, then the
//! oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::conn_table::ClientKey;

/// Addresses remembered at most: a table of this many small entries is a
/// few MiB whatever an attacker sends.
pub const MAX_TRACKED_ADDRESSES: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Failures still free; negative is a debt that delays the address.
    tokens: f64,
    updated: Instant,
    /// The earliest time the next request of a slowed address is let in.
    next_turn: Instant,
}

/// What becomes of a request from an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Read it now.
    Now,
    /// Read it after this wait.
    After(Duration),
    /// The address has requests waiting for as long as it may: refuse it.
    Refuse,
}

/// The failed-authentication buckets of every address that failed lately.
#[derive(Debug)]
pub struct AuthSlowdown {
    burst: f64,
    per_second: f64,
    max_delay: Duration,
    capacity: usize,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

impl AuthSlowdown {
    pub fn new(burst: u32, per_second: f64, max_delay: Duration) -> AuthSlowdown {
        AuthSlowdown::with_capacity(burst, per_second, max_delay, MAX_TRACKED_ADDRESSES)
    }

    pub fn with_capacity(
        burst: u32,
        per_second: f64,
        max_delay: Duration,
        capacity: usize,
    ) -> AuthSlowdown {
        AuthSlowdown {
            burst: f64::from(burst),
            // A zero refill would make a debt last forever.
            per_second: per_second.max(0.001),
            max_delay,
            capacity: capacity.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * self.per_second).min(self.burst),
            updated: now,
            next_turn: bucket.next_turn,
        }
    }

    /// Whether a request from `ip` is read now, after a wait, or refused:
    /// now unless the address failed more than its burst lately.
    pub fn admit(&self, ip: IpAddr) -> Admission {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bucket) = buckets.get_mut(&ClientKey::of(ip)) else {
            return Admission::Now;
        };
        let refilled = self.refilled(*bucket, now);
        if refilled.tokens >= 0.0 {
            return Admission::Now;
        }
        let paid = now + Duration::from_secs_f64(-refilled.tokens / self.per_second);
        let turn = paid.max(bucket.next_turn);
        let wait = turn - now;
        if wait > self.max_delay {
            return Admission::Refuse;
        }
        bucket.next_turn = turn + Duration::from_secs_f64(1.0 / self.per_second);
        Admission::After(wait)
    }

    /// Counts a failed authentication from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let key = ClientKey::of(ip);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= self.capacity {
            self.make_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
            next_turn: now,
        });
        let mut refilled = self.refilled(*bucket, now);
        // The debt stops growing at the longest delay: beyond it, more
        // failures would only keep the address slow for longer.
        let floor = -self.max_delay.as_secs_f64() * self.per_second;
        refilled.tokens = (refilled.tokens - 1.0).max(floor);
        *bucket = refilled;
    }

    /// Forgets the addresses whose bucket is full again, or else the one
    /// updated longest ago.
    fn make_room(&self, buckets: &mut HashMap<ClientKey, Bucket>, now: Instant) {
        buckets.retain(|_, b| self.refilled(*b, now).tokens < self.burst);
        if buckets.len() < self.capacity {
            return;
        }
        if let Some(oldest) = buckets
            .iter()
            .min_by_key(|(_, b)| b.updated)
            .map(|(k, _)| *k)
        {
            buckets.remove(&oldest);
        }
    }

    /// Addresses remembered now.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_slows_that_address_only() {
        let slow = AuthSlowdown::new(5, 1.0, Duration::from_secs(3));
        let guesser = ip("127.0.0.2");
        for _ in 0..5 {
            slow.failed(guesser);
        }
        assert_eq!(slow.admit(guesser), Admission::Now, "the burst is free");
        slow.failed(guesser);
        match slow.admit(guesser) {
            Admission::After(wait) => assert!(wait >= Duration::from_millis(900), "{wait:?}"),
            other => panic!("past the burst: {other:?}"),
        }
        assert_eq!(slow.admit(ip("127.0.0.3")), Admission::Now);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(slow.admit(guesser), Admission::Now, "the debt is paid");
    }

    #[tokio::test(start_paused = true)]
    async fn parallel_requests_of_a_slowed_address_take_turns_then_are_refused() {
        let slow = AuthSlowdown::new(1, 1.0, Duration::from_secs(3));
        let guesser = ip("127.0.0.2");
        slow.failed(guesser);
        slow.failed(guesser);
        // A debt of one failure: turns at 1 s, 2 s, 3 s, then refusals.
        let admitted: Vec<Admission> = (0..6).map(|_| slow.admit(guesser)).collect();
        let waits: Vec<Duration> = admitted
            .iter()
            .filter_map(|a| match a {
                Admission::After(w) => Some(*w),
                _ => None,
            })
            .collect();
        assert_eq!(
            waits,
            [1, 2, 3].map(Duration::from_secs).to_vec(),
            "{admitted:?}"
        );
        assert_eq!(
            admitted.iter().filter(|a| **a == Admission::Refuse).count(),
            3,
            "{admitted:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded_and_forgets_forgiven_addresses_first() {
        let slow = AuthSlowdown::with_capacity(1, 1.0, Duration::from_secs(5), 3);
        let guesser = ip("10.0.0.1");
        slow.failed(guesser);
        slow.failed(guesser);
        for i in 2..50 {
            slow.failed(ip(&format!("10.0.0.{i}")));
            assert!(slow.tracked() <= 3);
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        slow.failed(ip("10.0.1.1"));
        assert!(slow.tracked() <= 3);
    }
}
