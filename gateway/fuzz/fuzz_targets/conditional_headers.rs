#![no_main]
//! Fuzz target: `cairn_gateway::conditional::fuzz_conditional` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::conditional::fuzz_conditional(data);
});
