#![no_main]
//! Fuzz target: `cairn_gateway::signature::streaming::fuzz_chunked` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::signature::streaming::fuzz_chunked(data);
});
