#![no_main]
//! Fuzz target: `cairn_gateway::ops::cors::fuzz_cors_rules` on arbitrary
//! bytes (a CORS configuration, then preflights evaluated against it).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::ops::cors::fuzz_cors_rules(data);
});
