#![no_main]
//! Fuzz target: `cairn_gateway::policy::fuzz_bucket_policy` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::policy::fuzz_bucket_policy(data);
});
