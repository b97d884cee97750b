#![no_main]
//! Fuzz target: `cairn_gateway::signature::post_form::fuzz_post_form` on arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cairn_gateway::signature::post_form::fuzz_post_form(data);
});
