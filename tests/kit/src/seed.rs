//! One seed for everything random in a test: `CAIRN_TEST_SEED` (decimal,
//! or hex with `0x`) replays a run; without it a fresh seed is drawn. The
//! seed is printed when taken and again, with how to replay, when the test
//! fails (the guard's drop during a panic).

use std::time::{SystemTime, UNIX_EPOCH};

/// The variable that fixes the seed.
pub const SEED_ENV: &str = "CAIRN_TEST_SEED";

/// The seed `CAIRN_TEST_SEED` gives, if it is set (and parses).
///
/// # Panics
/// When the variable is set but is not a number: a typo must not quietly
/// run another seed.
pub fn given_seed() -> Option<u64> {
    let text = std::env::var(SEED_ENV).ok()?;
    let t = text.trim();
    let parsed = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => t.replace('_', "").parse(),
    };
    match parsed {
        Ok(v) => Some(v),
        Err(e) => panic!("{SEED_ENV}={text:?} is not a seed: {e}"),
    }
}

/// A test's seed; prints how to replay it if the test fails while it lives.
#[derive(Debug)]
pub struct Seed {
    value: u64,
    what: String,
}

impl Seed {
    /// The given seed, else a fresh one, for the test `what`.
    pub fn take(what: &str) -> Seed {
        let value = given_seed().unwrap_or_else(fresh);
        Seed::new(value, what)
    }

    /// A seed chosen by the test (a fixed one CI runs), for `what`.
    pub fn new(value: u64, what: &str) -> Seed {
        eprintln!("{what}: seed {value} ({SEED_ENV}={value} replays it)");
        Seed {
            value,
            what: what.to_string(),
        }
    }

    /// The seed.
    pub fn value(&self) -> u64 {
        self.value
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{} failed with seed {}: replay with {SEED_ENV}={}",
                self.what, self.value, self.value
            );
        }
    }
}

/// A seed from the clock and the process id.
fn fresh() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}
