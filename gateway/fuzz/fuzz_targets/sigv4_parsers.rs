#![no_main]
//! Fuzz target: `cairn_gateway::signature::v4::fuzz_v4_parsers` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::signature::v4::fuzz_v4_parsers(data);
});
