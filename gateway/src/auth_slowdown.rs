//! Failed authentications counted per client address, so that an address
//! guessing secrets is slowed down and nobody else is. Each address has a
//! bucket of `burst` free failures that refills at `per_second`; past it,
//! every request from that address waits for the bucket's debt to be paid,
//! up to `max_delay`. The table is bounded: when full, addresses whose
//! bucket has refilled are forgotten first, then the oldest.

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
        }
    }

    /// How long a request from `ip` waits before it is read: zero unless
    /// the address failed more than its burst lately.
    pub fn delay(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bucket) = buckets.get(&ClientKey::of(ip)) else {
            return Duration::ZERO;
        };
        let bucket = self.refilled(*bucket, now);
        if bucket.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-bucket.tokens / self.per_second).min(self.max_delay)
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
    async fn a_burst_slows_that_address_only_and_the_delay_is_capped() {
        let slow = AuthSlowdown::new(5, 1.0, Duration::from_secs(3));
        let guesser = ip("127.0.0.2");
        for _ in 0..5 {
            slow.failed(guesser);
        }
        assert_eq!(slow.delay(guesser), Duration::ZERO, "the burst is free");
        slow.failed(guesser);
        assert!(slow.delay(guesser) >= Duration::from_millis(900));
        for _ in 0..100 {
            slow.failed(guesser);
        }
        assert_eq!(slow.delay(guesser), Duration::from_secs(3), "capped");
        assert_eq!(slow.delay(ip("127.0.0.3")), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(slow.delay(guesser), Duration::ZERO, "the debt is paid");
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
