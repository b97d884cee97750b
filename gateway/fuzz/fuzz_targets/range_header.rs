#![no_main]
//! Fuzz target: `cairn_gateway::range::fuzz_range` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::range::fuzz_range(data);
});
