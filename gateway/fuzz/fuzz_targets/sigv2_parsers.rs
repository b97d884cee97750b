#![no_main]
//! Fuzz target: `cairn_gateway::signature::v2::fuzz_v2_parsers` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::signature::v2::fuzz_v2_parsers(data);
});
